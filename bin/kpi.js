#!/usr/bin/env node
// Runs the TypeScript sources directly, so there is no build step between a change and a run.
// Production runs the compiled program instead: `npm run build`, then `node dist/main.js`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
