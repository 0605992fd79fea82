import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { redactSecrets } from '../secrets.ts';
import { countRequest } from '../request-meter.ts';

/**
 * Default cap on one response body. The largest answer our connectors ask for by design is a
 * week of Google Ads campaign-days (about 20 MB for 5 000 campaigns); Meta, Mailchimp and
 * SendGrid pages are far smaller. A body is held about three times over while it is decoded
 * and parsed (bytes, text, objects), so a worker running its default 4 syncs, each with a few
 * requests in flight, stays around 1.5 GB even if every one of them hits the cap at once.
 */
export const DEFAULT_MAX_RESPONSE_MB = 32;

/** Node cannot hold a longer text as one string (V8's limit is about 2^29 characters). */
export const MAX_RESPONSE_MB = 512;

export const MIB = 1024 * 1024;

/**
 * The body as text, or `undefined` as soon as it is known to be longer than `limit` bytes
 * (after decompression): at once when Content-Length says so, otherwise when the running count
 * passes the limit. Either way the download is stopped there, so memory never holds more than
 * the limit, however large the body the source meant to send. (A compressed body's
 * Content-Length counts compressed bytes, which are at most a hair more than the text they
 * unpack to, so the early refusal holds for it too.)
 */
export async function readCapped(stream: Readable, declaredLength: string | undefined, limit: number): Promise<string | undefined> {
  const declared = Number(declaredLength);
  if (declaredLength !== undefined && Number.isFinite(declared) && declared > limit) {
    stream.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks, total).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function responseCapBytes(maxResponseMb: number | undefined): number {
  return Math.floor((maxResponseMb ?? DEFAULT_MAX_RESPONSE_MB) * MIB);
}

/** `request` is "METHOD host/path", already free of secrets. */
export function tooLargeMessage(connector: string | undefined, request: string, limit: number): string {
  const mb = limit / MIB;
  return `${connector ? `connector "${connector}": ` : ''}the response to ${request} is larger than the ${Number.isInteger(mb) ? mb : mb.toFixed(2)} MB limit, so its download was stopped (not retried); raise maxResponseMb in the connector's config, or ask for less per request (fewer days or records per page)`;
}

/**
 * A fetch for gaxios (the googleapis clients) that reads each body under the same cap. The
 * body is handed on as text, which is what gaxios makes of it anyway; `tooLarge` gets the
 * request as "METHOD host/path". Each call is counted as a request of the running work
 * (request-meter.ts).
 */
export function cappedFetch(limit: number, tooLarge: (request: string) => Error): typeof fetch {
  return async (input, init) => {
    countRequest();
    const res = await fetch(input, init);
    if (!res.body) return res;
    const text = await readCapped(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), res.headers.get('content-length') ?? undefined, limit);
    if (text === undefined) {
      const url = new URL(res.url);
      throw tooLarge(`${init?.method ?? 'GET'} ${url.host}${redactSecrets(url.pathname)}`);
    }
    // The text is already decompressed: the headers must not say otherwise.
    const headers = new Headers(res.headers);
    headers.delete('content-encoding');
    headers.delete('content-length');
    return new Response(text, { status: res.status, statusText: res.statusText, headers });
  };
}
