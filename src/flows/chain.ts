/**
 * flows/chain — tamper evidence for the flow store: every row carries the hash of the row
 * before it, and its own hash over its fields.
 *
 *   row_hash = sha256( prev_hash || "\n" || canonical(row) )      (hex)
 *   canonical(row) = JSON.stringify([row[c] for c in HASHED_COLUMNS])  (values as stored:
 *                    integers, reals, text, null; JSON columns as their stored text)
 *
 * The first row chains from `meta.genesis` (random per store). `meta.head_id`/`head_hash`
 * record the last row written, so truncating the table is detected too. What this is not:
 * a signature. Someone who can rewrite the whole file can recompute every hash; ship the head
 * hash elsewhere (a report, syslog) to anchor it.
 *
 * Map: store.ts calls `rowHash` for each row it inserts; `verifyChain` walks rows in id order
 * (store.ts feeds it from SQLite) and returns the first broken link. Pure: node:crypto only.
 */
import { hash } from "node:crypto";
import { HASHED_COLUMNS, type FlowRow, type HashedColumn } from "./schema.ts";

export type HashInput = Pick<FlowRow, HashedColumn>;

export function canonicalRow(row: HashInput): string {
  return JSON.stringify(HASHED_COLUMNS.map((c) => row[c]));
}

export function rowHash(prevHash: string, row: HashInput): string {
  return hash("sha256", `${prevHash}\n${canonicalRow(row)}`, "hex");
}

export type ChainProblem =
  /** the row's prev_hash is not the previous row's row_hash (a row was deleted, inserted or moved) */
  | "prev-hash"
  /** the row's fields do not hash to its row_hash (the row was edited) */
  | "row-hash"
  /** dropped_total went down (a counter was edited) */
  | "dropped-total"
  /** the table ends before meta.head_id, or its last hash is not meta.head_hash (rows removed at the end) */
  | "head";

export interface ChainBreak {
  /** the first row that does not verify (for "head": the last row present, 0 when none) */
  readonly id: number;
  readonly problem: ChainProblem;
  readonly expected: string;
  readonly found: string;
  readonly message: string;
}

export type VerifyResult = { readonly ok: true; readonly rows: number; readonly head: string } | ({ readonly ok: false; readonly rows: number } & ChainBreak);

/**
 * Walk `rows` (in id order) from `genesis` and stop at the first broken link. `head` is what
 * meta says the last row is; pass null to skip that check (e.g. a partial range).
 */
export function verifyChain(rows: Iterable<FlowRow>, genesis: string, head: { id: number; hash: string } | null): VerifyResult {
  let prev = genesis;
  let prevDropped = 0;
  let lastId = 0;
  let n = 0;
  for (const row of rows) {
    if (row.prev_hash !== prev) {
      return {
        ok: false,
        rows: n,
        id: row.id,
        problem: "prev-hash",
        expected: prev,
        found: row.prev_hash,
        message: `row ${row.id}: prev_hash does not match the hash of the row before it (${lastId === 0 ? "genesis" : `row ${lastId}`}); a row was deleted, inserted or moved here`,
      };
    }
    const h = rowHash(row.prev_hash, row);
    if (h !== row.row_hash) {
      return {
        ok: false,
        rows: n,
        id: row.id,
        problem: "row-hash",
        expected: h,
        found: row.row_hash,
        message: `row ${row.id}: its fields do not match its row_hash; the row was edited after it was written`,
      };
    }
    if (row.dropped_total < prevDropped) {
      return {
        ok: false,
        rows: n,
        id: row.id,
        problem: "dropped-total",
        expected: `>= ${prevDropped}`,
        found: String(row.dropped_total),
        message: `row ${row.id}: dropped_total went down from ${prevDropped} to ${row.dropped_total}`,
      };
    }
    prevDropped = row.dropped_total;
    prev = row.row_hash;
    lastId = row.id;
    n++;
  }
  if (head !== null && (head.id !== lastId || head.hash !== prev)) {
    return {
      ok: false,
      rows: n,
      id: lastId,
      problem: "head",
      expected: `row ${head.id} ${head.hash}`,
      found: `row ${lastId} ${prev}`,
      message:
        head.id > lastId
          ? `the table ends at row ${lastId} but the store recorded row ${head.id} as its last; rows at the end were deleted`
          : `the last row (${lastId}) does not match the head the store recorded (row ${head.id})`,
    };
  }
  return { ok: true, rows: n, head: prev };
}
