import { ConfigError } from '../../core/errors.ts';

/**
 * Pages one listing may take. A source whose cursor never ends (or a page size the source
 * ignores) would otherwise keep a sync busy, and memory growing, until someone noticed.
 */
export const MAX_PAGES = 10_000;

export interface Page<Item, Cursor> {
  items: Item[];
  /** Where the next page starts; undefined when this page was the last. */
  next?: Cursor | undefined;
}

export interface PaginateOptions {
  /** The connector's name, for the error a runaway ends in. */
  connector: string;
  /** The listing, as a person would name it: `GA4 report for property 123`. */
  what: string;
  maxPages?: number;
}

/**
 * A page's items as JSON, to compare with the next page's; undefined for items JSON cannot
 * spell out (a hostile source's nesting deeper than the stack), which are then not compared.
 */
function contentOf(items: unknown[]): string | undefined {
  try {
    return JSON.stringify(items);
  } catch {
    return undefined;
  }
}

/**
 * The pages of one listing, fetched one after another from `first` until a page names no
 * next one; empty pages are not handed on. A listing that runs away is a ConfigError, so it
 * fails once and is not retried (asking again would run away again). That is one still going
 * after `maxPages` pages, and, found at once, one whose source ignores the paging parameter (a
 * misspelt one, say): it sends a cursor back to a page already read, or the same page again.
 * Found at once, because a runaway's pages pile up in connectors that sort a window in memory.
 */
export async function* paginate<Item, Cursor>(options: PaginateOptions, first: Cursor, fetchPage: (cursor: Cursor, index: number) => Promise<Page<Item, Cursor>>): AsyncGenerator<Item[], void, undefined> {
  const maxPages = options.maxPages ?? MAX_PAGES;
  const runaway = (why: string) => new ConfigError(`connector "${options.connector}": ${options.what} ${why}; check the pagination settings`);
  const seen = new Set<string>();
  let previous: string | undefined;
  let cursor = first;
  for (let index = 0; index < maxPages; index++) {
    seen.add(JSON.stringify(cursor) ?? '');
    const page = await fetchPage(cursor, index);
    // Pages of one item may repeat in earnest (two equal orders without ids); longer ones do not.
    const content = page.items.length > 1 ? contentOf(page.items) : undefined;
    if (content !== undefined && content === previous) throw runaway(`sent the same page twice in a row after ${index + 1} pages`);
    if (page.items.length > 0) yield page.items;
    if (page.next === undefined) return;
    if (seen.has(JSON.stringify(page.next) ?? '')) throw runaway(`led back to a page already read after ${index + 1} pages`);
    previous = content;
    cursor = page.next;
  }
  throw runaway(`did not end after ${maxPages} pages`);
}
