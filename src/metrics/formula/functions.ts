/** The functions a formula may call, with how many arguments each takes. */
interface FunctionSpec {
  readonly minArgs: number;
  readonly maxArgs: number;
}

// A Map, not an object literal, so `constructor(x)` or `__proto__(x)` is simply unknown.
export const FUNCTIONS: ReadonlyMap<string, FunctionSpec> = new Map([
  ['sum', { minArgs: 1, maxArgs: 1 }],
  ['avg', { minArgs: 1, maxArgs: 1 }],
  ['abs', { minArgs: 1, maxArgs: 1 }],
  ['min', { minArgs: 2, maxArgs: Infinity }],
  ['max', { minArgs: 2, maxArgs: Infinity }],
  ['coalesce', { minArgs: 2, maxArgs: Infinity }],
  ['previous', { minArgs: 1, maxArgs: 2 }],
]);

export function describeArity(spec: FunctionSpec): string {
  const plural = (n: number): string => `${n} argument${n === 1 ? '' : 's'}`;
  if (spec.minArgs === spec.maxArgs) return `exactly ${plural(spec.minArgs)}`;
  if (spec.maxArgs === Infinity) return `at least ${plural(spec.minArgs)}`;
  return `${spec.minArgs} or ${plural(spec.maxArgs)}`;
}
