import { addDays } from '../core/dates.ts';
import type { DateRange } from '../core/dates.ts';

/** Merges overlapping and adjacent ranges, so a cycle recomputes each date once. */
export function mergeRanges(ranges: Iterable<DateRange | null | undefined>): DateRange[] {
  const sorted = [...ranges].filter((r): r is DateRange => !!r).sort((a, b) => a.from.localeCompare(b.from));
  const out: DateRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.from <= addDays(last.to, 1)) {
      if (r.to > last.to) last.to = r.to;
    } else {
      out.push({ from: r.from, to: r.to });
    }
  }
  return out;
}
