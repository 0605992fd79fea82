import { createHash } from 'node:crypto';
import { redactSecrets } from '../core/secrets.ts';
import type { Config } from './loader.ts';

/**
 * What a loaded configuration holds, by name, each item with a fingerprint: what a running
 * process reports (`/config`, `/readyz`) and what `kpi validate --against-running` compares a
 * file with. Fingerprints are taken after secrets are scrubbed, so no secret can be guessed
 * from one and a rotated secret behind the same `${env:…}` is no change.
 */
export interface ConfigSummary {
  /** Fingerprint of the whole summary: equal versions, equal configurations. */
  version: string;
  /** Section → item name → fingerprint. */
  sections: Record<SectionName, Record<string, string>>;
}

export const SECTIONS = ['connectors', 'kpis', 'goals', 'okrs', 'alerts', 'channels', 'reports', 'settings'] as const;
export type SectionName = (typeof SECTIONS)[number];

/** How each section is called where a person reads it. */
export const SECTION_TITLES: Record<SectionName, string> = {
  connectors: 'connectors',
  kpis: 'KPIs',
  goals: 'goals',
  okrs: 'OKRs',
  alerts: 'alert rules',
  channels: 'channels',
  reports: 'reports',
  settings: 'other settings',
};

/** JSON with its keys sorted, so equal values give equal text whatever order they were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function fingerprint(value: unknown): string {
  return createHash('sha256').update(redactSecrets(canonical(value))).digest('hex').slice(0, 12);
}

function byName<T>(items: readonly T[], nameOf: (item: T) => string): Record<string, string> {
  return Object.fromEntries(items.map((item) => [nameOf(item), fingerprint(item)]));
}

/** Not part of any item: where the file is, and what the checks found. */
const NOT_SETTINGS = new Set(['connectors', 'kpis', 'goals', 'okrs', 'alerts', 'channels', 'reports', 'digest', 'file', 'configDir', 'warnings']);

export function configSummary(config: Config): ConfigSummary {
  const settings = Object.fromEntries(
    Object.entries(config)
      .filter(([key]) => !NOT_SETTINGS.has(key))
      .map(([key, value]) => [key, fingerprint(value)]),
  );
  const sections: ConfigSummary['sections'] = {
    connectors: byName(config.connectors, (c) => c.name),
    kpis: byName(config.kpis, (k) => k.name),
    goals: byName(config.goals, (g) => g.name),
    okrs: byName(config.okrs, (o) => o.name),
    alerts: byName(config.alerts, (a) => a.name),
    channels: Object.fromEntries(Object.entries(config.channels).map(([name, channel]) => [name, fingerprint(channel)])),
    reports: byName(config.reports, (r) => r.name),
    settings,
  };
  return { version: fingerprint(sections), sections };
}

export interface SectionDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export type ConfigDiff = Record<SectionName, SectionDiff>;

/** What `next` adds, removes and changes, section by section, against `running`. */
export function diffSummaries(running: Pick<ConfigSummary, 'sections'>, next: Pick<ConfigSummary, 'sections'>): ConfigDiff {
  const out = {} as ConfigDiff;
  for (const section of SECTIONS) {
    const before = running.sections[section] ?? {};
    const after = next.sections[section] ?? {};
    out[section] = {
      added: Object.keys(after).filter((k) => !(k in before)).sort(),
      removed: Object.keys(before).filter((k) => !(k in after)).sort(),
      changed: Object.keys(after).filter((k) => k in before && before[k] !== after[k]).sort(),
    };
  }
  return out;
}

export function isEmptyDiff(diff: ConfigDiff): boolean {
  return SECTIONS.every((s) => diff[s].added.length + diff[s].removed.length + diff[s].changed.length === 0);
}

/** One line per section that differs: `connectors: + delta; - beta; ~ alpha`. */
export function formatDiff(diff: ConfigDiff): string[] {
  return SECTIONS.flatMap((s) => {
    const d = diff[s];
    const parts = [d.added.length ? `+ ${d.added.join(', ')}` : '', d.removed.length ? `- ${d.removed.join(', ')}` : '', d.changed.length ? `~ ${d.changed.join(', ')}` : ''].filter(Boolean);
    return parts.length ? [`${SECTION_TITLES[s]}: ${parts.join('; ')}`] : [];
  });
}
