// Makes sure the Postgres and Redis that tests and benchmarks need are reachable: starts
// local ones where this machine has them installed, otherwise says exactly what is missing.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';

function reachable(host, port, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function hostPort(url, defaultPort) {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) };
}

function tryRun(cmd) {
  try {
    execSync(cmd, { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

async function waitFor(host, port, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await reachable(host, port)) return true;
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

function isLocal(host) {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}

export async function ensureServices() {
  const pgUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const missing = [];

  const pg = hostPort(pgUrl, 5432);
  if (!(await reachable(pg.host, pg.port))) {
    if (isLocal(pg.host) && existsSync('/etc/postgresql')) {
      for (const version of readdirSync('/etc/postgresql')) tryRun(`pg_ctlcluster --skip-systemctl-redirect ${version} main start`);
    }
    if (!(await waitFor(pg.host, pg.port, 15_000))) {
      missing.push(`PostgreSQL at ${pg.host}:${pg.port} (start it with \`docker compose up -d postgres\`, or point TEST_DATABASE_URL at a server where user postgres may create databases)`);
    }
  }

  const redis = hostPort(redisUrl, 6379);
  if (!(await reachable(redis.host, redis.port))) {
    if (isLocal(redis.host) && tryRun('command -v redis-server')) {
      tryRun(`redis-server --daemonize yes --bind 127.0.0.1 --port ${redis.port} --save "" --appendonly no --maxmemory-policy noeviction`);
    }
    if (!(await waitFor(redis.host, redis.port, 10_000))) {
      missing.push(`Redis at ${redis.host}:${redis.port} (start it with \`docker compose up -d redis\`, or point TEST_REDIS_URL at one)`);
    }
  }

  if (missing.length > 0) {
    process.stderr.write(`The tests need services that are not reachable:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    process.exit(1);
  }
}
