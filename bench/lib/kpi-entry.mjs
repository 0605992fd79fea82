// Starts an entry point the way bin/kpi.js starts the CLI: (for a TypeScript file) tsx
// registered through its API, then a dynamic import; the entry applies the V8 flags first
// thing, as src/main.ts does.
// `node bench/lib/kpi-entry.mjs FILE ARGS…`
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const entry = path.resolve(process.argv[2]);
if (entry.endsWith('.ts')) (await import('tsx/esm/api')).register();
await import(pathToFileURL(entry).href);
