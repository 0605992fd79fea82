import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../src/core/errors.ts';
import { MAX_PAGES, paginate, type Page } from '../../src/connectors/shared/paginate.ts';

/** The pages a listing handed on, and the error it ended with (null when it ended normally). */
async function drain<T>(listing: AsyncIterable<T[]>): Promise<{ pages: T[][]; error: unknown }> {
  const pages: T[][] = [];
  try {
    for await (const page of listing) pages.push(page);
  } catch (error) {
    return { pages, error };
  }
  return { pages, error: null };
}

describe('the shared paginator', () => {
  it('follows each page to the next until a page names none, handing on the pages that hold items', async () => {
    const asked: Array<[number, number]> = [];
    const listing = paginate({ connector: 'shop', what: 'orders' }, 0, async (offset, index): Promise<Page<string, number>> => {
      asked.push([offset, index]);
      const items = offset === 2 ? [] : [`o${offset}`, `o${offset + 1}`];
      return { items, next: offset < 6 ? offset + 2 : undefined };
    });
    expect(await drain(listing)).toEqual({ pages: [['o0', 'o1'], ['o4', 'o5'], ['o6', 'o7']], error: null });
    expect(asked).toEqual([[0, 0], [2, 1], [4, 2], [6, 3]]);
  });

  it('a listing still going after maxPages pages is a ConfigError naming the connector and the listing', async () => {
    let fetched = 0;
    const { error: err } = await drain(paginate({ connector: 'shop', what: 'pagination of 2026-03-01..2026-03-07', maxPages: 5 }, 0, async (n) => (fetched++, { items: [n], next: n + 1 })));
    expect(isConfigError(err)).toBe(true);
    expect((err as Error).message).toBe('connector "shop": pagination of 2026-03-01..2026-03-07 did not end after 5 pages; check the pagination settings');
    expect(fetched).toBe(5);
    expect(MAX_PAGES).toBe(10_000);
  });

  it('a source that sends it back to a page already read (a cursor it ignores) is a runaway at once, not after maxPages', async () => {
    let fetched = 0;
    const listing = paginate({ connector: 'ads', what: 'Meta paging of /act_1/insights' }, '', async (after) => {
      fetched++;
      return { items: [after], next: after === '' ? 'A' : after === 'A' ? 'B' : 'A' };
    });
    const { error: err } = await drain(listing);
    expect(isConfigError(err)).toBe(true);
    expect((err as Error).message).toBe('connector "ads": Meta paging of /act_1/insights led back to a page already read after 3 pages; check the pagination settings');
    expect(fetched).toBe(3);
  });

  it('a source that sends the same page of several items again (a page parameter it ignores) is a runaway at once', async () => {
    let fetched = 0;
    const listing = paginate({ connector: 'shop', what: 'orders' }, 0, async (offset) => (fetched++, { items: [{ id: 1 }, { id: 2 }], next: offset + 2 }));
    const { pages, error: err } = await drain(listing);
    expect(isConfigError(err)).toBe(true);
    expect((err as Error).message).toBe('connector "shop": orders sent the same page twice in a row after 2 pages; check the pagination settings');
    expect(fetched).toBe(2);
    // The repeat is not handed on.
    expect(pages).toEqual([[{ id: 1 }, { id: 2 }]]);
  });

  it('equal pages of one item are not taken for a runaway: two equal records may follow each other', async () => {
    const listing = paginate({ connector: 'shop', what: 'orders' }, 0, async (n) => ({ items: [{ amount: 5 }], next: n < 2 ? n + 1 : undefined }));
    expect(await drain(listing)).toEqual({ pages: [[{ amount: 5 }], [{ amount: 5 }], [{ amount: 5 }]], error: null });
  });

  it('pages whose items JSON cannot spell out (nested deeper than the stack) are handed on, not compared', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const listing = paginate({ connector: 'shop', what: 'orders' }, 0, async (n) => ({ items: [deep, n], next: n < 1 ? n + 1 : undefined }));
    expect(await drain(listing)).toEqual({ pages: [[deep, 0], [deep, 1]], error: null });
  });

  it('cursors that are objects are compared by value', async () => {
    const listing = paginate({ connector: 'shop', what: 'orders' }, { url: '/o', page: 1 }, async (at) => ({ items: [at.page], next: { url: '/o', page: at.page === 1 ? 2 : 1 } }));
    expect(((await drain(listing)).error as Error).message).toContain('led back to a page already read after 2 pages');
  });

  it('an error fetching a page ends the listing with that error', async () => {
    const boom = new Error('connection reset');
    const listing = paginate({ connector: 'shop', what: 'orders' }, 0, async (n) => {
      if (n === 1) throw boom;
      return { items: [n], next: n + 1 };
    });
    expect(await drain(listing)).toEqual({ pages: [[0]], error: boom });
  });
});
