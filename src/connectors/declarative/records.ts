import { DataError } from '../../core/errors.ts';
import { moneyMetrics } from '../../core/vocabulary.ts';
import type { DateString } from '../../core/dates.ts';
import { shownValue } from '../../warehouse/index.ts';
import { fact, type Fact, type StreamInfo } from '../shared/connector.ts';
import { getPath, matches, toDate, toNumber } from '../http-json/extract.ts';
import type { MetricSpec, SourceDefinition } from './definition.ts';

/** How a definition reads one record: its date, its dimensions and its numbers. */

type Dimension = NonNullable<SourceDefinition['dimensions']['campaign']>;

/** The record's day in `zone`, or null when it has none that reads. */
export function dateOf(def: SourceDefinition, record: unknown, zone: string): string | null {
  const raw = getPath(record, def.date.path);
  if (def.date.format === 'ymd_object') {
    const o = raw as { year?: unknown; month?: unknown; day?: unknown } | null | undefined;
    if (!o || typeof o !== 'object') return null;
    const [y, m, d] = [o.year, o.month, o.day].map((v) => (typeof v === 'number' && Number.isInteger(v) ? v : Number.NaN));
    if (![y, m, d].every((n) => Number.isFinite(n))) return null;
    return toDate(`${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`, 'iso', zone);
  }
  return toDate(raw, def.date.format, zone);
}

function dimensionOf(dim: Dimension | undefined, record: unknown, what: string): string {
  if (!dim) return '';
  if ('value' in dim) return dim.value;
  const paths = Array.isArray(dim.path) ? dim.path : [dim.path];
  const path = paths.find((p) => { const v = getPath(record, p); return v !== undefined && v !== null && v !== ''; }) ?? paths[0]!;
  const found = getPath(record, path);
  if (found !== null && typeof found === 'object') throw new DataError(`field "${path}" (${what}) is ${Array.isArray(found) ? 'an array' : 'an object'}, not a text`);
  let text = String(found ?? '').trim();
  if (dim.afterLast !== undefined && text.includes(dim.afterLast)) text = text.slice(text.lastIndexOf(dim.afterLast) + dim.afterLast.length);
  if (dim.map) return Object.hasOwn(dim.map, text) ? dim.map[text]! : (dim.otherwise ?? text);
  return text;
}

/** A number at `path`; null when absent; a DataError naming the field when it is not a number. */
function numberAt(record: unknown, path: string, metric: string): number | null {
  const found = getPath(record, path);
  const value = toNumber(found);
  if (Number.isNaN(value)) {
    const got = found !== null && typeof found === 'object' ? (Array.isArray(found) ? 'array' : 'object') : typeof found;
    throw new DataError(`field "${path}" (metric ${metric}): expected number, got ${got} ${shownValue(found)}`);
  }
  return value;
}

function metricValue(metric: string, spec: MetricSpec, record: unknown): number | null {
  if (typeof spec === 'string') return numberAt(record, spec, metric);
  if (!matches(record, spec.where)) return null;
  if (spec.whereNot && Object.keys(spec.whereNot).length > 0 && matches(record, spec.whereNot)) return null;
  let value: number | null;
  if (spec.count) value = 1;
  else if (spec.sum) {
    const parts = spec.sum.map((p) => numberAt(record, p, metric));
    if (parts.every((p) => p === null)) return null;
    value = parts.reduce<number>((s, p) => s + (p ?? 0), 0);
  } else if (spec.path !== undefined) {
    const paths = Array.isArray(spec.path) ? spec.path : [spec.path];
    value = null;
    for (const p of paths) {
      value = numberAt(record, p, metric);
      if (value !== null) break;
    }
  } else value = null;
  if (value === null) return null;
  for (const p of spec.minus ?? []) value -= numberAt(record, p, metric) ?? 0;
  if (spec.scale !== undefined) value *= spec.scale;
  if (spec.atLeastZero) value = Math.max(0, value);
  return value;
}

/** The items a record stands for: itself, or each element of its `explode` array with `_parent`. */
function itemsOf(def: SourceDefinition, record: unknown): unknown[] {
  if (!def.explode) return [record];
  const inner = getPath(record, def.explode);
  if (!Array.isArray(inner)) throw new DataError(`field "${def.explode}" is ${inner === undefined ? 'missing' : shownValue(inner)}, not a list`);
  return inner.map((item) => (item !== null && typeof item === 'object' && !Array.isArray(item) ? { ...item, _parent: record } : { value: item, _parent: record }));
}

/** The facts one record holds; a DataError (quarantine) when any part of it does not read. */
export function factsOf(def: SourceDefinition, record: unknown, date: DateString, info: StreamInfo): Fact[] {
  const out: Fact[] = [];
  for (const item of itemsOf(def, record)) {
    const channel = dimensionOf(def.dimensions.channel, item, 'channel');
    const campaign = dimensionOf(def.dimensions.campaign, item, 'campaign');
    const campaignId = dimensionOf(def.dimensions.campaignId, item, 'campaign id');
    const currency = def.currency ? dimensionOf(def.currency, item, 'currency').toUpperCase() || info.currency : info.currency;
    for (const [metric, spec] of Object.entries(def.metrics)) {
      const value = metricValue(metric, spec, item);
      if (value === null) continue;
      // Only money carries a currency, as with every other connector.
      out.push(fact(date, campaign, channel, metric, value, moneyMetrics.has(metric) ? currency : null, campaignId));
    }
  }
  return out;
}
