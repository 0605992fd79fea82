import { collectRefs, evaluate, type CompiledKpi, type FormulaEnv, type FormulaNode } from './formula/index.ts';
import type { Catalogue } from './catalogue.ts';
import { filterKey, intersectFilters, normalizeFilter, type NormalFilter } from './filters.ts';
import { baseMetrics, baseMetricNames } from '../core/vocabulary.ts';

/** The sums of one point (a dimension value) in the period `offset` periods back. */
export interface PointWindow {
  at(offset: number): Float64Array | undefined;
}

interface Node {
  id: number;
  kpi: string;
  group: number;
  /** Undefined for a base metric, whose value is its slot. */
  compiled: CompiledKpi | undefined;
  slot: number;
  slots: Map<string, number>;
  children: Map<string, Node>;
  /** Referenced by another KPI, so worth remembering per point. */
  shared: boolean;
  /**
   * Slots that must all hold a value for the KPI to have one. Set only when that is
   * certain (no coalesce, no previous anywhere below), so skipping is never wrong; it
   * spares evaluating email KPIs on every ad campaign, and the like.
   */
  required: Int32Array | null;
  /** Every slot read at the current period, through dependencies too. */
  reads: Int32Array;
  /** Made on first use and kept: reads the plan's current point. */
  env?: FormulaEnv;
}

const ALL_METRICS: readonly string[] = baseMetrics.map((m) => m.name);
/** The slot of metrics a plan knows have no data; no fact is ever named this. */
export const ABSENT_METRIC = '\u0000absent';

/**
 * Which sums a set of KPIs needs and how to turn them into values. A KPI's own filter
 * applies wherever it is used, so the same KPI seen from differently filtered KPIs reads
 * different filter groups: each (KPI, group) pair is a node.
 */
export class KpiPlan {
  /** The store's slots per filter group, in order; see the constructor's `present`. */
  readonly metrics: readonly string[];
  readonly groups: Array<NormalFilter | null> = [];
  readonly roots: readonly Node[];
  /** How many periods before the first evaluated one must be loaded for previous(). */
  readonly lookback: number;
  readonly #groupIndex = new Map<string, number>();
  readonly #nodes = new Map<string, Node>();
  readonly #metricIndex: Map<string, number>;
  readonly #memo = new Map<number, number | null>();
  readonly #catalogue: Catalogue;
  /** The point being evaluated: each node's env reads through it, so no closure is made per evaluation. */
  #window: PointWindow = { at: () => undefined };

  /**
   * `present`: the only metrics that can have data (recompute finds them first). The store
   * then holds a slot for each of those plus one that is never written, where every other
   * metric reads "no data": a narrower point per dimension value, and the same values.
   */
  constructor(catalogue: Catalogue, kpis: readonly string[], base: NormalFilter | null = [], present?: ReadonlySet<string>) {
    this.#catalogue = catalogue;
    if (present) {
      const kept = ALL_METRICS.filter((m) => present.has(m));
      this.metrics = [...kept, ABSENT_METRIC];
      this.#metricIndex = new Map(ALL_METRICS.map((m) => [m, present.has(m) ? kept.indexOf(m) : kept.length]));
    } else {
      this.metrics = ALL_METRICS;
      this.#metricIndex = new Map(ALL_METRICS.map((m, i) => [m, i]));
    }
    this.roots = kpis.map((kpi) => this.#node(kpi, base));
    this.lookback = lookbackOf(catalogue, kpis);
  }

  /** Base metrics some node reads, for the query's metric list. */
  neededMetrics(): string[] {
    const needed = new Set<string>();
    for (const node of this.#nodes.values()) {
      if (!node.compiled) needed.add(node.kpi);
      else for (const m of node.compiled.baseMetrics) needed.add(m);
    }
    return this.metrics.filter((m) => needed.has(m));
  }

  #group(filter: NormalFilter | null): number {
    const key = filterKey(filter);
    let index = this.#groupIndex.get(key);
    if (index === undefined) {
      index = this.groups.length;
      this.groups.push(filter);
      this.#groupIndex.set(key, index);
    }
    return index;
  }

  #slot(metric: string, group: number): number {
    return group * this.metrics.length + this.#metricIndex.get(metric)!;
  }

  #node(kpi: string, parent: NormalFilter | null): Node {
    const def = this.#catalogue.get(kpi);
    if (!def) throw new Error(`KPI '${kpi}' is not in the catalogue`);
    const filter = intersectFilters(parent, normalizeFilter(def.filter));
    const group = this.#group(filter);
    const key = `${kpi}\u0000${group}`;
    const seen = this.#nodes.get(key);
    if (seen) return seen;
    const compiled = baseMetricNames.has(kpi) ? undefined : this.#catalogue.compiled(kpi);
    const node: Node = { id: this.#nodes.size, kpi, group, compiled, slot: -1, slots: new Map(), children: new Map(), shared: false, required: null, reads: new Int32Array(0) };
    this.#nodes.set(key, node);
    if (!compiled) {
      node.slot = this.#slot(kpi, group);
      node.required = Int32Array.of(node.slot);
      node.reads = node.required;
      return node;
    }
    for (const ref of collectRefs(compiled.ast)) if (baseMetricNames.has(ref)) node.slots.set(ref, this.#slot(ref, group));
    for (const dep of compiled.kpiDeps) {
      const child = this.#node(dep, filter);
      child.shared = true;
      node.children.set(dep, child);
    }
    const reads = new Set(node.slots.values());
    for (const child of node.children.values()) for (const s of child.reads) reads.add(s);
    node.reads = Int32Array.from(reads);
    if (compiled.usesPrevious === 0 && !usesCoalesce(compiled.ast) && [...node.children.values()].every((c) => c.required !== null)) {
      const required = new Set(node.slots.values());
      for (const child of node.children.values()) for (const s of child.required!) required.add(s);
      node.required = Int32Array.from(required);
    }
    return node;
  }

  /**
   * Every root's value at one point; null where it has none: a zero denominator, or no fact
   * in the period for any metric the KPI reads. The latter keeps `coalesce(x, 0)` from
   * inventing a 0 wherever some other metric happens to have data, so a KPI's value never
   * depends on which other KPIs were computed alongside it.
   */
  valuesAt(window: PointWindow, out: Array<number | null>): void {
    this.#memo.clear();
    for (let i = 0; i < this.roots.length; i++) out[i] = this.#root(this.roots[i]!, window);
  }

  /** One root's value at one point, as valuesAt gives it. */
  valueAt(root: number, window: PointWindow): number | null {
    this.#memo.clear();
    return this.#root(this.roots[root]!, window);
  }

  #root(node: Node, window: PointWindow): number | null {
    if (!node.required) {
      const data = window.at(0);
      if (!data || !node.reads.some((s) => !Number.isNaN(data[s]!))) return null;
    }
    return this.#eval(node, window, 0);
  }

  #envOf(node: Node): FormulaEnv {
    node.env = {
      metric: (name, at) => {
        const v = this.#window.at(at)?.[node.slots.get(name)!];
        return v === undefined || Number.isNaN(v) ? null : v;
      },
      kpi: (name, at) => this.#eval(node.children.get(name)!, this.#window, at),
    };
    return node.env;
  }

  #eval(node: Node, window: PointWindow, offset: number): number | null {
    if (!node.compiled) {
      const v = window.at(offset)?.[node.slot];
      return v === undefined || Number.isNaN(v) ? null : v;
    }
    if (offset === 0 && node.required) {
      const data = window.at(0);
      if (!data) return null;
      for (const s of node.required) if (Number.isNaN(data[s]!)) return null;
    }
    // Offsets add up to at most MAX_LOOKBACK (366), so this key is unique per (node, offset).
    const memoKey = node.id * 1024 + offset;
    if (node.shared && this.#memo.has(memoKey)) return this.#memo.get(memoKey)!;
    this.#window = window;
    const value = evaluate(node.compiled, node.env ?? this.#envOf(node), offset);
    if (node.shared) this.#memo.set(memoKey, value);
    return value;
  }
}

/** How many periods before the first evaluated one previous() in these KPIs reaches back. */
export function lookbackOf(catalogue: Catalogue, kpis: readonly string[]): number {
  return Math.max(0, ...kpis.map((k) => catalogue.compiled(k)?.usesPrevious ?? 0));
}

function usesCoalesce(node: FormulaNode): boolean {
  switch (node.kind) {
    case 'number':
    case 'ref':
      return false;
    case 'unary':
      return usesCoalesce(node.operand);
    case 'binary':
      return usesCoalesce(node.left) || usesCoalesce(node.right);
    case 'call':
      return node.fn === 'coalesce' || node.args.some(usesCoalesce);
  }
}
