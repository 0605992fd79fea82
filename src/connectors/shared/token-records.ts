import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * When each credential `kpi connect` obtained was obtained, and when it stops working if its
 * source said or its kind implies it: a refresh token of a Google OAuth client whose consent
 * screen is in Testing lasts 7 days, and nothing in Google's answers says so. Kept in
 * `<dataDir>/credentials.json`, keyed by a fingerprint of the token (never the token), so the
 * `token_expiry` rule finds the record of the token the config holds now, and a token put
 * there by hand simply has none.
 */

export const TOKEN_RECORDS_FILE = 'credentials.json';
/** Google's limit for refresh tokens of an OAuth client in Testing. */
export const GOOGLE_TESTING_REFRESH_TOKEN_DAYS = 7;

export interface TokenRecord {
  source: 'google' | 'meta';
  /** The environment variable the token was written to. */
  variable: string;
  obtainedAt: string;
  /** When it stops working; null when nothing says it will. */
  expiresAt: string | null;
  /** Why it expires then, for messages: "the OAuth consent screen is in Testing". */
  reason?: string;
}

interface RecordsFile {
  version: 1;
  tokens: Record<string, TokenRecord>;
}

/** A short, one-way fingerprint: enough to tell tokens apart, useless to anyone who reads it. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 24);
}

function read(file: string): RecordsFile {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<RecordsFile>;
    if (parsed && typeof parsed.tokens === 'object' && parsed.tokens !== null) return { version: 1, tokens: parsed.tokens };
  } catch {
    // Missing or unreadable: no records (a broken file is rewritten whole by the next record).
  }
  return { version: 1, tokens: {} };
}

/** Records `token`, dropping any other record of the same variable (the token it replaces). */
export function recordToken(dataDir: string, token: string, record: TokenRecord): string {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, TOKEN_RECORDS_FILE);
  const records = read(file);
  for (const [key, r] of Object.entries(records.tokens)) if (r.variable === record.variable && r.source === record.source) delete records.tokens[key];
  records.tokens[tokenFingerprint(token)] = record;
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(records, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
  return file;
}

export function findTokenRecord(dataDir: string, token: string): TokenRecord | undefined {
  return read(path.join(dataDir, TOKEN_RECORDS_FILE)).tokens[tokenFingerprint(token)];
}
