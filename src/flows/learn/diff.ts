/**
 * flows/learn/diff — a unified diff of two texts, line by line (longest common subsequence),
 * for `clawfence learn --policy` to show what it added.
 *
 * Map: split both texts into lines, drop the common head and tail, run an LCS table over the
 * middle, walk it into keep/delete/insert operations, and print hunks with `context` lines
 * around each change in the `--- a` / `+++ b` / `@@ -l,n +l,n @@` format patch(1) reads.
 * The middle is at most `maxCells` table cells; a larger change is shown as one replacement
 * hunk (still a correct diff, just not a minimal one).
 *
 * Pure: strings in, a string out.
 */

type Op = { readonly t: " " | "-" | "+"; readonly line: string };

function lines(text: string): string[] {
  if (text === "") return [];
  const parts = text.split("\n");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

function lcsOps(a: readonly string[], b: readonly string[], maxCells: number): Op[] {
  const n = a.length;
  const m = b.length;
  if (n === 0) return b.map((line) => ({ t: "+", line }));
  if (m === 0) return a.map((line) => ({ t: "-", line }));
  if ((n + 1) * (m + 1) > maxCells) return [...a.map((line): Op => ({ t: "-", line })), ...b.map((line): Op => ({ t: "+", line }))];
  // table[i][j] = LCS length of a[i..] and b[j..]
  const w = m + 1;
  const table = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i * w + j] = a[i] === b[j] ? (table[(i + 1) * w + j + 1] as number) + 1 : Math.max(table[(i + 1) * w + j] as number, table[i * w + j + 1] as number);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ t: " ", line: a[i] as string });
      i++;
      j++;
    } else if ((table[(i + 1) * w + j] as number) >= (table[i * w + j + 1] as number)) {
      ops.push({ t: "-", line: a[i] as string });
      i++;
    } else {
      ops.push({ t: "+", line: b[j] as string });
      j++;
    }
  }
  while (i < n) ops.push({ t: "-", line: a[i++] as string });
  while (j < m) ops.push({ t: "+", line: b[j++] as string });
  return ops;
}

export interface DiffOptions {
  readonly oldName?: string;
  readonly newName?: string;
  /** unchanged lines shown around each change (default 3) */
  readonly context?: number;
  /** largest LCS table (default 4M cells) */
  readonly maxCells?: number;
}

/** Unified diff of `oldText` -> `newText`; "" when they are equal. */
export function unifiedDiff(oldText: string, newText: string, opts: DiffOptions = {}): string {
  if (oldText === newText) return "";
  const ctx = Math.max(0, opts.context ?? 3);
  const a = lines(oldText);
  const b = lines(newText);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const ops: Op[] = [
    ...a.slice(0, head).map((line): Op => ({ t: " ", line })),
    ...lcsOps(a.slice(head, a.length - tail), b.slice(head, b.length - tail), opts.maxCells ?? 4_000_000),
    ...a.slice(a.length - tail).map((line): Op => ({ t: " ", line })),
  ];
  // hunks: runs of changes joined when fewer than 2*ctx unchanged lines separate them
  const out: string[] = [`--- ${opts.oldName ?? "a"}`, `+++ ${opts.newName ?? "b"}`];
  const changed = ops.map((o) => o.t !== " ");
  let k = 0;
  while (k < ops.length) {
    if (!changed[k]) {
      k++;
      continue;
    }
    let start = Math.max(0, k - ctx);
    let end = k;
    // extend the hunk while the next change is within 2*ctx lines
    for (;;) {
      while (end < ops.length && changed[end]) end++;
      let next = end;
      while (next < ops.length && !changed[next]) next++;
      if (next < ops.length && next - end <= 2 * ctx) end = next;
      else break;
    }
    const stop = Math.min(ops.length, end + ctx);
    // line numbers: count old/new lines before `start`
    let oldLine = 1;
    let newLine = 1;
    for (let x = 0; x < start; x++) {
      const t = (ops[x] as Op).t;
      if (t !== "+") oldLine++;
      if (t !== "-") newLine++;
    }
    let oldCount = 0;
    let newCount = 0;
    const body: string[] = [];
    for (let x = start; x < stop; x++) {
      const o = ops[x] as Op;
      if (o.t !== "+") oldCount++;
      if (o.t !== "-") newCount++;
      body.push(`${o.t}${o.line}`);
    }
    // patch(1): a zero-length side names the line before it
    const range = (line: number, count: number): string => (count === 0 ? `${line - 1},0` : count === 1 ? `${line}` : `${line},${count}`);
    out.push(`@@ -${range(oldLine, oldCount)} +${range(newLine, newCount)} @@`, ...body);
    start = stop;
    k = stop;
  }
  return `${out.join("\n")}\n`;
}
