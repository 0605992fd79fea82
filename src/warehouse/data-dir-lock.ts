import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { storableText } from './storable.ts';

/**
 * The embedded database has one writer, ever. PGlite keeps a whole Postgres in the process
 * that opens it, with nothing to stop a second process from opening the same folder: two of
 * them corrupt it (rows in the table missing from its index, duplicate keys, a folder that no
 * longer opens). The folder's lock file says who holds it; a process that finds a live holder
 * does not open the database.
 *
 * The lock is a file created with link(2), which fails when the name exists, so exactly one
 * process creates it. A holder that died (SIGKILL, power loss) leaves it behind: it is stale
 * once its pid is gone (or belongs to a process started after the lock was taken), and the
 * next process takes it over under a short-lived mutex, so two processes finding the same
 * stale lock cannot both take it.
 *
 * A pid only means something inside its pid namespace: a container sharing the folder (a
 * volume) has its own, where pid 1 is another process than ours, and usually another host
 * name. So every holder also listens on a socket in the folder for as long as it lives; a
 * process on the same kernel asks that socket, whichever container either of them is in.
 */

export interface LockHolder {
  pid: number;
  /** The holder's command line, to tell the user which process it is. */
  command: string;
  host: string;
  startedAt: string;
  /** Linux: the holder process's start time (clock ticks since boot), against pid reuse. */
  procStart?: string;
  /** Linux: the running kernel (its boot id) and the holder's pid namespace; its pid can only be checked from the same two. */
  kernel?: string;
  pidNs?: string;
  /** The name, in the data folder, of a socket the holder listens on while it lives. */
  alive?: string;
  /** Where the holder takes commands for the database (a `kpi start` serving others), and the token it wants. */
  socket?: string;
  token?: string;
}

class DataDirBusyError extends Error {
  override readonly name = 'DataDirBusyError';
  readonly kind = 'busy' as const;
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by process ${holder.pid} on ${holder.host} (\`${holder.command}\`, since ${holder.startedAt}); ` +
        (holder.socket
          ? // A kpi start serving the folder: the commands that reach this message cannot run through it.
            'only one process may open it. That process runs other kpi commands for you, but not `kpi start` or `kpi demo`: stop it first, ' +
            'give the demo another folder (`kpi demo --data DIR`), or use a Postgres server (DATABASE_URL) for several processes.'
          : 'only one process may open it. Wait for that command to finish, or stop it; run `kpi start` to have one process serve the database ' +
            '(other kpi commands then run through it), or use a Postgres server (DATABASE_URL) for several processes.'),
    );
  }
}

export function isDataDirBusy(err: unknown): err is DataDirBusyError {
  return err instanceof Error && (err as { kind?: string }).kind === 'busy';
}

export interface DataDirLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** Records where this holder takes commands for the database. */
  advertise(socket: string, token: string): void;
  release(): void;
}

const LOCK_FILE = 'kpi.lock';
/** A takeover mutex older than this belongs to a process that died in the middle of one (microseconds of work). */
const TAKEOVER_STALE_MS = 10_000;

function procStartOf(pid: number): string | undefined {
  try {
    // Field 22 of /proc/PID/stat, counted after the command name, which may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Where a pid names this process: the running kernel and the pid namespace (Linux; elsewhere neither is known). */
function pidScope(): { kernel?: string; pidNs?: string } {
  const attempt = (read: () => string): string | undefined => {
    try {
      return read() || undefined;
    } catch {
      return undefined;
    }
  };
  const kernel = attempt(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  const pidNs = attempt(() => readlinkSync('/proc/self/ns/pid'));
  return { ...(kernel ? { kernel } : {}), ...(pidNs ? { pidNs } : {}) };
}

/** Whether a process listens on `socket`: true, false (nobody does any more), or null when it cannot tell. */
function listens(socket: string): Promise<boolean | null> {
  return new Promise((resolve) => {
    const conn = net.connect(socket);
    conn.setTimeout(2_000, () => {
      conn.destroy();
      resolve(null);
    });
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? false : null));
  });
}

async function isAlive(holder: LockHolder, dir: string): Promise<boolean> {
  const here = pidScope();
  if (holder.kernel && here.kernel) {
    // Another boot: of this machine (the reboot ended the holder), or of another machine
    // sharing the folder, which cannot be checked from here.
    if (holder.kernel !== here.kernel) return holder.host !== hostname();
    if (holder.alive) {
      const answered = await listens(path.join(dir, path.basename(holder.alive)));
      if (answered !== null) return answered;
    }
    // Its pid is another container's: ours names some other process, or none.
    if (holder.pidNs !== here.pidNs) return true;
  } else if (holder.host !== hostname()) {
    // A lock from another host (a shared folder) cannot be checked from here: assume it is held.
    return true;
  }
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (holder.procStart === undefined) return true;
  const now = procStartOf(holder.pid);
  return now === undefined || now === holder.procStart;
}

/** What the lock file says, or null when it names no process (unreadable, or not a holder this code wrote). */
function readHolder(file: string): LockHolder | null {
  let found: unknown;
  try {
    found = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  // `{}` or a pid of 0 or -1 (which signal a whole process group) would otherwise read as a
  // live holder for ever.
  const h = found as Partial<LockHolder> | null;
  if (typeof h !== 'object' || h === null || !Number.isSafeInteger(h.pid) || h.pid! < 1 || typeof h.host !== 'string') return null;
  return { command: '', startedAt: '', ...h } as LockHolder;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs `fn` holding the folder's takeover mutex (a directory: mkdir fails when it exists). */
function withTakeoverMutex<T>(dir: string, fn: () => T): T {
  const mutex = path.join(dir, `${LOCK_FILE}.takeover`);
  // Long enough for a mutex left by a process killed inside a takeover to become stale.
  const deadline = Date.now() + 2 * TAKEOVER_STALE_MS;
  for (;;) {
    try {
      mkdirSync(mutex);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(mutex).mtimeMs > TAKEOVER_STALE_MS) rmdirSync(mutex);
      } catch {
        // Gone meanwhile: try again.
      }
      if (Date.now() > deadline) throw new Error(`cannot take over the stale lock in ${dir}: ${mutex} stays in the way; remove it if no kpi process runs`);
      sleepSync(25);
    }
  }
  try {
    return fn();
  } finally {
    try {
      rmdirSync(mutex);
    } catch {
      // Taken for stale by a process that waited too long; what it guards is done.
    }
  }
}

/** Unix sockets take paths of about 100 bytes at most. */
const MAX_SOCKET_PATH_BYTES = 100;

/** A socket at `file` that accepts (and drops) connections while this process lives; null where the folder takes none. */
async function listenWhileAlive(file: string): Promise<net.Server | null> {
  if (Buffer.byteLength(file) > MAX_SOCKET_PATH_BYTES) return null;
  const server = net.createServer((conn) => conn.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, () => resolve());
    });
  } catch {
    // A file system without sockets (some network and VM shares): pids are checked instead.
    return null;
  }
  // It must not keep a finished command's process running.
  server.unref();
  return server;
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already.
  }
}

/** Takes the folder's lock, or throws DataDirBusyError naming the live holder. */
export async function lockDataDir(dir: string, command = process.argv.slice(1).join(' ')): Promise<DataDirLock> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const ours = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const aliveFile = `${ours}.sock`;
  const aliveServer = await listenWhileAlive(aliveFile);
  const holder: LockHolder = {
    pid: process.pid,
    command: storableText(command).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 300),
    host: hostname(),
    startedAt: new Date().toISOString(),
    ...(procStartOf(process.pid) ? { procStart: procStartOf(process.pid)! } : {}),
    ...pidScope(),
    ...(aliveServer ? { alive: path.basename(aliveFile) } : {}),
  };
  const stopListening = () => {
    aliveServer?.close();
    if (aliveServer) removeQuietly(aliveFile);
  };
  const write = (h: LockHolder) => writeFileSync(ours, `${JSON.stringify(h)}\n`, { mode: 0o600 });
  write(holder);
  try {
    for (;;) {
      try {
        linkSync(ours, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const found = readHolder(file);
      if (found && (await isAlive(found, dir))) throw new DataDirBusyError(dir, found);
      // Stale (or unreadable: a holder killed while writing it). Replace it only if it is
      // still the same one once we hold the mutex; otherwise somebody took it first.
      const before = found ? JSON.stringify(found) : null;
      withTakeoverMutex(dir, () => {
        const now = readHolder(file);
        if ((now ? JSON.stringify(now) : null) === before) {
          removeQuietly(file);
          if (found?.alive) removeQuietly(path.join(dir, path.basename(found.alive)));
        }
      });
    }
  } catch (err) {
    stopListening();
    throw err;
  } finally {
    unlinkSync(ours);
  }

  let current = holder;
  let released = false;
  const isOurs = () => {
    const now = readHolder(file);
    return now !== null && now.pid === current.pid && now.startedAt === current.startedAt;
  };
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (isOurs()) unlinkSync(file);
    } catch {
      // Already gone.
    }
    stopListening();
  };
  // A process that ends without closing the database (an uncaught error, process.exit) leaves no lock behind.
  process.on('exit', release);
  return {
    file,
    get holder() {
      return current;
    },
    advertise(socket, token) {
      if (!isOurs()) return;
      current = { ...current, socket, token };
      write(current);
      renameSync(ours, file);
    },
    release,
  };
}
