/**
 * flows/writer — the one place rows enter the flow store: a batch of events becomes one
 * transaction that extends the hash chain.
 *
 *   BEGIN IMMEDIATE; read the chain head (meta.head_id/head_hash); add the batch's dropped
 *   events to counters.dropped_events; INSERT each row with dropped_total, prev_hash and
 *   row_hash (flows/chain.ts); move the head; COMMIT.
 *
 *   Each row's canonical text (chain.ts) is built once, by `prepareEvents`: its body is the
 *   JSON of the row's values, which is also what crosses to the worker thread (one string per
 *   batch, cheap to post) and what the worker parses back into the values it binds.
 *
 * Map: store.ts runs a BatchWriter either in a worker thread (store-worker.ts, the default:
 * SQLite time and fsyncs stay off the data path's thread) or inline. The head is read inside
 * the transaction, so several writers (processes) of one file still build one valid chain,
 * and a writer continuing after rows were cut off the end chains from the recorded head, so
 * the cut shows in `flows verify`.
 * Throws on failure (the transaction is rolled back; the caller keeps the batch).
 */
import { randomBytes } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { performance } from "node:perf_hooks";
import type { FlowEvent } from "../runtime/events.ts";
import { bodyText, chainHash, rowBodyValues, type BodyValue } from "./chain.ts";
import { FlowStoreError } from "./errors.ts";
import { eventToRow } from "./record.ts";
import { HASHED_COLUMNS, ensureSchema } from "./schema.ts";

export interface WriterOptions {
  readonly busyTimeoutMs?: number;
  readonly now?: () => number;
}

export interface BatchWriter {
  /**
   * Write `events` and add `droppedDelta` to the drop counter in one transaction; returns its ms.
   * An event that cannot be converted at all (not an object) is counted as dropped.
   */
  write(events: readonly FlowEvent[], droppedDelta: number): number;
  /**
   * Write rows already converted by `prepareEvents` (the worker's path: `bodies` came over as
   * text, `values` is null and each body is parsed here) and add `droppedDelta` to the drop
   * counter, in one transaction; returns its ms.
   */
  writeBodies(bodies: readonly string[], values: ReadonlyArray<readonly BodyValue[]> | null, droppedDelta: number): number;
  close(): void;
}

/** Events converted to rows: each row's body text (chain.ts) and, when kept, its values. */
export interface PreparedEvents {
  readonly bodies: string[];
  readonly values: BodyValue[][];
  /** events that could not be read at all (counted as dropped) */
  readonly unreadable: number;
}

/**
 * Convert events to row bodies (record.ts, chain.ts). Never throws: an event that cannot be
 * read at all is counted in `unreadable`, never allowed to fail (and so block) the whole batch.
 */
export function prepareEvents(events: readonly FlowEvent[], nowMs: number): PreparedEvents {
  const bodies: string[] = [];
  const values: BodyValue[][] = [];
  let unreadable = 0;
  for (const e of events) {
    try {
      const v = rowBodyValues(eventToRow(e, nowMs));
      bodies.push(bodyText(v));
      values.push(v);
    } catch {
      unreadable++;
    }
  }
  return { bodies, values, unreadable };
}

const INSERT_SQL = `INSERT INTO flows (${HASHED_COLUMNS.join(", ")}, prev_hash, row_hash) VALUES (${HASHED_COLUMNS.map(() => "?").join(", ")}, ?, ?)`;

/** Open (creating when needed) a store file for writing. Throws FlowStoreError. */
export function openDbForWriting(path: string, opts: WriterOptions = {}): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (e) {
    throw new FlowStoreError("CF_FLOWS_OPEN", `cannot open ${path}: ${(e as Error).message}`, "check the path and that its directory is writable");
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 1000))}`);
    // larger pages: fewer B-tree pages touched per row (~15% less insert CPU); only takes effect
    // when the file is new (the page size of an existing store is kept)
    db.exec("PRAGMA page_size = 16384");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    ensureSchema(db, path, { create: true, genesis: randomBytes(32).toString("hex"), nowMs: (opts.now ?? Date.now)() });
  } catch (e) {
    db.close();
    if (e instanceof FlowStoreError) throw e;
    throw new FlowStoreError("CF_FLOWS_OPEN", `cannot use ${path} as a flow store: ${(e as Error).message}`, "check that the file is a clawfence flow store and is writable");
  }
  return db;
}

export function openBatchWriter(path: string, opts: WriterOptions = {}): BatchWriter {
  const now = opts.now ?? Date.now;
  const db = openDbForWriting(path, opts);
  const insert = db.prepare(INSERT_SQL);
  const getHead = db.prepare("SELECT (SELECT value FROM meta WHERE key = 'head_id') AS id, (SELECT value FROM meta WHERE key = 'head_hash') AS hash");
  const setMeta = db.prepare("UPDATE meta SET value = ? WHERE key = ?");
  const addDropped = db.prepare("UPDATE counters SET value = value + ? WHERE name = 'dropped_events' RETURNING value");
  const COLS = HASHED_COLUMNS.length + 2;
  const values: Array<string | number | null> = Array.from({ length: COLS }, () => null);
  const writeBodies = (bodies: readonly string[], parsed: ReadonlyArray<readonly BodyValue[]> | null, droppedDelta: number): number => {
    if (bodies.length === 0 && droppedDelta === 0) return 0;
    const t0 = performance.now();
    try {
      db.exec("BEGIN IMMEDIATE");
      const head = getHead.get() as { id: string; hash: string };
      let id = Number(head.id);
      let prev = head.hash;
      const droppedTotal = (addDropped.get(droppedDelta) as { value: number }).value;
      values[COLS - 3] = droppedTotal;
      for (let r = 0; r < bodies.length; r++) {
        const body = bodies[r] as string;
        const v = parsed === null ? (JSON.parse(`[${body}]`) as BodyValue[]) : (parsed[r] as readonly BodyValue[]);
        const h = chainHash(prev, ++id, body, droppedTotal);
        values[0] = id;
        for (let c = 0; c < v.length; c++) values[c + 1] = v[c] as BodyValue;
        values[COLS - 2] = prev;
        values[COLS - 1] = h;
        insert.run(...values);
        prev = h;
      }
      if (bodies.length > 0) {
        setMeta.run(String(id), "head_id");
        setMeta.run(prev, "head_hash");
      }
      db.exec("COMMIT");
    } catch (e) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // SQLite rolls back on close if this fails too
      }
      throw e;
    }
    return performance.now() - t0;
  };
  return {
    write(events: readonly FlowEvent[], droppedDelta: number): number {
      const p = prepareEvents(events, now());
      return writeBodies(p.bodies, p.values, droppedDelta + p.unreadable);
    },
    writeBodies,
    close(): void {
      try {
        db.close();
      } catch {
        // already closed
      }
    },
  };
}
