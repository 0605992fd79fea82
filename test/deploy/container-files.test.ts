/**
 * docker-compose.yml and the Dockerfile, read as a deployment would: no Docker needed. What
 * each must hold, and why, is in the README (Running it in containers).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (name: string) => readFileSync(path.join(ROOT, name), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }>;
  restart?: string;
  stop_grace_period?: string;
  healthcheck?: { test?: string[] };
}
const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> };
const { app, postgres, redis } = compose.services as Record<'app' | 'postgres' | 'redis', Service>;

/** Dockerfile instructions of the last stage (the image that runs), with continuation lines joined. */
function finalStage(text: string): Array<{ op: string; args: string }> {
  const joined = text.replace(/\\\n/g, ' ');
  const all = joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
  const lastFrom = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(lastFrom);
}
const dockerfile = read('Dockerfile');
const stage = finalStage(dockerfile);
const args = (op: string) => stage.filter((i) => i.op === op).map((i) => i.args);

/** Seconds of a compose duration such as "45s", "1m30s". */
function seconds(duration: string): number {
  let total = 0;
  for (const [, n, unit] of duration.matchAll(/(\d+)(h|m|s)/g)) total += Number(n) * { h: 3600, m: 60, s: 1 }[unit as 'h' | 'm' | 's'];
  return total;
}

/** The value after `--flag` in an exec-form command, or undefined. */
const flag = (command: string[], name: string) => {
  const i = command.indexOf(name);
  return i >= 0 ? command[i + 1] : undefined;
};

describe('docker-compose.yml', () => {
  it('checks the health of each service the way it can be asked', () => {
    expect(postgres.healthcheck?.test?.join(' ')).toMatch(/^CMD(-SHELL)? pg_isready\b/);
    expect(redis.healthcheck?.test?.join(' ')).toMatch(/^CMD(-SHELL)? redis-cli ping$/);
    expect(app.healthcheck?.test?.join(' ')).toContain('/readyz');
  });

  it('starts the app once Postgres and Redis are healthy, and restarts every service unless stopped by hand', () => {
    expect(app.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    for (const service of [app, postgres, redis]) expect(service.restart).toMatch(/^(unless-stopped|always)$/);
  });

  it('gives the app longer to stop than its shutdown timeout, plus the release of running jobs', () => {
    const command = app.command!;
    expect(command.slice(0, 3)).toEqual(['node', 'dist/main.js', 'start']);
    const shutdown = Number(flag(command, '--shutdown-timeout') ?? 30);
    // The queue hands running jobs back up to 5 s after the timeout (src/jobs/queue-mode.ts).
    expect(seconds(app.stop_grace_period!)).toBeGreaterThan(shutdown + 5);
  });

  it('takes the Postgres password from .env, never from the file, and refuses to start without one', () => {
    expect(postgres.environment?.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?.+\}$/);
    expect(postgres.environment?.POSTGRES_HOST_AUTH_METHOD).toBeUndefined();
    expect(app.environment?.DATABASE_URL).toMatch(/^postgres:\/\/postgres:\$\{POSTGRES_PASSWORD(:\?[^}]*)?\}@postgres:5432\/kpi$/);
    const example = read('.env.example');
    expect(example).toMatch(/^POSTGRES_PASSWORD=$/m);
    expect(read('.gitignore').split('\n')).toContain('.env');
  });

  it('publishes the port the app listens on, to loopback only', () => {
    const port = app.environment?.KPI_PORT;
    expect((compose.services.app as { ports?: string[] }).ports).toEqual([`127.0.0.1:${port}:${port}`]);
  });
});

describe('Dockerfile', () => {
  it('builds the TypeScript in a stage of its own and runs the compiled program', () => {
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(args('COPY').some((a) => /^--from=build \/app\/dist \.\/dist$/.test(a))).toBe(true);
    expect(args('COPY').some((a) => /\bsrc\b/.test(a))).toBe(false);
    const cmd = JSON.parse(args('CMD').at(-1)!) as string[];
    expect(cmd.slice(0, 3)).toEqual(['node', 'dist/main.js', 'start']);
    expect(cmd.join(' ')).not.toMatch(/tsx|bin\/kpi\.js/);
  });

  it('exposes the port the health check asks, and checks readiness', () => {
    const port = /^KPI_PORT=(\d+)$/.exec(args('ENV').find((a) => a.startsWith('KPI_PORT='))!)![1];
    expect(args('EXPOSE')).toEqual([port]);
    const check = args('HEALTHCHECK')[0]!;
    expect(check).toMatch(/--start-period=\d+s/);
    expect(check).toContain("fetch('http://127.0.0.1:' + process.env.KPI_PORT + '/readyz')");
  });

  it('runs as the node user, with a data folder it owns for the embedded database', () => {
    const user = args('USER');
    expect(user).toEqual(['node']);
    const order = stage.map((i) => i.op);
    expect(order.indexOf('USER')).toBeGreaterThan(stage.findIndex((i) => i.op === 'RUN' && /chown node:node \/app\/data/.test(i.args)));
    expect(stage.some((i) => i.op === 'RUN' && /mkdir -p \/app\/data/.test(i.args))).toBe(true);
    expect(args('WORKDIR').at(-1)).toBe('/app');
    expect(args('VOLUME').join(' ')).toContain('/app/data');
  });

  it('installs production dependencies only in the image that runs', () => {
    expect(args('RUN').some((a) => /npm ci --omit=dev/.test(a))).toBe(true);
  });
});
