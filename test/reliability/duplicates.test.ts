import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { addDays, todayIn } from '../../src/core/dates.ts';
import { notificationId } from '../../src/alerts/index.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { report, scriptedYaml, secretScanCase, secretValue, sleep, spawnWorker, startSlackReceiver, stopAll, waitFor, workDir, type Proc, type SlackReceiver } from './helpers.ts';

const CONNECTORS = Array.from({ length: 10 }, (_, i) => `dup-${i}`);
const RUN_MS = 24_000;
const FLIP_MS = 5_000;
const TUNING = { lockDurationMs: 5_000, stalledIntervalMs: 5_000, gateTtlMs: 15_000, backoffMs: 200, busyDelayMs: 300 };

describe('duplicate work: three scheduler and three worker processes for ten connectors', () => {
  const wd = workDir('dup');
  const prefix = `${inject('redisPrefix')}-dup`;
  const secrets = { SMTP_PASS: secretValue('smtp'), SLACK_URL: '' };
  const mails: Array<{ id: string; raw: string }> = [];
  let smtp: SMTPServer;
  let hook: SlackReceiver;
  let wh: TestPostgres;
  const procs: Proc[] = [];
  let sync: Queue;
  let steps: Queue[] = [];

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: false,
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth: (auth, _session, cb) => (auth.password === secrets.SMTP_PASS ? cb(null, { user: auth.username }) : cb(new Error('bad password'))),
      onData(stream, _session, cb) {
        let raw = '';
        stream.on('data', (c: Buffer) => (raw += String(c)));
        stream.on('end', () => {
          mails.push({ id: /^X-KPI-Alert-Id:\s*(\S+)/im.exec(raw)?.[1] ?? '', raw });
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    hook = await startSlackReceiver();
    secrets.SLACK_URL = hook.url(`/services/T0DUP/B0DUP/${secretValue('hook')}`);
    wh = await testPostgres();
    sync = new Queue('sync', { connection: { url: inject('redisUrl') }, prefix });
    steps = [sync, ...['recompute', 'evaluate', 'notify'].map((q) => new Queue(q, { connection: { url: inject('redisUrl') }, prefix }))];
  });

  afterAll(async () => {
    await stopAll(procs, 'SIGKILL');
    await Promise.all(steps.map((q) => q.close()));
    await wh?.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await hook?.close();
    wd.cleanup();
  });

  it(`each (connector, tick) runs once and each alert notification is sent once, over ${RUN_MS / 1000} s of one-second ticks`, async () => {
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    const yaml = scriptedYaml({
      prefix,
      connectors: CONNECTORS.map((name) => ({ name, schedule: '* * * * * *', startDate: addDays(todayIn('UTC'), -2) })),
      extra: [
        'channels:',
        '  ops: { type: slack, url: "${env:SLACK_URL}", minIntervalMs: 0 }',
        `  mail: { type: email, host: 127.0.0.1, port: ${smtpPort}, secure: false, user: kpi, pass: "\${env:SMTP_PASS}", from: kpi@example.com, to: [ops@example.com] }`,
        'alerting: { groupWait: 0, evaluationInterval: 1s }',
        'alerts:',
        // Today's clicks flip between 1000 and 10 every few seconds: firing, resolved, firing…
        // Today is never complete, so the rule opts in to partial data to judge it.
        '  - { name: clicks-high, series: { kpi: clicks, grain: day, dimension: connector, period: current }, condition: { kind: threshold, op: above, threshold: 500 }, channels: [ops, mail], repeatInterval: never, partialData: true }',
      ].join('\n'),
    });
    const file = wd.file('kpi.yaml', yaml);
    const env = (role: string) => ({
      DATABASE_URL: wh.url,
      REDIS_URL: inject('redisUrl'),
      ROLE: role,
      SOURCE: JSON.stringify({ flipTodayMs: FLIP_MS }),
      TUNING: JSON.stringify(TUNING),
      SLACK_URL: secrets.SLACK_URL,
      SMTP_PASS: secrets.SMTP_PASS,
    });
    const spawn = (role: string, i: number) => {
      const name = `${role}-${i}`;
      const p = spawnWorker(file, { ...env(role), LOG_FILE: wd.path(`${name}.log`) }, { name, outFile: wd.path(`${name}.out`) });
      procs.push(p);
      return p;
    };
    for (let i = 1; i <= 3; i++) spawn('scheduler', i);
    for (let i = 1; i <= 3; i++) spawn('worker', i);
    await Promise.all(procs.map((p) => p.ready));
    const t0 = Date.now();
    await sleep(RUN_MS);

    // Schedulers first (no new ticks), then let the workers drain the queues and the outbox.
    await stopAll(procs.filter((p) => p.name.startsWith('scheduler')));
    const scheduleEnd = Date.now();
    // Workers put each tick's successor in place as they take it; without the schedulers'
    // records no further tick comes, and what is queued drains.
    for (const name of CONNECTORS) await sync.removeJobScheduler(name);
    // Drained: no job left in any step's queue and no outbox row pending, seen twice in a row
    // (a chain's last step may add the next job or outbox rows between two looks). How long it
    // takes depends on the machine: the deadline is a hang detector, not a speed check.
    const idle = async () => {
      const counts = await Promise.all(steps.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')));
      const pending = await wh.db.selectFrom('alert_outbox').select('id').where('status', '=', 'pending').execute();
      return counts.every((c) => Object.values(c).every((n) => n === 0)) && pending.length === 0;
    };
    let idleBefore = false;
    await waitFor(async () => {
      const now = await idle();
      const both = now && idleBefore;
      idleBefore = now;
      return both;
    }, { timeoutMs: 240_000, what: 'the workers to drain every queue and the outbox', everyMs: 500 });
    await stopAll(procs);
    expect(procs.map((p) => p.child.exitCode)).toEqual(procs.map(() => 0));

    // (connector, tick): each ran once, or was skipped because the connector was still syncing.
    const runs = await wh.db.selectFrom('sync_runs').select(['connector', 'job_id', 'status', 'started_at']).execute();
    const perJob = new Map<string, number>();
    const takenAt = new Map<string, number>();
    for (const r of runs) {
      perJob.set(r.job_id!, (perJob.get(r.job_id!) ?? 0) + 1);
      takenAt.set(r.job_id!, Math.min(takenAt.get(r.job_id!) ?? Infinity, new Date(r.started_at).getTime()));
    }
    const skipped = new Set<string>();
    for (const p of procs) {
      for (const line of readFileSync(wd.path(`${p.name}.log`), 'utf8').split('\n')) {
        if (!line.includes('tick skipped')) continue;
        const l = JSON.parse(line) as { jobId: string; time: number };
        skipped.add(l.jobId);
        takenAt.set(l.jobId, l.time);
      }
    }
    const twice = [...perJob].filter(([, n]) => n > 1).map(([id]) => id);
    const bothRanAndSkipped = [...skipped].filter((id) => perJob.has(id));
    // A tick missing between two that ran is a job lost, unless its predecessor was taken
    // only once it was due: BullMQ puts a scheduler's next tick in place when a worker takes
    // the current one, so a tick taken late coalesces the next into itself (it reads up to
    // today anyway). That happens when the machine starves the workers, and is bounded below.
    const gaps: string[] = [];
    const coalesced: string[] = [];
    let ticks = 0;
    for (const name of CONNECTORS) {
      const millis = [...new Set([...perJob.keys(), ...skipped].filter((id) => id.startsWith(`repeat:${name}:`)).map((id) => Number(id.split(':')[2])))].sort((a, b) => a - b);
      ticks += millis.length;
      for (let i = 1; i < millis.length; i++) {
        const before = millis[i - 1]!;
        for (let at = before + 1_000; at < millis[i]!; at += 1_000) {
          const late = (takenAt.get(`repeat:${name}:${before}`) ?? 0) >= at - 250;
          (late ? coalesced : gaps).push(`${name} ${at}`);
        }
      }
    }
    const processedBy = new Map<string, number>();
    for (const p of procs.filter((x) => x.name.startsWith('worker'))) processedBy.set(p.name, (readFileSync(wd.path(`${p.name}.log`), 'utf8').match(/"msg":"sync succeeded"/g) ?? []).length);

    // Notifications: every outbox row sent exactly once, in exactly one message per channel.
    const outbox = await wh.db.selectFrom('alert_outbox').select(['id', 'channel', 'status', 'event']).execute();
    const mailRows = outbox.filter((r) => r.channel === 'mail');
    // The header is the notification id: the outbox ids themselves, or for more than six
    // "first-last-hash", resolved here against the mail rows in that id range.
    const unresolved: string[] = [];
    const idsInMail = mails.flatMap((m) => {
      const parts = m.id.split('-');
      if (parts.every((p) => /^\d+$/.test(p))) return parts.map(Number);
      const [first, last] = parts.map(Number) as [number, number];
      const members = mailRows.map((r) => Number(r.id)).filter((id) => id >= first && id <= last);
      if (notificationId(members) !== m.id) unresolved.push(m.id);
      return members;
    });
    const mailIdCounts = new Map<number, number>();
    for (const id of idsInMail) mailIdCounts.set(id, (mailIdCounts.get(id) ?? 0) + 1);
    const sentMailRows = mailRows.filter((r) => r.status === 'sent').map((r) => Number(r.id)).sort((a, b) => a - b);
    const duplicateMails = mails.length - new Set(mails.map((m) => m.id)).size;
    const duplicatePosts = hook.posts.length - new Set(hook.posts).size;
    const slackSent = outbox.filter((r) => r.channel === 'ops' && r.status === 'sent').length;
    const transitions = await wh.db.selectFrom('alert_transitions').select('id').execute();

    report(
      `3 scheduler + 3 worker processes, ${CONNECTORS.length} connectors ticking every second for ${((scheduleEnd - t0) / 1000).toFixed(0)} s; today's numbers flipping every ${FLIP_MS / 1000} s so an alert fires and resolves per connector; email (with the outbox ids in X-KPI-Alert-Id) and Slack`,
      `${ticks} ticks, ${runs.length} runs: ${twice.length} ran twice, ${skipped.size} skipped as busy, ${coalesced.length} coalesced into a late predecessor, ${gaps.length} lost; work spread ${[...processedBy.values()].join('/')} over the workers; ${transitions.length} alert transitions → ${mailRows.length} mail rows, ${sentMailRows.length} sent in ${mails.length} emails (${duplicateMails} repeated), ${slackSent} Slack rows sent in ${hook.posts.length} posts (${duplicatePosts} repeated)`,
    );
    expect(twice).toEqual([]);
    expect(bothRanAndSkipped).toEqual([]);
    expect(gaps).toEqual([]);
    // A starved machine coalesces more ticks into late predecessors (reported above); every
    // second of the run is still covered by a tick that ran, was skipped as busy, or coalesced.
    expect(ticks + coalesced.length).toBeGreaterThanOrEqual(CONNECTORS.length * 15);
    expect(runs.filter((r) => r.status !== 'succeeded')).toEqual([]);
    expect(mailRows.length).toBeGreaterThanOrEqual(CONNECTORS.length * 2);
    expect(mailRows.filter((r) => r.status !== 'sent')).toEqual([]);
    expect([...mailIdCounts.values()].filter((n) => n > 1)).toEqual([]);
    expect([...mailIdCounts.keys()].sort((a, b) => a - b)).toEqual(sentMailRows);
    expect(unresolved).toEqual([]);
    expect(duplicateMails).toBe(0);
    expect(duplicatePosts).toBe(0);
    expect(outbox.filter((r) => r.channel === 'ops' && r.status !== 'sent')).toEqual([]);
  }, 360_000);

  it('leaves no configured secret in the six processes\' logs and output, the database, Redis or the messages', async () => {
    const findings = await secretScanCase('the duplicate-work run', {
      secrets,
      files: procs.flatMap((p) => [wd.path(`${p.name}.log`), wd.path(`${p.name}.out`)]),
      texts: { 'emails sent': mails.map((m) => m.raw).join('\n'), 'Slack payloads': hook.posts.join('\n') },
      databases: [wh.url],
      redis: [{ url: inject('redisUrl'), prefix }],
    });
    expect(findings).toEqual([]);
  }, 60_000);
});
