import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, configReferenceMarkdown, REFERENCE_END, REFERENCE_START, undescribedFields, withReference } from '../../src/config/reference.ts';
import { parseConfig } from '../../src/config/index.ts';
import { configChecks } from '../../src/config-checks.ts';
import { runCli } from '../helpers/cli.ts';
import { durationText, parseDuration } from '../../src/core/duration.ts';

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const RUN = 'out of date: run `npm run docs:config` and commit what it writes';

describe('the configuration reference', () => {
  it('README.md holds the reference the schemas give now', () => {
    const readme = read('README.md');
    // Compared whole, so a hand edit between the markers shows as drift too.
    expect(readme === withReference(readme, configReferenceMarkdown()), `README.md's configuration reference is ${RUN}`).toBe(true);
  });

  it('config/kpi.schema.json is the JSON Schema the schemas give now', () => {
    const shipped: unknown = JSON.parse(read('config/kpi.schema.json'));
    expect(JSON.stringify(shipped) === JSON.stringify(configJsonSchema()), `config/kpi.schema.json is ${RUN}`).toBe(true);
  });

  it('every field has a description', () => {
    expect(undescribedFields(), 'add .describe() to these fields in their schemas, then run `npm run docs:config`').toEqual([]);
  });

  it('lists every connector type with each of its fields, type, default and meaning', () => {
    const md = configReferenceMarkdown();
    for (const type of ['csv', 'ga4', 'google_ads', 'http_json', 'mailchimp', 'meta_ads', 'search_console', 'sendgrid']) expect(md).toContain(`#### \`${type}\`\n`);
    expect(md).toContain('| `schedule` | cron | `0 * * * *` | when it syncs:');
    expect(md).toContain('| `conversionWindowDays` | integer 1–90 | `14` | conversions are attributed back');
    expect(md).toContain('| `auth.keyJson` | text | required | `type: service_account`: ');
    // Durations are shown as they are written, not as the milliseconds they are read as.
    expect(md).toContain('| `retention.syncRuns` | duration | `180d` |');
    expect(md).toContain('| `alerts[].repeatInterval` | duration or `never` | `4h` |');
  });

  it('the README section is replaced between its markers, and their absence is an error', () => {
    const readme = `intro\n${REFERENCE_START}\nold\n${REFERENCE_END}\noutro\n`;
    expect(withReference(readme, 'new')).toBe(`intro\n${REFERENCE_START}\n\nnew\n\n${REFERENCE_END}\noutro\n`);
    expect(() => withReference('no markers', 'new')).toThrow(/config-reference:start/);
  });
});

describe('config/kpi.schema.json in an editor', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(read('config/kpi.schema.json')) as object);
  const errorsOf = (doc: unknown) => (validate(doc) ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message}`));

  it.each(['config/example.yaml', 'config/demo.yaml'])('%s names the schema on its first line and passes it, ${env:…} and all', (file) => {
    const text = read(file);
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./kpi.schema.json');
    expect(errorsOf(parse(text))).toEqual([]);
  });

  it('flags what the loader refuses: an unknown key, a wrong type, a bad id, a duration without a unit', () => {
    const example = parse(read('config/example.yaml')) as Record<string, unknown> & { connectors: Array<Record<string, unknown>> };
    expect(errorsOf({ ...example, reportng: {} }).length).toBeGreaterThan(0);
    expect(errorsOf({ reporting: { weekStart: 'friday' } }).length).toBeGreaterThan(0);
    expect(errorsOf({ jobs: { backoff: '10' } }).length).toBeGreaterThan(0);
    expect(errorsOf({ connectors: [{ name: 'mc', type: 'mailchimp', apiKey: 'no-datacenter' }] }).length).toBeGreaterThan(0);
    expect(errorsOf({ connectors: [{ name: 'mc', type: 'mailchimp', apiKey: '${env:MC_KEY}' }] })).toEqual([]);
    expect(errorsOf({ connectors: [{ name: 'mc', type: 'mailchimp', apiKey: 'abc-us6', sheduel: '* * * * *' }] }).length).toBeGreaterThan(0);
  });

  it('its defaults are the ones the loader applies', () => {
    const schema = configJsonSchema();
    const config = parseConfig('{}\n', 'empty.yaml', { env: {} });
    const props = schema.properties!;
    expect(props.reporting!.properties!.currency!.default).toBe(config.reporting.currency);
    expect(props.server!.properties!.port!.default).toBe(config.server.port);
    expect(props.jobs!.properties!.backoff!.default).toBe('10s');
    expect(config.jobs.backoff).toBe(10_000);
  });
});

describe('config/example.yaml', () => {
  it('is valid with channels, alert rules and a weekly digest report, its secrets set to placeholders', async () => {
    const env = Object.fromEntries(
      read('config/example.env')
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['SLACK_WEBHOOK_URL', 'SMTP_PASSWORD']));
    const res = await runCli(['validate', '--config', 'config/example.yaml'], { cwd: root, env });
    expect(res).toEqual({ code: 0, stderr: '', stdout: expect.stringMatching(/^config\/example\.yaml: valid \(\d+ connectors, .*[1-9]\d* alert rules, [1-9]\d* channels\)\n$/) });
    const config = parseConfig(read('config/example.yaml'), 'config/example.yaml', { env, checks: configChecks });
    expect(Object.keys(config.channels).sort()).toEqual(['ops-mail', 'slack-alerts']);
    expect(config.alerts.map((a) => a.condition.kind)).toEqual(['threshold', 'change', 'goal', 'sync_failure', 'freshness']);
    expect(config.reports).toEqual([expect.objectContaining({ name: 'weekly-digest', schedule: '0 8 * * 1', channels: ['ops-mail'], grain: 'week' })]);
  });
});

describe('durations in the reference', () => {
  it('are written in the largest unit that divides them, and read back as the same milliseconds', () => {
    const cases: Array<[number, string]> = [[0, '0'], [1_500, '1500ms'], [10_000, '10s'], [90_000, '90s'], [600_000, '10m'], [4 * 3_600_000, '4h'], [86_400_000, '1d'], [180 * 86_400_000, '180d'], [14 * 86_400_000, '2w']];
    for (const [ms, text] of cases) {
      expect(durationText(ms)).toBe(text);
      expect(parseDuration(text)).toBe(ms);
    }
  });
});
