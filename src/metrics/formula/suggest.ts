/**
 * The known name closest to a misspelt one, or undefined when nothing is close enough
 * to be a plausible typo (suggesting an unrelated name would only mislead).
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  // Nobody mistypes a hundred-character name; skip the quadratic distance for those.
  if (name.length > 100) return undefined;
  const limit = Math.min(Math.max(2, Math.ceil(name.length / 3)), name.length - 1);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (Math.abs(candidate.length - name.length) > limit) continue;
    const d = editDistance(name, candidate);
    if (d <= limit && (d < bestDistance || (d === bestDistance && best !== undefined && candidate < best))) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: Levenshtein plus swapping two neighbours, the commonest typo. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
