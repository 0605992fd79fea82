// The program's entry. bin/kpi.js runs it from the TypeScript sources (through tsx, for
// development and the demo); `npm run build` compiles it to dist/main.js, which production
// and the Docker image run with plain node, no compiler at start-up.
import { applyV8Flags } from './v8-flags.ts';

// Before the CLI and the pipeline are loaded (V8 reads the setting at every collection).
applyV8Flags();
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));
