// Starts a TypeScript entry point the way bin/kpi.js starts the CLI: tsx's module hooks
// registered through its API, then a dynamic import. `node bench/lib/tsx-entry.mjs FILE ARGS…`
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
await import(pathToFileURL(path.resolve(process.argv[2])).href);
