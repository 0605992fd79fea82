import { describe, expect, it } from 'vitest';
import { ConfigError, TransientError } from '../../src/core/errors.ts';
import { BrokenStream, jsonArrayElements } from '../../src/core/http/json-array.ts';

async function* chunksOf(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function elements(text: string, size: number, maxElementBytes = 1 << 20): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const e of jsonArrayElements(chunksOf(text, size), { maxElementBytes, what: 'POST host/stream', tooLarge: () => 'too large' })) out.push(e);
  return out;
}

const ARRAY = [
  { results: [{ campaign: { name: 'Brace } and [bracket] "quoted" \\ back' }, metrics: { clicks: '3' } }] },
  { results: [], note: 'ünïcödé ✓ 💶', nested: [[{ a: [] }], {}] },
  [1, 2, { b: '}' }],
];

describe('the elements of a streamed JSON array', () => {
  it('come out whole and in order, however the bytes are cut (down to one byte a chunk, inside multi-byte characters)', async () => {
    const text = `\ufeff [\n${ARRAY.map((e) => JSON.stringify(e, null, 1)).join(' ,\n')}\n] \n`;
    for (const size of [1, 2, 3, 7, 64, 1 << 16]) expect(await elements(text, size)).toEqual(ARRAY);
    expect(await elements('[]', 1)).toEqual([]);
  });

  it('an answer that ends before its closing bracket is truncated (transient), after handing on the elements that were whole', async () => {
    const text = `[${JSON.stringify(ARRAY[0])},${JSON.stringify(ARRAY[1]).slice(0, 20)}`;
    const seen: unknown[] = [];
    const err = await (async () => {
      try {
        for await (const e of jsonArrayElements(chunksOf(text, 5), { maxElementBytes: 1 << 20, what: 'POST host/stream', tooLarge: () => 'too large' })) seen.push(e);
      } catch (e) {
        return e;
      }
    })();
    expect(seen).toEqual([ARRAY[0]]);
    expect(err).toBeInstanceOf(BrokenStream);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toBe('POST host/stream ended before its closing bracket after 1 element; treated as truncated');
  });

  it.each([
    ['not an array', '{"error": {}}', 'POST host/stream is not a JSON array after 0 elements; treated as truncated'],
    ['a bare value in the array', '[1]', 'POST host/stream holds something other than objects and arrays after 0 elements; treated as truncated'],
    ['an element that does not parse', '[{"a": tru}]', 'POST host/stream holds an element that is not valid JSON after 0 elements; treated as truncated'],
  ])('%s is refused as truncated', async (_what, text, message) => {
    await expect(elements(text, 3)).rejects.toThrow(message);
  });

  it('an element longer than the cap stops the reading with the cap\'s config error; longer answers of small elements pass', async () => {
    const small = JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ i, pad: 'x'.repeat(80) })));
    expect(await elements(small, 100, 200)).toHaveLength(50);
    const big = `[{"pad": "${'x'.repeat(300)}"}]`;
    const err = await elements(big, 16, 200).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe('too large');
  });
});
