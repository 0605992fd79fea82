import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Who may see and who may change what the console shows. Reading is open on a loopback
 * address (as /metrics is: the host's operators), and needs a sign-in anywhere else; the one
 * page that writes (silences) needs a sign-in always. A sign-in is the server.dashboard
 * credentials or server.token, as a form posted once (a session cookie after that), a Basic
 * auth header (the credentials) or a Bearer one (the token).
 *
 * The session is a signed cookie, not a row anywhere: every replica behind a load balancer
 * accepts it, and changing the password ends every session, as the key is derived from it.
 */

export interface ConsoleCredentials {
  user: string;
  password: string;
}

export const SESSION_COOKIE = 'kpi_console';
/** The name a sign-in with server.token goes by. */
export const TOKEN_USER = 'token';
const SESSION_HOURS = 12;

/** 127.0.0.0/8, ::1 and localhost: only this host's own users reach them. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '::ffff:127.0.0.1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** Equal, in a time that tells nothing of either: digests of one length, so not even the password's length shows. */
function same(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export function credentialsMatch(credentials: ConsoleCredentials, user: string, password: string): boolean {
  // Both compared, always, so the answer takes as long whichever one is wrong.
  return [same(user, credentials.user), same(password, credentials.password)].every(Boolean);
}

function keyOf(credentials: ConsoleCredentials): Buffer {
  return createHmac('sha256', credentials.password).update(`kpi-console-session\u0000${credentials.user}`).digest();
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url');
}

/** The cookie's value for a new session of `user`. */
export function newSession(credentials: ConsoleCredentials, now: Date): { value: string; maxAgeSeconds: number } {
  const expires = now.getTime() + SESSION_HOURS * 3_600_000;
  const body = `${Buffer.from(credentials.user).toString('base64url')}.${expires}`;
  return { value: `${body}.${mac(keyOf(credentials), body)}`, maxAgeSeconds: SESSION_HOURS * 3600 };
}

/** The signed-in user of a session cookie, or null when it is not one of ours, or has expired. */
export function sessionUser(credentials: ConsoleCredentials, value: string | undefined, now: Date): string | null {
  if (!value) return null;
  const parts = value.split('.');
  if (parts.length !== 3) return null;
  const [user64, expires, signature] = parts as [string, string, string];
  if (!same(signature, mac(keyOf(credentials), `${user64}.${expires}`))) return null;
  if (!/^\d+$/.test(expires) || Number(expires) <= now.getTime()) return null;
  const user = Buffer.from(user64, 'base64url').toString();
  return user === credentials.user ? user : null;
}

/** The token a session's forms carry (double submit, bound to the session): a page of another site cannot read it. */
export function csrfToken(credentials: ConsoleCredentials, session: string): string {
  return mac(keyOf(credentials), `csrf\u0000${session}`);
}

export function csrfMatches(credentials: ConsoleCredentials, session: string | undefined, token: string | undefined): boolean {
  return !!session && !!token && same(token, csrfToken(credentials, session));
}

/** user and password of an `Authorization: Basic` header; null for anything else. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString();
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The token of an `Authorization: Bearer` header; null for anything else. */
export function bearerToken(header: string | undefined): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? null;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
