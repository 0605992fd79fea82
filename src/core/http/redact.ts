import { redactAndCut, redactSecrets } from '../secrets.ts';

// Query keys that carry credentials on the APIs we talk to (access_token on Meta, key on
// Google, api_key / apikey elsewhere); matched loosely because over-redacting costs nothing.
const SENSITIVE_KEY = /token|key|secret|passw|signature|credential|auth|^sig$|^code$/i;

const SENSITIVE_IN_TEXT = /([?&;](?:[\w.-]*(?:token|key|secret|passw|signature|credential|auth)[\w.-]*|sig|code)=)[^&\s"'<>]*/gi;

/**
 * Path plus query with sensitive values replaced, fit for a log line. `credentialParams` are
 * the parameters the caller put credentials in: redacted whatever their names.
 */
export function loggablePath(url: URL, credentialParams: ReadonlySet<string> = new Set()): string {
  const params = [...url.searchParams].map(([key, value]) =>
    `${encodeURIComponent(key)}=${credentialParams.has(key) || SENSITIVE_KEY.test(key) ? '[redacted]' : encodeURIComponent(value)}`,
  );
  return redactSecrets(params.length > 0 ? `${url.pathname}?${params.join('&')}` : url.pathname);
}

/** Known secrets and credential-looking query values removed from free text. */
export function scrubText(text: string): string {
  return redactSecrets(text).replace(SENSITIVE_IN_TEXT, '$1[redacted]');
}

/**
 * Text on one line, scrubbed, for an error message. Collapsing the blanks first is safe: a
 * secret is still recognised with its blanks collapsed.
 */
export function scrubbedLine(text: string): string {
  return scrubText(text.replace(/\s+/g, ' ').trim());
}

const MAX_API_MESSAGE = 300;

/**
 * The error message an API put in its body, in the shapes our sources use: Google and Meta
 * `{error: {message}}`, OAuth `{error, error_description}`, Mailchimp `{title, detail}`,
 * SendGrid `{errors: [{message}]}`, JSON:API `{errors: [{title, detail}]}` (Klaviyo). Plain-text bodies count; HTML pages do not.
 */
export function apiErrorMessage(data: unknown, contentType: string | undefined): string | undefined {
  let found: string | undefined;
  if (typeof data === 'string') {
    if (contentType?.includes('text/plain')) found = data;
  } else if (data && typeof data === 'object') {
    const body = data as Record<string, unknown>;
    const error = body.error;
    const errors = body.errors;
    const firstError: unknown = Array.isArray(errors) ? errors[0] : undefined;
    found =
      pickString(error, 'message') ??
      pickString(body, 'error_description') ??
      (typeof error === 'string' ? error : undefined) ??
      pickString(body, 'detail') ??
      pickString(body, 'message') ??
      pickString(firstError, 'message') ??
      pickString(firstError, 'detail') ??
      pickString(firstError, 'title') ??
      pickString(body, 'title');
  }
  if (!found?.trim()) return undefined;
  return redactAndCut(found, MAX_API_MESSAGE + 1, scrubbedLine);
}

function pickString(value: unknown, key: string): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const field = (value as Record<string, unknown>)[key];
  return typeof field === 'string' ? field : undefined;
}
