import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempProject } from '../helpers/cli.ts';

// A file long enough that a parser which goes on after the first mistake has plenty to
// misread: it used to come back as one complaint per line after the typo.
const GOOD = [
  'reporting:',
  '  currency: EUR',
  '  timezone: Europe/Berlin',
  'connectors:',
  '  - name: leads',
  '    type: csv',
  '    path: leads.csv',
  '    date: { column: Day }',
  '    metrics:',
  '      leads: Leads',
  ...Array.from({ length: 40 }, (_, i) => [`  - name: leads-${i}`, '    type: csv', `    path: leads-${i}.csv`, '    date: { column: Day }', '    metrics: { leads: Leads }']).flat(),
  'kpis:',
  '  - name: lead_rate',
  '    formula: qualified_leads / leads',
  // Forty-one files of leads would otherwise be summed (and warned about as counted twice).
  'metrics: { leads: { from: [leads] } }',
  '',
].join('\n');

const projects: Array<{ cleanup(): void }> = [];
afterAll(() => projects.forEach((p) => p.cleanup()));

async function validate(text: string) {
  const p = tempProject({ 'kpi.yaml': text });
  projects.push(p);
  const res = await runCli(['validate', '--config', 'kpi.yaml'], { cwd: p.dir });
  // Problems name the file from the process's folder, which is not the test project's.
  return { ...res, stderr: res.stderr.replaceAll(path.relative(process.cwd(), path.join(p.dir, 'kpi.yaml')), 'kpi.yaml') };
}

/** `GOOD` with line `n` (1-based) replaced. */
const withLine = (n: number, replacement: string) =>
  GOOD.split('\n')
    .map((l, i) => (i === n - 1 ? replacement : l))
    .join('\n');

describe('a YAML syntax error is reported once, located, with an excerpt', () => {
  it('the file without a typo is valid', async () => {
    expect(await validate(GOOD)).toEqual({ code: 0, stdout: 'kpi.yaml: valid (41 connectors, 1 custom KPI, 0 goals, 0 OKRs, 0 alert rules, 0 channels)\n', stderr: '' });
  });

  it('bad indentation', async () => {
    expect(await validate(withLine(6, '   type: csv'))).toEqual({
      code: 3,
      stdout: '',
      stderr: ['configuration error:', 'kpi.yaml:6:1: YAML syntax: Sequence item without - indicator', '  5 |   - name: leads', '  6 |    type: csv', '    | ^', ''].join('\n'),
    });
  });

  it('an unclosed quote', async () => {
    expect(await validate(withLine(3, '  timezone: "Europe/Berlin'))).toEqual({
      code: 3,
      stdout: '',
      stderr: ['configuration error:', 'kpi.yaml:3:13: YAML syntax: Missing closing "quote (the quote opened here runs to the end of the file)', '  2 |   currency: EUR', '  3 |   timezone: "Europe/Berlin', '    |             ^', ''].join('\n'),
    });
  });

  it('a tab in the indentation, shown as an arrow', async () => {
    expect(await validate(withLine(7, '\tpath: leads.csv'))).toEqual({
      code: 3,
      stdout: '',
      stderr: ['configuration error:', 'kpi.yaml:7:1: YAML syntax: Tabs are not allowed as indentation', '  6 |     type: csv', '  7 | →path: leads.csv', '    | ^', ''].join('\n'),
    });
  });

  it('an unclosed bracket points at the first line it swallows, after the line that opened it', async () => {
    const res = await validate(withLine(4, 'connectors: ['));
    expect(res.code).toBe(3);
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^kpi\.yaml:5:3: YAML syntax: /);
    expect(lines.slice(2)).toEqual(['  4 | connectors: [', '  5 |   - name: leads', '    |   ^']);
  });

  it('a typo on a long line keeps the caret on screen', async () => {
    const long = `  timezone: Europe/Berlin  # ${'x'.repeat(150)}`;
    const text = GOOD.replace('  timezone: Europe/Berlin', long).replace('    date: { column: Day }', `    date: { column: Day, format: ${'y'.repeat(120)} } }`);
    const res = await validate(text);
    expect(res.code).toBe(3);
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    const [, , , shown, caret] = lines;
    expect(shown!.length).toBeLessThan(120);
    expect(shown![caret!.indexOf('^')]).toBe('}');
    expect(shown!.endsWith('y } }')).toBe(true);
    expect(lines[2]).toBe('  7 |     path: leads.csv');
  });
});
