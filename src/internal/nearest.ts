/**
 * "Did you mean …?": the known name nearest to a mistyped one, for unknown flags, commands
 * and `.sops.yaml` keys. Distance is the optimal string alignment distance (insertions,
 * deletions, substitutions and swaps of two neighbouring characters each count one), so
 * `path_regx` → `path_regex`, `--ouput` → `--output`, `creation_rule` → `creation_rules`.
 */

/**
 * The optimal string alignment distance between two strings.
 * @returns the number of single-character edits (a swap of neighbours counts one)
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array<number>(rows * cols).fill(0)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(
        (d[(i - 1) * cols + j] ?? 0) + 1,
        (d[i * cols + j - 1] ?? 0) + 1,
        (d[(i - 1) * cols + j - 1] ?? 0) + cost,
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (d[(i - 2) * cols + j - 2] ?? 0) + 1)
      }
      d[i * cols + j] = best
    }
  }
  return d[rows * cols - 1] ?? 0
}

/**
 * The candidate nearest to `word`, when it is near enough to be a likely typo: none for a
 * single character, one edit for short names, two from six characters, three from twelve;
 * case is ignored, and `-` and `_` are the same.
 * @param word what was typed
 * @param candidates the known names
 * @returns the nearest known name (the first of equals), or undefined when none is close
 */
export function nearestName(word: string, candidates: Iterable<string>): string | undefined {
  const fold = (s: string): string => s.toLowerCase().replaceAll("-", "_")
  const typed = fold(word)
  const allowed = typed.length >= 12 ? 3 : typed.length >= 6 ? 2 : typed.length >= 2 ? 1 : 0
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    if (candidate === word) continue
    const distance = editDistance(typed, fold(candidate))
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return bestDistance <= allowed ? best : undefined
}
