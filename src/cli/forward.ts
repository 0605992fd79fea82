import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../core/log.ts';
import type { DataDirLock, LockHolder } from '../warehouse/index.ts';
import type { CliIo, CommandHost } from './io.ts';

/**
 * Commands run through the process that holds the embedded database. Only one process may
 * open it (src/warehouse/data-dir-lock.ts), so while `kpi start` serves it, a `kpi sync` or
 * `kpi report` from another shell sends its command line here and `kpi start` runs it with
 * its own open database and its own sync claims, streaming the output back. The socket is
 * the user's own (mode 0600, in the data folder) and every request carries the token from
 * the lock file, which only the same user can read.
 */

export type CommandRunner = (argv: string[], io: Partial<CliIo>) => Promise<number>;

interface Request {
  token: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  isTTY: boolean;
}

type Message = { o: string } | { e: string } | { exit: number };

/** Unix sockets take paths of about 100 bytes at most; a deep data folder gets one in the temp folder. */
function socketPathFor(dataDir: string): string {
  const inside = path.join(dataDir, 'kpi.sock');
  if (Buffer.byteLength(inside) <= 100) return inside;
  return path.join(tmpdir(), `kpi-${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}.sock`);
}

/** Longest message either side reads; output is sent in pieces well below it. */
const MAX_LINE_CHARS = 1 << 20;
/** Output text per message: even escaped six times over as JSON, a piece stays below MAX_LINE_CHARS. */
const OUTPUT_PIECE_CHARS = 1 << 16;

/** Reads newline-delimited JSON from a socket; a line longer than MAX_LINE_CHARS ends it. */
function onLines(socket: net.Socket, handle: (line: string) => void, tooLong: () => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      handle(line);
    }
    if (buffered.length > MAX_LINE_CHARS) tooLong();
  });
}

/** `text` in consecutive pieces of at most `max` characters, never splitting a surrogate pair. */
function piecesOf(text: string, max: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(i + max, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Serves commands for the database `lock` holds; records the socket in the lock file. */
export async function serveCommands(options: { dataDir: string; lock: DataDirLock; host: CommandHost; run: CommandRunner; log: Logger }): Promise<{ close(): Promise<void> }> {
  const socketPath = socketPathFor(options.dataDir);
  const token = randomBytes(24).toString('hex');
  const running = new Set<AbortController>();
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let started = false;
    onLines(
      socket,
      (line) => {
        if (started) return;
        started = true;
        let req: Request;
        try {
          req = JSON.parse(line) as Request;
        } catch {
          socket.destroy();
          return;
        }
        if (typeof req.token !== 'string' || !sameToken(req.token, token) || !Array.isArray(req.argv)) {
          socket.end(`${JSON.stringify({ e: 'refused: not a request from this user\n' })}\n${JSON.stringify({ exit: 1 })}\n`);
          return;
        }
        const send = (m: Message) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`);
        };
        const abort = new AbortController();
        running.add(abort);
        // The caller pressed Ctrl-C or went away: its sync stops at the next page, as it would have at home.
        socket.on('close', () => abort.abort(new Error('the command was cancelled by its caller')));
        options.log.info({ argv: req.argv.filter((a) => !a.startsWith('--env')).slice(0, 20) }, 'running a command for another process');
        options
          .run(req.argv.map(String), {
            // A command may write megabytes at once (a long `kpi runs` table): sent in pieces.
            stdout: { write: (text: string) => piecesOf(String(text), OUTPUT_PIECE_CHARS).forEach((o) => send({ o })), isTTY: req.isTTY === true },
            stderr: { write: (text: string) => piecesOf(String(text), OUTPUT_PIECE_CHARS).forEach((e) => send({ e })) },
            env: req.env,
            cwd: req.cwd,
            host: options.host,
            signal: abort.signal,
          })
          .catch(() => 1)
          .then((code) => {
            running.delete(abort);
            send({ exit: code });
            socket.end();
          });
      },
      () => socket.destroy(),
    );
  });
  // We hold the folder's lock, so a socket file left here is a dead holder's.
  try {
    unlinkSync(socketPath);
  } catch {
    // None.
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  options.lock.advertise(socketPath, token);
  return {
    async close() {
      for (const a of running) a.abort(new Error('kpi start is stopping'));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        unlinkSync(socketPath);
      } catch {
        // Gone.
      }
    },
  };
}

/** The command a command line runs, past the options every command takes. */
function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config' || a === '--env-from') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** Commands that cannot run inside another process: they would hold the database themselves. */
const OWN_PROCESS = new Set(['start', 'demo']);

export function isForwardable(argv: readonly string[]): boolean {
  const name = commandName(argv);
  return name !== undefined && !OWN_PROCESS.has(name);
}

/**
 * Runs `argv` in the process holding the database; the exit code, or null when that process
 * takes no commands (a one-off command, an older version) or cannot be reached.
 */
export async function forwardCommand(holder: LockHolder, argv: readonly string[], io: CliIo): Promise<number | null> {
  if (!holder.socket || !holder.token) return null;
  const socket = net.connect(holder.socket);
  const connected = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('error', () => resolve(false));
  });
  if (!connected) return null;
  return new Promise<number>((resolve) => {
    let exit: number | null = null;
    onLines(
      socket,
      (line) => {
        const m = JSON.parse(line) as Message;
        if ('o' in m) io.stdout.write(m.o);
        else if ('e' in m) io.stderr.write(m.e);
        else exit = m.exit;
      },
      () => socket.destroy(),
    );
    socket.on('error', () => {});
    socket.on('close', () => {
      if (exit === null) io.stderr.write(`error: the process serving the database (pid ${holder.pid}) went away before the command finished\n`);
      resolve(exit ?? 1);
    });
    const request: Request = { token: holder.token!, argv: [...argv], cwd: io.cwd, env: Object.fromEntries(Object.entries(io.env).filter((e): e is [string, string] => typeof e[1] === 'string')), isTTY: io.stdout.isTTY === true };
    socket.write(`${JSON.stringify(request)}\n`);
  });
}
