import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempProject, type CliRun } from '../helpers/cli.ts';
import { testDatabaseUrlWithSchema } from '../helpers/warehouse.ts';

/** Today plus one year, as a date (UTC): the last day a date option accepts. */
function aYearFromToday(days = 0): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear() + 1, now.getUTCMonth(), now.getUTCDate() + days)).toISOString().slice(0, 10);
}
const LATEST = aYearFromToday();
const PAST_LATEST = aYearFromToday(1);

const usage = (what: string) => `error: ${what}\n(run with --help for usage)\n`;
const dateRange = `expected a date as YYYY-MM-DD from 2000-01-01 to ${LATEST}`;
const TEXT = (max: number) => `expected 1 to ${max} characters, none of them control characters`;

/** Raw C0/C1 controls and bidi overrides: none may reach the terminal. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const STACK = /\n\s+at .+:\d+:\d+/;

describe('command-line arguments outside what a user could mean', () => {
  let db: Awaited<ReturnType<typeof testDatabaseUrlWithSchema>>;
  const project = tempProject({
    'kpi.yaml': `
reporting: { currency: EUR }
connectors:
  - { name: leads, type: csv, path: exports/leads.csv, date: { column: Day }, metrics: { leads: Leads } }
`,
  });
  const { dir } = project;
  let env: NodeJS.ProcessEnv;
  const kpi = (args: string[], config = 'kpi.yaml'): Promise<CliRun> => runCli([...args, '--config', config], { cwd: dir, env });

  beforeAll(async () => {
    db = await testDatabaseUrlWithSchema();
    env = { DATABASE_URL: db.url, USER: 'ops' };
    mkdirSync(path.join(dir, 'exports'));
    writeFileSync(path.join(dir, 'exports/leads.csv'), 'Day,Leads\n2026-01-01,3\n2026-01-02,5\n');
    expect((await kpi(['migrate'])).code).toBe(0);
  });
  afterAll(async () => {
    await db.drop();
    project.cleanup();
  });

  // [argv, exact stderr]: each exits 2 before the warehouse is opened.
  const refused: Array<[string[], string]> = [
    [['alerts', 'silence', '--matcher', 'rule=x', '--for', '999999999w'], usage("option '--for <duration>' argument '999999999w' is invalid. expected a duration from 1m to 365d, such as 30m, 2h or 1d")],
    [['alerts', 'silence', '--matcher', 'rule=x', '--for', '30s'], usage("option '--for <duration>' argument '30s' is invalid. expected a duration from 1m to 365d, such as 30m, 2h or 1d")],
    [['alerts', 'silence', '--matcher', 'rule=x', '--for', 'forever'], usage("option '--for <duration>' argument 'forever' is invalid. expected a duration from 1m to 365d, such as 30m, 2h or 1d")],
    [['alerts', 'silence', '--matcher', 'rule', '--for', '1h'], usage(`option '--matcher <k=v>' argument 'rule' is invalid. expected a matcher like name=value, name!=value or name=~regex, got "rule"`)],
    [['alerts', 'silence', '--matcher', 'rule=\u0000', '--for', '1h'], usage(`option '--matcher <k=v>' argument 'rule=\\u0000' is invalid. ${TEXT(500)}`)],
    [['alerts', 'silence', '--matcher', 'rule=x', '--for', '1h', '--comment', 'x'.repeat(501)], usage(`option '--comment <text>' argument '${'x'.repeat(501)}' is invalid. ${TEXT(500)}`)],
    [['recompute', '--from', '0000-01-01'], usage(`option '--from <date>' argument '0000-01-01' is invalid. ${dateRange}`)],
    [['recompute', '--from', '2026-01-01', '--to', PAST_LATEST], usage(`option '--to <date>' argument '${PAST_LATEST}' is invalid. ${dateRange}`)],
    [['alerts', 'unsilence', '12345678901234567890'], usage("command-argument value '12345678901234567890' is invalid for argument 'id'. expected a whole number from 1 to 9007199254740991")],
    [['alerts', 'unsilence', '0'], usage("command-argument value '0' is invalid for argument 'id'. expected a whole number from 1 to 9007199254740991")],
    [['report', '--as-of', '0001-01-01'], usage(`option '--as-of <date>' argument '0001-01-01' is invalid. ${dateRange}`)],
    [['report', '--as-of', '1999-12-31'], usage(`option '--as-of <date>' argument '1999-12-31' is invalid. ${dateRange}`)],
    [['report', '--grain', 'year'], usage("option '--grain <grain>' argument 'year' is invalid. Allowed choices are day, week, month, quarter.")],
    [['digest', '--as-of', '9999-12-31'], usage(`option '--as-of <date>' argument '9999-12-31' is invalid. ${dateRange}`)],
    [['sync', 'leads', '--from', '1970-01-01'], usage(`option '--from <date>' argument '1970-01-01' is invalid. ${dateRange}`)],
    [['sync', 'lea\u001b[2Jds'], usage(`command-argument value 'lea\\u001b[2Jds' is invalid for argument 'connector'. ${TEXT(200)}`)],
    [['demo', '--as-of', PAST_LATEST], usage(`option '--as-of <date>' argument '${PAST_LATEST}' is invalid. ${dateRange}`)],
    [['runs', '--limit', '99999999999999999999'], usage("option '--limit <n>' argument '99999999999999999999' is invalid. expected a whole number from 1 to 10000")],
    [['runs', '--limit', '10001'], usage("option '--limit <n>' argument '10001' is invalid. expected a whole number from 1 to 10000")],
    [['runs', '--limit', '0x10'], usage("option '--limit <n>' argument '0x10' is invalid. expected a whole number from 1 to 10000")],
    [['runs', '--limit', ' 5'], usage("option '--limit <n>' argument ' 5' is invalid. expected a whole number from 1 to 10000")],
    [['runs', '--connector', ''], usage(`option '--connector <name>' argument '' is invalid. ${TEXT(200)}`)],
    [['start', '--shutdown-timeout', '86401'], usage("option '--shutdown-timeout <seconds>' argument '86401' is invalid. expected a whole number from 1 to 86400")],
    [['start', '--host', '1.2.3.4.5'], usage("option '--host <address>' argument '1.2.3.4.5' is invalid. expected an IP address (127.0.0.1, 0.0.0.0, ::1, ::) or a host name")],
    [['start', '--host', 'every where'], usage("option '--host <address>' argument 'every where' is invalid. expected an IP address (127.0.0.1, 0.0.0.0, ::1, ::) or a host name")],
    [['alerts', 'test-channel', 'x'.repeat(201)], usage(`command-argument value '${'x'.repeat(201)}' is invalid for argument 'name'. ${TEXT(200)}`)],
    [['digest', '--out', ''], usage(`option '--out <dir>' argument '' is invalid. ${TEXT(4096)}`)],
  ];

  it.each(refused)('kpi %j exits 2 saying the allowed range', async (argv, stderr) => {
    const res = await kpi(argv);
    expect(res).toEqual({ code: 2, stdout: '', stderr });
  });

  it('--config and --env-from refuse an empty path or control characters', async () => {
    expect(await runCli(['validate', '--config', ''], { cwd: dir, env })).toEqual({ code: 2, stdout: '', stderr: usage(`option '-c, --config <file>' argument '' is invalid. ${TEXT(4096)}`) });
    expect(await kpi(['validate', '--env-from', 'a\rb'])).toEqual({ code: 2, stdout: '', stderr: usage(`option '--env-from <file>' argument 'a\\u000db' is invalid. ${TEXT(4096)}`) });
    // An endless file is read no further than an env file could be long.
    expect(await kpi(['validate', '--env-from', '/dev/zero'])).toEqual({ code: 2, stdout: '', stderr: 'error: env file /dev/zero is larger than 1 MB; is it the right file?\n' });
  });

  it('--out and --data that cannot be written to are usage errors, not failed runs', async () => {
    expect(await kpi(['digest', '--out', 'kpi.yaml/sub'])).toEqual({ code: 2, stdout: '', stderr: 'error: --out kpi.yaml/sub: cannot write to that folder (ENOTDIR)\n' });
    expect(await kpi(['digest', '--out', 'x'.repeat(300)])).toEqual({ code: 2, stdout: '', stderr: `error: --out ${'x'.repeat(300)}: cannot write to that folder (ENAMETOOLONG)\n` });
    expect(await kpi(['demo', '--data', 'kpi.yaml'])).toEqual({ code: 2, stdout: '', stderr: 'error: --data kpi.yaml: cannot write to that folder (EEXIST)\n' });
  });

  it('accepts the ends of each range', async () => {
    expect(await kpi(['report', '--as-of', '2000-01-01'])).toMatchObject({ code: 0, stderr: '' });
    expect(await kpi(['report', '--as-of', LATEST])).toMatchObject({ code: 0, stderr: '' });
    expect(await kpi(['runs', '--limit', '10000'])).toEqual({ code: 0, stdout: 'no sync runs yet\n', stderr: '' });
    expect(await kpi(['runs', '--limit', '1', '--connector', 'leads'])).toEqual({ code: 0, stdout: 'no sync runs of leads yet\n', stderr: '' });
    const short = await kpi(['alerts', 'silence', '--matcher', 'rule=x', '--for', '1m']);
    expect(short).toMatchObject({ code: 0, stderr: '' });
    expect(short.stdout).toMatch(/^silence 1: rule=x until /);
    expect(await kpi(['alerts', 'silence', '--matcher', 'rule=x', '--for', '365d', '--comment', 'x'.repeat(500)])).toMatchObject({ code: 0, stderr: '' });
    expect(await kpi(['alerts', 'unsilence', '9007199254740991'])).toEqual({ code: 2, stdout: '', stderr: 'no active silence with id 9007199254740991\n' });
    expect(await kpi(['alerts', 'unsilence', '2'])).toEqual({ code: 0, stdout: 'silence 2 ended\n', stderr: '' });
  });

  /*
   * Each option with random text: anything (NUL, escapes, lone surrogates), numbers of any
   * size, dates of any year, durations of any unit, and the edges. Whatever gets through the
   * parser runs for real against Postgres; the answer must be 0, 2 or 3, never a database error.
   */
  const anyArgument = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 24 }),
    fc.string({ unit: fc.constantFrom(...'0123456789-:.+eExTZ wdhms'), maxLength: 14 }),
    fc.bigInt({ min: -(10n ** 22n), max: 10n ** 22n }).map(String),
    fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
    fc.tuple(fc.nat(10_000_000), fc.constantFrom('ms', 's', 'm', 'h', 'd', 'w', 'y', '')).map(([n, unit]) => `${n}${unit}`),
    fc.constantFrom('0', '-1', '1e3', '0x10', '9007199254740992', '1999-12-31', '2000-01-01', LATEST, PAST_LATEST, '2024-02-30', '\u001b]0;pwned\u0007', "1'; drop table sync_runs; --", 'a=b', 'leads', '::', 'localhost'),
  );
  /** Paths are written to: no '/' in them, so a random one stays inside the project folder. */
  const anyPath = fc.oneof(
    anyArgument.map((s) => `p-${s.replace(/[/\\]/g, '_')}`),
    fc.constantFrom('kpi.yaml/inside-a-file', 'x'.repeat(300)),
  );

  // [the option under test, argv with {} where the random value goes].
  const options: Array<[string, string[], fc.Arbitrary<string>?]> = [
    ['demo --as-of', ['demo', '--as-of', '{}', '--data', 'demo-data', '--config', 'missing.yaml']],
    ['demo --data', ['demo', '--as-of', '2026-06-30', '--data', '{}', '--config', 'missing.yaml'], anyPath],
    ['start --role', ['start', '--role', '{}', '--config', 'missing.yaml']],
    ['start --shutdown-timeout', ['start', '--shutdown-timeout', '{}', '--config', 'missing.yaml']],
    ['start --host', ['start', '--host', '{}', '--config', 'missing.yaml']],
    ['sync <connector>', ['sync', '{}']],
    ['sync --from', ['sync', 'leads', '--from', '{}']],
    ['sync --to', ['sync', 'leads', '--from', '2025-12-01', '--to', '{}']],
    ['runs --connector', ['runs', '--connector', '{}']],
    ['runs --limit', ['runs', '--limit', '{}']],
    ['recompute --from', ['recompute', '--from', '{}']],
    ['recompute --to', ['recompute', '--from', '2025-12-01', '--to', '{}']],
    ['report --grain', ['report', '--grain', '{}']],
    ['report --period', ['report', '--period', '{}']],
    ['report --as-of', ['report', '--as-of', '{}']],
    ['alerts test-channel <name>', ['alerts', 'test-channel', '{}']],
    ['alerts silence --matcher', ['alerts', 'silence', '--matcher', '{}', '--for', '1h']],
    ['alerts silence --for', ['alerts', 'silence', '--matcher', 'a=b', '--for', '{}']],
    ['alerts silence --comment', ['alerts', 'silence', '--matcher', 'a=b', '--for', '1h', '--comment', '{}']],
    ['alerts unsilence <id>', ['alerts', 'unsilence', '{}']],
    ['digest --as-of', ['digest', '--as-of', '{}']],
    ['digest --out', ['digest', '--as-of', '2026-01-05', '--out', '{}'], anyPath],
    ['--config', ['report', '--config', '{}']],
    ['--env-from', ['report', '--env-from', '{}']],
  ];

  it.each(options)('property: kpi %s with any text exits 0, 2 or 3, with no database error, stack or raw control character', async (_name, argv, values = anyArgument) => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(values, async (value) => {
        const args = argv.map((a) => (a === '{}' ? value : a));
        const res = args.includes('--config') ? await runCli(args, { cwd: dir, env }) : await kpi(args);
        seen.set(res.code, (seen.get(res.code) ?? 0) + 1);
        const said = res.stdout + res.stderr;
        expect([0, 2, 3], `exit ${res.code}: ${said.slice(0, 300)}`).toContain(res.code);
        expect(said).not.toMatch(STACK);
        expect(said).not.toMatch(RAW_CONTROL);
        if (res.code === 2) expect(res.stderr).toMatch(/^error: |^no |^unknown connector|^--from .* is after --to|^--to needs --from/);
      }),
      // Two values every option refuses, so the check is seen to be reached whatever is drawn.
      { numRuns: 40, examples: [['\u001b]0;pwned\u0007'], ['']] },
    );
    expect(seen.get(2) ?? 0).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
