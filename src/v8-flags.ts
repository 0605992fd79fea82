// V8 settings for every kpi process; src/main.ts applies them before it loads the CLI.
import { setFlagsFromString } from 'node:v8';

/**
 * After each full collection V8 lets the old generation grow to up to four times what survived
 * it whenever its heap limit is 2 GB or more (node's default on a machine with about 8 GB of
 * memory or more), and to at most twice below that. A sync keeps about 40 MB alive, so under
 * the default some 120 MB of dead objects piled up in RSS before each collection. Twice is
 * V8's own choice for smaller limits. Unlike --max-old-space-size it caps nothing: a large
 * recompute still gets all the heap it needs and collects a little more often (BENCHMARKS.md,
 * Memory). V8 reads it at every collection, so setting it at run time takes effect; a value
 * given on node's command line or in NODE_OPTIONS wins.
 */
export const HEAP_GROWING_PERCENT = 100;

export function applyV8Flags(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): void {
  if (!/--heap[-_]growing[-_]percent\b/.test(`${execArgv.join(' ')} ${nodeOptions}`)) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
