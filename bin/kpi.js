#!/usr/bin/env node
// Runs the TypeScript sources directly, so there is no build step between a change and a run.
import { register } from 'tsx/esm/api';
import { applyV8Flags } from './v8-flags.js';

applyV8Flags();
register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
