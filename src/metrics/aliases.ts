import type { FormulaNode } from './formula/index.ts';
import type { Catalogue } from './catalogue.ts';
import { normalizeFilter, type Filter } from './filters.ts';

/**
 * KPIs that are one another under other names: a config `blended_cac = spend / new_customers`
 * and the built-in `cac`, or a KPI whose formula is just another KPI. A list that shows both
 * (the digest) shows the same number twice under two names.
 */

/** The formula without source positions, so the same formula written twice compares equal. */
function shape(node: FormulaNode): unknown {
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'ref':
      return node.name;
    case 'unary':
      return ['-', shape(node.operand)];
    case 'binary':
      return [node.op, shape(node.left), shape(node.right)];
    case 'call':
      return [node.fn, ...node.args.map(shape)];
  }
}

/** What a KPI computes: its formula's shape (through a KPI it merely names), filter and unit. */
function definitionOf(catalogue: Catalogue, name: string, seen = new Set<string>()): string {
  const def = catalogue.get(name);
  const compiled = catalogue.compiled(name);
  if (!def || !compiled) return JSON.stringify(['metric', name]);
  const filter = normalizeFilter(def.filter as Filter | undefined);
  if (compiled.ast.kind === 'ref' && !def.filter && !seen.has(name)) return definitionOf(catalogue, compiled.ast.name, seen.add(name));
  return JSON.stringify([shape(compiled.ast), filter, def.unit]);
}

/** `names` without the KPIs that compute what an earlier one in the list does. */
export function withoutAliases(catalogue: Catalogue, names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.filter((name) => {
    const key = definitionOf(catalogue, name);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
