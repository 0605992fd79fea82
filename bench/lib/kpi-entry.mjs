// Starts an entry point the way bin/kpi.js starts the CLI: the same V8 flags, then (for a
// TypeScript file) tsx registered through its API and a dynamic import.
// `node bench/lib/kpi-entry.mjs FILE ARGS…`
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { applyV8Flags } from '../../bin/v8-flags.js';

applyV8Flags();
const entry = path.resolve(process.argv[2]);
if (entry.endsWith('.ts')) (await import('tsx/esm/api')).register();
await import(pathToFileURL(entry).href);
