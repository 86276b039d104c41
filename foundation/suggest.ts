/**
 * "Did you mean": the closest known name to a misspelt one. Bounded so that no input can make it
 * slow: names longer than MAX_SUGGESTED_LENGTH get no suggestion, only candidates whose length is
 * within the allowed distance are compared, and the distance uses two rows of memory plus one.
 *
 * Own code rather than a library (fastest-levenshtein and the like compute plain Levenshtein):
 * swapping two neighbouring letters is the most common typo and costs 1 here, 2 there; with the
 * length cap the work is at most 64 × 85 cells per candidate, so speed is not a reason to switch.
 */

/** Names longer than this get no suggestion (no one types a 65-character name by hand twice). */
export const MAX_SUGGESTED_LENGTH = 64;

/** The closest candidate to `name` by edit distance, if close enough to be a plausible typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > MAX_SUGGESTED_LENGTH) return undefined;
  const allowed = Math.floor((name.length + 1) / 3);
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    // The distance is at least the difference in length: skip what cannot be close enough.
    if (Math.abs(candidate.length - name.length) >= bestDistance) continue;
    const distance = editDistance(lower, candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** "; did you mean `x`?" when a close candidate exists, else "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const suggestion = closest(name, candidates);
  return suggestion === undefined ? "" : `; did you mean \`${suggestion}\`?`;
}

/**
 * Edit distance where inserting, deleting, substituting, or swapping two neighbours costs 1
 * (optimal string alignment), in three rows; returns `bound` or more as soon as every entry of a
 * row reaches `bound`, since the distance can then only be larger.
 */
export function editDistance(a: string, b: string, bound = Number.POSITIVE_INFINITY): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    let smallest = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, (before[j - 2] ?? 0) + 1);
      row[j] = best;
      smallest = Math.min(smallest, best);
    }
    if (smallest >= bound) return smallest;
    [before, previous, row] = [previous, row, before];
  }
  return previous[b.length] ?? 0;
}
