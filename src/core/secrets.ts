/**
 * Every secret value resolved from the environment is registered here, so that logs,
 * error messages and anything written to the warehouse can be scrubbed of it.
 *
 * A secret is scrubbed in every form it takes on its way out: as it is, percent-encoded
 * (either case of hex digits, and percent-encoded twice, as in a URL quoted inside a URL),
 * form-encoded (space as "+"), and JSON-escaped (\" \\ \/ \n \u00e9 ...), in any mix, since
 * an error body may quote a URL that a proxy re-encoded, inside a JSON string; and base64, as
 * in a Basic auth header, or base64url. Its whitespace may be missing or different (trimmed, collapsed), and
 * its letters may be in another case: a URL lower-cases a host name (a redirect to
 * `https://<token>.example` is reported by its host), and a source may upper-case a field; and
 * its accented letters composed or decomposed.
 */

/** Each secret with the pattern of its forms, longest secret first (so one that contains another is scrubbed whole). */
const secretMatchers = new Map<string, RegExp>();

/** Shorter values (blanks at the ends not counted) would scrub ordinary words out of logs; the config loader refuses them. */
export const MIN_SECRET_LENGTH = 4;

export function registerSecret(value: string): void {
  if (value.trim().length < MIN_SECRET_LENGTH || secretMatchers.has(value)) return;
  // One pattern per secret, built once: a token refreshed every hour adds its own and
  // leaves the others (a private key's is large) as they are.
  const entries = [...secretMatchers, [value, matcherFor(value)] as const].sort(([a], [b]) => b.length - a.length);
  secretMatchers.clear();
  for (const [secret, matcher] of entries) secretMatchers.set(secret, matcher);
}

/** Secrets valid until a known time (access tokens), with that time. */
const expiries = new Map<string, number>();

/** How long a secret is still scrubbed after it expired: an error quoting it may be logged a while after it was sent. */
const EXPIRED_SECRET_KEPT_MS = 60 * 60_000;

/**
 * A credential valid until `expiresAt` (an access token: a new one every hour, and one for
 * every sync, for as long as the process runs) is scrubbed until an hour after that, then
 * forgotten. Kept for good, they piled up until every log line went through thousands of
 * patterns, and compiling them ran the process out of memory within weeks. A value also
 * registered for good (from the config) stays.
 */
export function registerExpiringSecret(value: string, expiresAt: number, now: number = Date.now()): void {
  for (const [secret, until] of expiries) {
    if (until + EXPIRED_SECRET_KEPT_MS > now) continue;
    expiries.delete(secret);
    secretMatchers.delete(secret);
  }
  if (secretMatchers.has(value) && !expiries.has(value)) return;
  registerSecret(value);
  if (secretMatchers.has(value)) expiries.set(value, Math.max(expiresAt, expiries.get(value) ?? expiresAt));
}

export function redactSecrets(text: string): string {
  let out = text;
  for (const matcher of secretMatchers.values()) out = out.replace(matcher, '[redacted]');
  return out;
}

export function knownSecrets(): readonly string[] {
  return [...secretMatchers.keys()];
}

/** For tests that load several configs in one process. */
export function clearSecrets(): void {
  secretMatchers.clear();
  expiries.clear();
}

const JSON_SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Every way one character of a secret can be written in text we emit. */
function charForms(char: string): string[] {
  const forms = [escapeRegExp(char)];
  // Percent-encoded UTF-8, once or twice (%2B, %252B; the hex digits in either case, as the whole pattern is).
  const bytes = [...new TextEncoder().encode(char)].map((b) => b.toString(16).padStart(2, '0'));
  forms.push(bytes.map((b) => `%(?:25)?${b}`).join(''));
  if (char === ' ') forms.push('\\+');
  const short = JSON_SHORT_ESCAPES[char];
  if (short) forms.push(escapeRegExp(short));
  // \uXXXX for each UTF-16 unit (JSON encoders that escape everything outside ASCII).
  forms.push([...Array.from({ length: char.length }, (_, i) => char.charCodeAt(i).toString(16).padStart(4, '0'))].map((u) => `\\\\u${u}`).join(''));
  return forms;
}

/**
 * The secret's pattern, character by character. Text is often trimmed or has its whitespace
 * collapsed on the way (one line of a message), so a run of whitespace in the secret matches
 * any run of whitespace, or none, in any of its forms: one starred group per run, which also
 * keeps the matching linear however many blanks the secret has.
 */
function secretPattern(secret: string): string {
  const runs = [...secret].reduce<string[][]>((acc, char) => {
    const last = acc.at(-1);
    if (last && /\s/.test(char) && /\s/.test(last[0]!)) last.push(char);
    else acc.push([char]);
    return acc;
  }, []);
  return runs
    // The raw blank itself is left to \s: two alternatives for one character would backtrack.
    .map((run) => (/\s/.test(run[0]!) ? `(?:${[...new Set(run)].flatMap((c) => charForms(c).slice(1)).join('|')}|\\s)*` : `(?:${charForms(run[0]!).join('|')})`))
    .join('');
}

// Shorter base64 runs would match ordinary tokens; a secret this short is not looked for in base64.
const MIN_BASE64_CORE = 8;

/**
 * The base64 characters that depend on the secret alone, wherever it starts in the encoded
 * bytes (three alignments): found in a Basic header `user:secret` whatever the user name.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const cores: string[] = [];
  for (const lead of [0, 1, 2]) {
    // Whole groups, plus the characters of a last partial group that no following byte touches.
    const total = lead + bytes.length;
    const known = Math.floor(total / 3) * 4 + (total % 3);
    const encoded = Buffer.concat([Buffer.alloc(lead), bytes]).toString('base64').slice(0, known);
    const core = encoded.slice([0, 2, 3][lead]);
    if (core.length < MIN_BASE64_CORE) continue;
    cores.push(core);
    // base64url (tokens, JWTs, anything put in a URL) writes - and _ for + and /.
    if (/[+/]/.test(core)) cores.push(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return cores;
}

function matcherFor(secret: string): RegExp {
  // Blanks at the ends carry nothing of the secret, and would swallow the text's own.
  const trimmed = secret.trim();
  // Composed or decomposed (é as one character, or e and a combining accent): systems and
  // sources normalise text either way, and a secret pasted on a Mac may come decomposed.
  const spellings = new Set([trimmed, trimmed.normalize('NFC'), trimmed.normalize('NFD')]);
  // Any case: a base64 run that differs from the secret's only in case is no ordinary token either.
  return new RegExp([...[...spellings].map(secretPattern), ...base64Cores(secret).map(escapeRegExp)].join('|'), 'gi');
}

/**
 * `text` cut to at most `max` UTF-16 code units, ending with "…" when it was longer. The cut
 * never splits a surrogate pair: half an emoji is a lone surrogate, which Postgres refuses
 * in jsonb and some terminals print as garbage.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const code = text.charCodeAt(end - 1);
  if (end > 0 && code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

// The longest form one character of a secret takes: 3 UTF-8 bytes percent-encoded twice (%25E2...).
const MAX_FORM_PER_CHAR = 15;

/**
 * Secrets scrubbed first, then cut: cutting first can split a secret so that the scrubber no
 * longer recognises the part that is left, and that part would be shown. `scrub` defaults to
 * redactSecrets.
 *
 * Only the head of a long text is scrubbed (a hostile source's 30 MB error body would
 * otherwise hold the event loop for seconds): a head that still reaches past `max` by the
 * longest form of any secret after scrubbing can only have a cut occurrence beyond `max`. When
 * scrubbing shrank it short of that, a head twice as long is tried.
 */
export function redactAndCut(text: string, max: number, scrub: (text: string) => string = redactSecrets): string {
  const margin = MAX_FORM_PER_CHAR * Math.max(0, ...[...secretMatchers.keys()].map((s) => s.length)) + 1024;
  for (let head = max + margin; head < text.length; head *= 2) {
    const scrubbed = scrub(text.slice(0, head));
    if (scrubbed.length >= max + margin) return cutText(scrubbed, max);
  }
  return cutText(scrub(text), max);
}
