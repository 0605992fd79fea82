import { TransientError } from '../errors.ts';
import { HttpConfigError } from './errors.ts';

/**
 * The elements of a JSON array read from a stream of bytes, each parsed as soon as its last
 * byte arrives: an answer of any length is read holding one element at a time (Google Ads
 * searchStream's batches). No streaming JSON parser is among the dependencies, so this finds
 * where each top-level element ends (depth, strings, escapes) and hands its bytes to
 * JSON.parse; the bytes of JSON's structure are ASCII and never occur inside a multi-byte UTF-8
 * character, so scanning bytes is exact.
 *
 * The response size cap applies to each element, the most this ever holds: an element longer
 * than `maxElementBytes` stops the download with the cap's ConfigError. An answer that ends
 * before its closing bracket, or breaks off, throws BrokenStream (transient).
 */

/** The stream ended or broke before the array was whole. */
export class BrokenStream extends TransientError {}

export interface JsonArrayOptions {
  /** The largest element accepted, in bytes. */
  maxElementBytes: number;
  /** The cap's message for an element over it. */
  tooLarge: () => string;
  /** Names the answer in messages, e.g. "POST host/path". */
  what: string;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const BOM = [0xef, 0xbb, 0xbf];

const isSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

export async function* jsonArrayElements(chunks: AsyncIterable<Buffer>, o: JsonArrayOptions): AsyncGenerator<unknown> {
  // 'start': before '['; 'between': before an element, a comma or ']'; 'element': inside one; 'end': after ']'.
  let state: 'start' | 'between' | 'element' | 'end' = 'start';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let parts: Buffer[] = [];
  let held = 0;
  let elements = 0;
  let comma = false; // in 'between': whether the next element has its comma (or is the first)
  let leading = 0; // bytes seen before '[': a byte order mark may be among them
  const broken = (why: string) => new BrokenStream(`${o.what} ${why} after ${elements} element${elements === 1 ? '' : 's'}; treated as truncated`);

  try {
    for await (const chunk of chunks) {
      let from = 0; // where the element's bytes in this chunk begin
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (state === 'element') {
          if (inString) {
            if (escaped) escaped = false;
            else if (b === BACKSLASH) escaped = true;
            else if (b === QUOTE) inString = false;
            continue;
          }
          if (b === QUOTE) inString = true;
          else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
          else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
            if (--depth === 0) {
              const tail = chunk.subarray(from, i + 1);
              const text = Buffer.concat([...parts, tail], held + tail.length).toString('utf8');
              parts = [];
              held = 0;
              state = 'between';
              comma = false;
              const value = parseElement(text);
              elements++;
              yield value;
            }
          }
          continue;
        }
        if (isSpace(b)) continue;
        if (state === 'start' && leading < 3 && b === BOM[leading]) {
          leading++;
          continue;
        }
        if (state === 'start') {
          if (b !== OPEN_BRACKET) throw broken('is not a JSON array');
          state = 'between';
          comma = true;
        } else if (state === 'between') {
          // JSON's commas: one between elements, none before the first or after the last.
          if (b === COMMA) {
            if (comma) throw broken('holds a misplaced comma');
            comma = true;
            continue;
          }
          if (b === CLOSE_BRACKET) {
            if (comma && elements > 0) throw broken('holds a misplaced comma');
            state = 'end';
          } else if (!comma) throw broken('holds two elements without a comma between them');
          else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
            state = 'element';
            depth = 1;
            from = i;
          } else throw broken('holds something other than objects and arrays');
        } else throw broken('goes on after its closing bracket');
      }
      if (state === 'element') {
        const rest = chunk.subarray(from);
        held += rest.length;
        if (held > o.maxElementBytes) throw new HttpConfigError(o.tooLarge());
        parts.push(rest);
      }
    }
  } catch (err) {
    if (err instanceof BrokenStream || err instanceof HttpConfigError || !(err instanceof TransientError)) throw err;
    throw new BrokenStream(`${o.what} broke off after ${elements} element${elements === 1 ? '' : 's'}: ${err.message}`, { cause: err });
  }
  if ((state as string) !== 'end') throw broken('ended before its closing bracket');

  function parseElement(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw broken('holds an element that is not valid JSON');
    }
  }
}
