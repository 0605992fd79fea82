import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ratioText, secs, verdict, type BenchResult } from './report.ts';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  postgres: string;
  redis: string;
  postgresSettings: Record<string, string>;
  loadBefore: number[];
  loadAfter: number[];
}

/** Anything after this line in BENCHMARKS.md is written by hand and kept when the figures are rewritten. */
export const KEEP_MARKER = '<!-- Everything below this line is kept when `npm run bench` rewrites the figures above. -->';

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function renderMarkdown(results: BenchResult[], machine: Machine, started: Date, totalMs: number, command: string): string {
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push(`Written by \`${command}\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (whole run ${secs(totalMs)}). Run it again to refresh the figures; \`npm run bench -- --quick\` is the small smoke run CI does (no targets, writes nothing).`, '');
  lines.push('## How to read this', '');
  lines.push(
    '- Every figure is measured against a **baseline taken in the same run on the same machine**, and the **ratio** is what the target judges: ratios move far less than seconds between machines and between a quiet and a busy host.',
    '- **PASS/FAIL** is against the target in the issue; **INFO** figures have no target. `npm run bench` exits 1 when a target is missed and 2 when a benchmark could not run.',
    '- Each benchmark has its own database (created and dropped) and its own Redis key prefix. Data generation and setup are not in any timed figure; each benchmark says how long it spent outside the timed parts.',
    '- The notes under each figure say where the time went: CPU seconds of this Node process, of all Postgres processes (the server is local and shared, so this includes the backends of other clients) and of every other process over the measured stretch (all compete for the same cores), and statement time by kind from a kysely plugin (from compile to result, so it includes waiting for a pooled connection; summed over connections that run at the same time, so it can exceed wall time).',
    '- Outside load matters on two cores: the machine table has the load average before and after, and each benchmark says how much CPU other processes took while it ran. Figures from a busy machine are slower and their ratios noisier.',
    '',
  );
  lines.push('## Machine', '');
  lines.push('| | |', '| --- | --- |');
  lines.push(`| CPU | ${cell(machine.cpu)}, ${machine.cores} cores |`);
  lines.push(`| memory | ${machine.memoryGb.toFixed(1)} GB |`);
  lines.push(`| OS | ${cell(machine.os)} |`);
  lines.push(`| Node.js | ${machine.node} |`);
  lines.push(`| PostgreSQL | ${machine.postgres} (${Object.entries(machine.postgresSettings).map(([k, v]) => `${k} ${v}`).join(', ')}) |`);
  lines.push(`| Redis | ${machine.redis} |`);
  lines.push(`| load average (1, 5, 15 min) | before ${machine.loadBefore.map((l) => l.toFixed(2)).join(', ')}; after ${machine.loadAfter.map((l) => l.toFixed(2)).join(', ')} |`);
  lines.push('');
  lines.push('## Figures', '');
  lines.push('| benchmark | figure | measured | baseline (same run) | ratio | target | result |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    if (r.error) {
      lines.push(`| ${r.name} | – | could not run: ${cell(r.error)} | | | | ERROR |`);
      continue;
    }
    for (const f of r.figures) {
      lines.push(`| ${r.name} | ${f.id} | ${cell(f.value)} | ${cell(f.baseline ?? '–')} | ${ratioText(f.ratio)} | ${cell(f.target ?? 'none')} | **${verdict(f)}** |`);
    }
  }
  lines.push('');
  for (const r of results) {
    lines.push(`### ${r.name}`, '');
    if (r.error) {
      lines.push(`Could not run: ${r.error}`, '');
      continue;
    }
    const outside = r.outsideCpuMs === undefined ? '' : ` Other processes on the machine used ${secs(r.outsideCpuMs)} of CPU while it ran (${Math.round((r.outsideCpuMs / r.totalMs) * 100)}% of one core on average).`;
    lines.push(`Size: ${r.size}. Whole benchmark ${secs(r.totalMs)}, of which ${secs(r.setupMs)} outside the timed parts (setup, data generation, process start-up).${outside}`, '');
    for (const f of r.figures) {
      lines.push(`- **${f.id}** (${verdict(f)}): ${f.title}.`);
      for (const n of f.notes ?? []) lines.push(`  - ${n}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Writes the generated part and keeps whatever follows KEEP_MARKER in the existing file. */
export function writeBenchmarksFile(file: string, generated: string): void {
  let kept = `${KEEP_MARKER}\n`;
  if (existsSync(file)) {
    const old = readFileSync(file, 'utf8');
    const at = old.indexOf(KEEP_MARKER);
    if (at >= 0) kept = old.slice(at);
  }
  writeFileSync(file, `${generated}\n${kept}`);
}
