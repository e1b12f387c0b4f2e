/**
 * A short line diff for `apply`: what changes in an object's YAML, with a line of context either
 * side of each change, like `diff -U1`. Config objects are small, so a plain longest-common-
 * subsequence table is enough.
 */

export type DiffLine = { op: " " | "-" | "+"; text: string };

export function diffLines(before: readonly string[], after: readonly string[]): DiffLine[] {
  const n = before.length;
  const m = after.length;
  // lcs[i][j]: the longest common subsequence of before[i..] and after[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i]![j] = before[i] === after[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      out.push({ op: " ", text: before[i]! });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Deletions before insertions, as diff prints a replaced line.
      out.push({ op: "-", text: before[i]! });
      i++;
    } else {
      out.push({ op: "+", text: after[j]! });
      j++;
    }
  }
  return out;
}

/**
 * The changed lines of `before` → `after` with `context` unchanged lines around each, `…` where
 * unchanged lines are left out, and at most `limit` lines in all.
 */
export function shortDiff(before: string, after: string, { context = 1, limit = 40 } = {}): string[] {
  const lines = diffLines(before.split("\n"), after.split("\n"));
  const near = (index: number) =>
    lines.slice(Math.max(0, index - context), index + context + 1).some((l) => l.op !== " ");
  const out: string[] = [];
  let skipped = false;
  lines.forEach((line, index) => {
    if (line.op !== " " || near(index)) {
      if (skipped && out.length) out.push("  …");
      skipped = false;
      out.push(`${line.op} ${line.text}`);
    } else skipped = true;
  });
  if (out.length <= limit) return out;
  return [...out.slice(0, limit), `  … ${out.length - limit} more lines`];
}
