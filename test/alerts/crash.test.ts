import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { deliverOutbox } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { tempProject } from '../helpers/cli.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { at, configFrom, days, outbox } from './helpers.ts';

const entry = path.resolve('test/alerts/fixtures/deliverer.ts');
const NOW = at('2026-03-03T06:00:00Z');

describe('a notifier killed in the middle of a send', () => {
  let server: HttpServer;
  let held: ServerResponse | undefined;
  let onFirst: () => void = () => {};
  let wh: TestPostgres;
  let project: { dir: string; cleanup(): void };
  const answered: number[] = [];

  beforeAll(async () => {
    server = await startHttp((res, n) => {
      if (n === 0) {
        // The first send never gets an answer: the process that made it dies first.
        held = res;
        onFirst();
        return;
      }
      answered.push(n);
      reply(res, 200, 'ok');
    });
    wh = await testPostgres();
    project = tempProject({});
  });
  afterAll(async () => {
    held?.destroy();
    await server.close();
    await wh.close();
    project.cleanup();
  });

  it('loses nothing: the claim expires and another notifier sends it, exactly once', async () => {
    const yaml = `
channels:
  slack: { type: slack, url: "${server.base}/services/T/B/crash", minIntervalMs: 0, maxRetries: 0, timeoutMs: 30000 }
alerting: { groupWait: 0, claimTimeout: 2m }
alerts:
  - name: spend_high
    series: { kpi: spend, grain: day }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [slack]
`;
    const file = path.join(project.dir, 'kpi.yaml');
    writeFileSync(file, yaml);
    const config = configFrom(yaml);
    await upsertFacts(wh.db, days({}, { '2026-03-02': { spend: 500 } }));
    const { outboxIds } = await evaluateAlerts(wh.db, config, { now: NOW });
    expect(outboxIds).toHaveLength(1);

    const requested = new Promise<void>((resolve) => (onFirst = resolve));
    const child = spawn(process.execPath, ['--import', 'tsx', entry, file, NOW.toISOString(), 'doomed'], { env: { ...process.env, DATABASE_URL: wh.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal === null ? _code : -1)));
    await requested;
    child.kill('SIGKILL');
    expect(await exited).toBe(-1);
    expect(out).toBe('delivering\n');

    const [claimed] = await outbox(wh.db);
    expect(claimed).toMatchObject({ status: 'pending', claimed_by: 'doomed', delivered_at: null });
    // Two minutes from its renewal, on the database's clock.
    const { rows } = await sql<{ left: boolean; within: boolean }>`
      select claimed_until > now() as left, claimed_until <= now() + interval '2 minutes' as within from alert_outbox`.execute(wh.db);
    expect(rows).toEqual([{ left: true, within: true }]);

    // While the dead claim holds, nobody else sends it, whatever the survivor's clock says.
    expect(await deliverOutbox(wh.db, config, { now: new Date(NOW.getTime() + 3_600_000), owner: 'survivor', log: quietLogger })).toMatchObject({ sent: 0 });
    // Two minutes pass on the database's clock.
    await sql`update alert_outbox set claimed_until = now() - interval '1 millisecond'`.execute(wh.db);
    expect(await deliverOutbox(wh.db, config, { now: new Date(NOW.getTime() + 60_000), owner: 'survivor', log: quietLogger })).toMatchObject({ sent: 1, messages: 1 });
    expect(await deliverOutbox(wh.db, config, { now: new Date(NOW.getTime() + 3_600_000), owner: 'survivor', log: quietLogger })).toMatchObject({ sent: 0 });

    expect(server.requests).toHaveLength(2);
    expect(answered).toEqual([1]);
    expect(server.requests[1]!.body).toBe(server.requests[0]!.body);
    const [row] = await outbox(wh.db);
    expect(row).toMatchObject({ status: 'sent', claimed_by: null, attempts: 1 });
  });
});
