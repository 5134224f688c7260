/**
 * "Did you mean …?" for rule field names and query names: the closest known name by edit distance,
 * after folding case and `_`/`-` (so Terraform's `evaluation_window` finds `evaluationWindow`).
 */

/** Longest input compared; names are short, so anything longer is not a typo of a known name. */
const MAX_COMPARED_LENGTH = 64;

function fold(name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, '');
}

/**
 * Edit distance counting insertions, deletions, substitutions and swaps of two neighbours (optimal
 * string alignment). A distance over `limit` is answered as `limit + 1`, early when possible.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, (before[j - 2] ?? 0) + 1);
      current.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin > limit) return limit + 1;
    before = previous;
    previous = current;
  }
  const distance = previous[b.length] ?? 0;
  return distance > limit ? limit + 1 : distance;
}

/**
 * The known name closest to `name`, or undefined when none is close enough: equal after folding
 * case and separators, or within an edit distance of about a third of the name's length.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  if (name.length === 0 || name.length > MAX_COMPARED_LENGTH) return undefined;
  const folded = fold(name);
  const limit = Math.max(1, Math.floor(folded.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    if (candidate === name) continue;
    const distance = fold(candidate) === folded ? 0 : editDistance(folded, fold(candidate), limit);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
