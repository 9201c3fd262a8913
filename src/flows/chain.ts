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
 * Fast path for writers: `canonical(row)` is `[id,` + rowBody(row) + `,dropped_total]`, where
 * `rowBody` is the JSON of the columns between `id` and `dropped_total` without its brackets.
 * The store computes that body once per row (on the emitting thread, before the hand-over to
 * the writer) and `chainHash` adds the id and counter the transaction assigns; the text hashed
 * is byte for byte what `canonicalRow` gives (test/unit/flows/chain.test.ts checks both agree).
 *
 * Map: writer.ts calls `chainHash` for each row it inserts; `verifyChain` walks rows in id
 * order (store.ts feeds it from SQLite) with `rowHash` and returns the first broken link.
 * Pure: node:crypto only.
 */
import { hash } from "node:crypto";
import { HASHED_COLUMNS, type FlowRow, type HashedColumn } from "./schema.ts";

export type HashInput = Pick<FlowRow, HashedColumn>;

/** The hashed columns a row has before the store assigns `id` and `dropped_total`. */
export type BodyInput = Omit<HashInput, "id" | "dropped_total">;

/** One value of a body column, as bound to SQLite and as JSON.parse returns it. */
export type BodyValue = string | number | null;

/**
 * The body columns' values in hashing order (HASHED_COLUMNS without the first, `id`, and the
 * last, `dropped_total`). Written out rather than mapped over HASHED_COLUMNS: this runs once per
 * event on the emitting thread.
 */
export function rowBodyValues(r: BodyInput): BodyValue[] {
  return [
    r.ts_ms,
    r.kind,
    r.sandbox,
    r.policy_hash,
    r.name,
    r.qtype,
    r.rcode,
    r.client,
    r.dst_ip,
    r.dst_port,
    r.proto,
    r.verdict,
    r.enforced,
    r.rule,
    r.reason,
    r.detail,
    r.answers,
    r.removed,
    r.latency_ms,
    r.bytes_up,
    r.bytes_down,
    r.duration_ms,
    r.extra,
  ];
}

/** JSON of `values` (from rowBodyValues) without the enclosing brackets; never contains a raw newline. */
export function bodyText(values: readonly BodyValue[]): string {
  const json = JSON.stringify(values);
  return json.slice(1, json.length - 1);
}

/**
 * `rowHash(prev, row)` for a row whose body text is `body` (bodyText of its values). `id` and
 * `droppedTotal` are safe integers, whose JSON is their decimal text.
 */
export function chainHash(prevHash: string, id: number, body: string, droppedTotal: number): string {
  return hash("sha256", `${prevHash}\n[${id},${body},${droppedTotal}]`, "hex");
}

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
