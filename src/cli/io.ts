/** Where a command writes; tests pass buffers, the binary passes the process's streams. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export const ExitCode = {
  ok: 0,
  /** A run finished but something in it failed (a sync, a delivery). */
  failed: 1,
  /** Wrong command-line arguments. */
  usage: 2,
  /** The configuration is invalid; nothing was run. */
  config: 3,
} as const;

export function line(io: CliIo, text = ''): void {
  io.stdout.write(`${text}\n`);
}
