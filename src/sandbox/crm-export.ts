import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Dataset } from './dataset.ts';
import { Rng } from './random.ts';

const SOURCES = ['paid_search', 'paid_social', 'organic_search', 'email', 'referral'] as const;
const BASE_LEADS: Record<(typeof SOURCES)[number], number> = { paid_search: 30, paid_social: 22, organic_search: 24, email: 9, referral: 6 };

interface CrmRow {
  date: string;
  source: string;
  leads: number;
  qualified: number;
}

/** Leads and qualified leads per day and source, as a CRM would export them; seeded like the rest. */
function crmRows(dataset: Dataset): CrmRow[] {
  const rows: CrmRow[] = [];
  for (const date of dataset.dates) {
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    const weekend = weekday === 0 || weekday === 6 ? 0.45 : 1;
    for (const source of SOURCES) {
      const r = new Rng(dataset.seed, 'crm', date, source);
      const leads = r.poisson(BASE_LEADS[source] * weekend);
      let qualified = 0;
      for (let i = 0; i < leads; i++) if (r.next() < 0.38) qualified++;
      rows.push({ date, source, leads, qualified });
    }
  }
  return rows;
}

/**
 * Writes one file a month in a European format (dd.MM.yyyy, ';' separated), the way CRM
 * exports usually arrive; returns the file paths.
 */
export function writeCrmExport(dataset: Dataset, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const byMonth = new Map<string, CrmRow[]>();
  for (const row of crmRows(dataset)) {
    const month = row.date.slice(0, 7);
    byMonth.set(month, [...(byMonth.get(month) ?? []), row]);
  }
  const files: string[] = [];
  for (const [month, rows] of byMonth) {
    const lines = ['Day;Source;Leads;Qualified', ...rows.map((r) => `${r.date.slice(8, 10)}.${r.date.slice(5, 7)}.${r.date.slice(0, 4)};${r.source};${r.leads};${r.qualified}`)];
    const file = path.join(dir, `crm-leads-${month}.csv`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    files.push(file);
  }
  return files;
}
