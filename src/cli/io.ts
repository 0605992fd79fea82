import { redactSecrets } from '../core/secrets.ts';
import type { SyncGate } from '../jobs/gate.ts';
import type { Warehouse } from '../warehouse/index.ts';

/** What a command run for another process (src/cli/forward.ts) borrows from the one that runs it. */
export interface CommandHost {
  warehouse: Warehouse;
  gate: SyncGate;
}

/** A stream a command writes to. */
export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Where a command writes; tests pass buffers, the binary passes the process's streams. */
export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Set when the command runs inside the process that holds the embedded database (src/cli/forward.ts). */
  host?: CommandHost;
  /** Aborted when whoever asked for the command gives up on it. */
  signal?: AbortSignal;
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

/**
 * Characters a terminal obeys rather than shows: C0 controls, DEL, C1 controls (U+009B is a
 * one-character CSI on some terminals) and the bidi marks, embeddings, overrides and isolates
 * that make text read differently from what it is. A campaign name or a source's error text
 * with one of them could retitle the window, clear the screen, overwrite a line with `\r` or
 * paint "succeeded" green.
 */
const CONTROL = '\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
const CONTROL_KEEPING_LINES = new RegExp(`[${CONTROL}]`, 'g');
const CONTROL_OR_LINE_BREAK = new RegExp(`[${CONTROL}\\t\\n]`, 'g');
const ANY_CONTROL = new RegExp(`[${CONTROL}]`);

// `\u001b` rather than deleting it: a reader sees that something was there, and inside a JSON
// string it is the escape of the very same character, so `--json` output stays valid JSON.
const visible = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with every control character shown as `\uXXXX`; newlines and tabs are kept. */
function printable(text: string): string {
  return text.replace(CONTROL_KEEPING_LINES, visible);
}

/** For one cell or field: newlines and tabs are shown too, so a value cannot fake a row. */
export function printableField(text: string): string {
  return text.replace(CONTROL_OR_LINE_BREAK, visible);
}

export function hasControlCharacters(text: string): boolean {
  return ANY_CONTROL.test(text);
}

const RAW = Symbol('the stream behind a printable output');
type PrintableOutput = Output & { [RAW]?: Output };

/**
 * The CLI's output layer: everything a command prints passes through `printable`, whoever
 * wrote it (a table, an error, a log line, commander's usage text), and is scrubbed of secrets
 * first, as a Slack message or an email is: data can quote one (a source can name a campaign
 * after the key it was sent). Only the CLI's own terminal codes bypass it, through
 * `writeTerminalCode`.
 */
export function printableIo(io: CliIo): CliIo {
  const wrap = (out: Output): PrintableOutput => ({ write: (text: string) => out.write(printable(redactSecrets(text))), isTTY: out.isTTY, [RAW]: out });
  return { ...io, stdout: wrap(io.stdout), stderr: wrap(io.stderr) };
}

/** A cursor movement or erase the CLI itself means (the progress bar), written as it is. */
export function writeTerminalCode(out: Output, code: string): void {
  ((out as PrintableOutput)[RAW] ?? out).write(code);
}

export function line(io: CliIo, text = ''): void {
  io.stdout.write(`${text}\n`);
}
