// Apart from the schemas so that the command line can read a duration without loading zod.

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** "30s", "5m", "2h", "1d", "1w" (or "0") in milliseconds. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]) : undefined;
}

/** The inverse of parseDuration: milliseconds as the config writes them, in the largest unit that divides them. */
export function durationText(ms: number): string {
  if (ms === 0) return '0';
  const units = (Object.entries(UNIT_MS) as Array<[string, number]>).sort((a, b) => b[1] - a[1]);
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
