import { performance } from 'node:perf_hooks';

/** One measured figure: what was measured, against what, and whether it met its target. */
export interface Figure {
  /** Stable id, e.g. `ingest.first-load`. */
  id: string;
  /** What the figure is, in words. */
  title: string;
  /** The measurement, already formatted ("8.52 s, 117,960 rows/s"). */
  value: string;
  /** The baseline taken in the same run, formatted; absent when there is none. */
  baseline?: string;
  /** measurement / baseline, as the target reads it. */
  ratio?: number;
  /** e.g. "≤ 3× COPY"; absent in quick mode or when the issue sets none. */
  target?: string;
  /** Undefined when there is no target (quick mode, queue overhead). */
  pass?: boolean;
  /** Extra lines: what dominates, breakdowns. */
  notes?: string[];
}

export interface BenchResult {
  /** The benchmark's name: ingest, memory, recompute, alerts, queue. */
  name: string;
  /** Size actually run, in words. */
  size: string;
  figures: Figure[];
  /** Wall time of the whole benchmark, setup and data generation included. */
  totalMs: number;
  /** Of which generating data and setting up (not measured). */
  setupMs: number;
  error?: string;
  /** CPU seconds other processes (not this one, not Postgres) used while it ran: outside load. */
  outsideCpuMs?: number;
}

export interface BenchContext {
  quick: boolean;
  /** --console-facts: the console benchmark's number of facts instead of its own. */
  consoleFacts?: number;
  /** Progress lines to stderr, so stdout stays the report. */
  progress(message: string): void;
}

export function timer(): () => number {
  const t0 = performance.now();
  return () => performance.now() - t0;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = timer();
  const value = await fn();
  return { ms: t(), value };
}

const nf = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function int(n: number): string {
  return nf.format(Math.round(n));
}

export function secs(ms: number): string {
  return ms >= 100_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

export function rate(count: number, ms: number, unit: string): string {
  return `${int(count / (ms / 1000))} ${unit}/s`;
}

export function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(0)} MB`;
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`;
}

export function ratioText(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '–';
  return r < 0.1 ? `${(r * 100).toFixed(2)}%` : `${r.toFixed(2)}×`;
}

export function verdict(f: Figure): string {
  if (f.pass === undefined) return f.target ? 'n/a' : 'INFO';
  return f.pass ? 'PASS' : 'FAIL';
}

/** The one line per figure that `npm run bench` prints (and the quick test looks for). */
export function figureLine(bench: string, f: Figure): string {
  const parts = [`[${bench}] ${f.id}: ${f.value}`];
  if (f.baseline) parts.push(`baseline ${f.baseline}`);
  if (f.ratio !== undefined) parts.push(`ratio ${ratioText(f.ratio)}`);
  parts.push(f.target ? `target ${f.target}` : 'no target');
  parts.push(verdict(f));
  return parts.join(' | ');
}
