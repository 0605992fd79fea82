import { chmodSync, existsSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeTerminalCode, type CliIo } from './io.ts';

/**
 * Writes one variable into an env file (the `--env-from` and docker compose `env_file` format):
 * its line is replaced where it is, or added at the end; every other line is kept as it was.
 * A new file is created readable by its owner only (0600); an existing one keeps its mode.
 * The file holds the deployment's other secrets too: it is replaced whole (a temporary file
 * renamed over it), so a write that fails half-way (a full disk, a quota) leaves it as it was,
 * and a process reading it meanwhile (`kpi start --env-from` on SIGHUP) never sees it cut short.
 */

export interface EnvFileWrite {
  created: boolean;
  /** The file's permission bits after the write. */
  mode: number;
}

/** Characters a value may have unquoted in every env-file reader we know of. */
const PLAIN = /^[A-Za-z0-9_\-./+=:@~,%]+$/;

function formatValue(name: string, value: string): string {
  if (PLAIN.test(value)) return value;
  // Single quotes: nothing inside is expanded or unescaped by dotenv readers or by Node.
  if (!/['\n\r]/.test(value)) return `'${value}'`;
  throw new Error(`the value of ${name} has a quote or a line break, which an env file cannot hold safely`);
}

/** Lines `kpi connect` wrote about `name`: the comment above its assignment. */
const ownComment = (name: string) => `# ${name}: `;

export function writeEnvVariable(file: string, name: string, value: string, comment?: string): EnvFileWrite {
  const assignment = new RegExp(`^\\s*(export\\s+)?${name}\\s*=`);
  const block = [...(comment ? [`${ownComment(name)}${comment.replace(/[\r\n]+/g, ' ')}`] : []), `${name}=${formatValue(name, value)}`];
  if (!existsSync(file)) {
    // 'wx': never follows a file another process created meanwhile; the mode is set at creation.
    try {
      writeFileSync(file, `${block.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') rmSync(file, { force: true });
      throw writeError(file, err, 'was not created');
    }
    chmodSync(file, 0o600);
    return { created: true, mode: 0o600 };
  }
  // A symlinked env file (a shared secrets file) stays a link: its target is the one replaced.
  const real = realpathSync(file);
  const lines = readFileSync(real, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const kept: string[] = [];
  let at = -1;
  let exported = false;
  for (const line of lines) {
    if (line.startsWith(ownComment(name))) continue;
    const found = assignment.exec(line);
    if (found) {
      if (at < 0) at = kept.length;
      // A file a shell sources (`. ./kpi.env`): without its `export` the token would never reach kpi.
      exported ||= found[1] !== undefined;
      continue;
    }
    kept.push(line);
  }
  if (at < 0) at = kept.length;
  if (exported) block[block.length - 1] = `export ${block.at(-1)!}`;
  kept.splice(at, 0, ...block);
  const mode = statSync(real).mode & 0o777;
  replaceWhole(real, `${kept.join('\n')}\n`, mode);
  return { created: false, mode: statSync(real).mode & 0o777 };
}

function writeError(file: string, err: unknown, outcome: string): Error {
  return new Error(`could not write ${file} (${(err as Error).message}); it ${outcome}`);
}

/** Codes for which a file cannot be renamed over, only written in place: a directory the user may not write to, a file bind-mounted into a container. */
const IN_PLACE_ONLY = new Set(['EACCES', 'EPERM', 'EBUSY', 'EXDEV']);

function replaceWhole(file: string, text: string, mode: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    // Created readable by its owner only, given the file's own mode once it holds everything.
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    chmodSync(temp, mode);
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    if (!IN_PLACE_ONLY.has((err as NodeJS.ErrnoException).code ?? '')) throw writeError(file, err, 'was left as it was');
    try {
      writeFileSync(file, text);
    } catch (again) {
      throw writeError(file, again, 'may have been cut short: check it');
    }
  }
}

export interface StoreOptions {
  envFile?: string | undefined;
  print?: boolean | undefined;
}

/**
 * Puts the token where it was asked to go: the env file, standard output (`--print`), or both.
 * Printed only with --print, and then bare, past the output layer that would scrub it.
 */
export function storeToken(io: CliIo, options: StoreOptions, variable: string, token: string, comment: string): void {
  if (options.envFile) {
    const file = path.resolve(io.cwd, options.envFile);
    const { created, mode } = writeEnvVariable(file, variable, token, comment);
    io.stdout.write(`${created ? 'Created' : 'Updated'} ${options.envFile}: ${variable} set (file mode ${mode.toString(8).padStart(4, '0')}).\n`);
    if ((mode & 0o077) !== 0) io.stderr.write(`warning: ${options.envFile} can be read by other users than its owner; chmod 600 ${options.envFile}\n`);
  }
  if (options.print) writeTerminalCode(io.stdout, `${variable}=${token}\n`);
}
