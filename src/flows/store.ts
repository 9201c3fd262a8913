/**
 * flows/store — the flow log: an EventSink that batches flow events into SQLite (node:sqlite,
 * no native addon), and a reader for commands (flows, learn, report, verify).
 *
 * Map (writing):  data path --emit(e)--> bounded queue --timer/size--> one transaction per
 *   batch: BEGIN IMMEDIATE; read the chain head from meta; add pending drops to the counter;
 *   INSERT each row with prev_hash/row_hash (flows/chain.ts); move the head; COMMIT.
 *   `emit()` only pushes onto an array: it never blocks, never throws, never touches SQLite.
 *   When the queue holds `queueCapacity` events the event is dropped and counted; the count
 *   goes into `counters.dropped_events` with the next batch, and every row records the
 *   counter's value at its commit (`dropped_total`, covered by the hash chain).
 *   A batch is at most `batchRows` rows, and batches after the first run in later turns of
 *   the event loop (setImmediate), so one flush never stalls the DNS guard or the proxy for
 *   longer than one batch (measured by bench/flows.bench.ts; `stats().maxFlushMs`).
 *   If a write fails (disk full, the file locked by another writer for more than
 *   `busyTimeoutMs`) the batch is rolled back, the events stay queued, and `onError` is told;
 *   new events are dropped and counted once the queue is full.
 *   Several processes may write one database: the chain head is read inside each write
 *   transaction, so their rows interleave into one valid chain.
 *
 * Map (reading): `openFlowReader(path)` checks the schema (refusing newer versions), and
 *   answers filtered queries (flows/query.ts), grouped counts, the drop counter, and
 *   `verify()` (the hash chain walk).
 *
 * API (stable; learn/report build on it):
 *   openFlowStore(path, opts?) -> FlowStore  { emit, flush, stats, close, path }
 *   openFlowReader(path)       -> FlowReader { meta, droppedTotal, count, maxId, rows, iterate,
 *                                              query, countBy, summary, verify, close, path }
 *   FlowRecord / rowToRecord (flows/record.ts), FlowFilter / parseSince (flows/query.ts),
 *   FlowStoreError (flows/errors.ts), VerifyResult (flows/chain.ts)
 *
 * Must not import cli/ or anything that opens sockets. Durability: WAL with
 * synchronous=NORMAL (a power cut may lose the last batches, never corrupt the file).
 */
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { performance } from "node:perf_hooks";
import type { EventSink, FlowEvent } from "../runtime/events.ts";
import { rowHash, verifyChain, type VerifyResult } from "./chain.ts";
import { FlowStoreError } from "./errors.ts";
import { filterSql, type FlowFilter } from "./query.ts";
import { eventToRow, rowToRecord, type FlowRecord } from "./record.ts";
import { HASHED_COLUMNS, SCHEMA_VERSION, ensureSchema, readMeta, type FlowRow } from "./schema.ts";

export type { FlowFilter } from "./query.ts";
export type { FlowRecord } from "./record.ts";
export type { FlowRow } from "./schema.ts";
export type { VerifyResult } from "./chain.ts";
export { parseSince } from "./query.ts";
export { rowToRecord, verdictLabel } from "./record.ts";
export { FlowStoreError } from "./errors.ts";

export interface FlowStoreOptions {
  /** events waiting in memory before emit() starts dropping (default 100_000) */
  readonly queueCapacity?: number;
  /** rows per transaction: bounds the event-loop pause of one write (default 1000) */
  readonly batchRows?: number;
  /** how often queued events are written (default 50 ms) */
  readonly flushIntervalMs?: number;
  /** how long a write waits for another writer's lock before retrying later (default 20 ms) */
  readonly busyTimeoutMs?: number;
  /** clock for `meta.created_ms` and for events whose `ts` does not parse (default Date.now) */
  readonly now?: () => number;
  /** told about failed writes (the events stay queued and are retried) */
  readonly onError?: (err: Error) => void;
}

export interface FlowStoreStats {
  /** events waiting to be written */
  readonly queued: number;
  /** rows committed by this store */
  readonly written: number;
  /** events this store dropped since it opened (queue full, or emitted after close) */
  readonly dropped: number;
  readonly flushes: number;
  readonly writeErrors: number;
  /** the longest single write transaction in ms: the worst pause this store put on the event loop */
  readonly maxFlushMs: number;
}

export interface FlowStore extends EventSink {
  readonly path: string;
  /** queue `e`; returns at once, never throws */
  emit(e: FlowEvent): void;
  /** write everything queued now, synchronously (in batches of `batchRows`) */
  flush(): void;
  stats(): FlowStoreStats;
  /** flush, persist the drop counter, stop the timer, close the file; idempotent */
  close(): void;
}

function openDb(path: string, readOnly: boolean): DatabaseSync {
  try {
    return new DatabaseSync(path, readOnly ? { readOnly: true } : {});
  } catch (e) {
    throw new FlowStoreError("CF_FLOWS_OPEN", `cannot open ${path}: ${(e as Error).message}`, "check the path and its permissions");
  }
}

const INSERT_SQL = `INSERT INTO flows (${HASHED_COLUMNS.join(", ")}, prev_hash, row_hash) VALUES (${HASHED_COLUMNS.map(() => "?").join(", ")}, ?, ?)`;

export function openFlowStore(path: string, opts: FlowStoreOptions = {}): FlowStore {
  const capacity = opts.queueCapacity ?? 100_000;
  const batchRows = Math.max(1, opts.batchRows ?? 1000);
  const now = opts.now ?? Date.now;
  const db = openDb(path, false);
  let closed = false;
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 20))}`);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    ensureSchema(db, path, { create: true, genesis: randomBytes(32).toString("hex"), nowMs: now() });
  } catch (e) {
    db.close();
    if (e instanceof FlowStoreError) throw e;
    throw new FlowStoreError("CF_FLOWS_OPEN", `cannot use ${path} as a flow store: ${(e as Error).message}`, "check that the file is a clawfence flow store and is writable");
  }
  const insert = db.prepare(INSERT_SQL);
  const getHead = db.prepare("SELECT (SELECT value FROM meta WHERE key = 'head_id') AS id, (SELECT value FROM meta WHERE key = 'head_hash') AS hash");
  const setMeta = db.prepare("UPDATE meta SET value = ? WHERE key = ?");
  const addDropped = db.prepare("UPDATE counters SET value = value + ? WHERE name = 'dropped_events' RETURNING value");

  let queue: FlowEvent[] = [];
  let pendingDropped = 0;
  let dropped = 0;
  let written = 0;
  let flushes = 0;
  let writeErrors = 0;
  let maxFlushMs = 0;
  let scheduled = false;
  const values: Array<string | number | null> = Array.from({ length: HASHED_COLUMNS.length + 2 }, () => null);

  /** Write up to `batchRows` queued events in one transaction. Returns false when it failed. */
  function writeBatch(): boolean {
    const n = Math.min(queue.length, batchRows);
    if (n === 0 && pendingDropped === 0) return true;
    const t0 = performance.now();
    const droppedDelta = pendingDropped;
    try {
      db.exec("BEGIN IMMEDIATE");
      const head = getHead.get() as { id: string; hash: string };
      let id = Number(head.id);
      let prev = head.hash;
      const counter = addDropped.get(droppedDelta) as { value: number };
      const droppedTotal = counter.value;
      const nowMs = now();
      for (let i = 0; i < n; i++) {
        const row = eventToRow(queue[i] as FlowEvent, nowMs) as FlowRow;
        row.id = ++id;
        row.dropped_total = droppedTotal;
        const h = rowHash(prev, row);
        for (let c = 0; c < HASHED_COLUMNS.length; c++) values[c] = row[HASHED_COLUMNS[c] as keyof FlowRow] as string | number | null;
        values[HASHED_COLUMNS.length] = prev;
        values[HASHED_COLUMNS.length + 1] = h;
        insert.run(...values);
        prev = h;
      }
      if (n > 0) {
        setMeta.run(String(id), "head_id");
        setMeta.run(prev, "head_hash");
      }
      db.exec("COMMIT");
    } catch (e) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // the rollback failing leaves SQLite to roll back on close; nothing else to do
      }
      writeErrors++;
      opts.onError?.(e as Error);
      return false;
    }
    queue.splice(0, n);
    pendingDropped -= droppedDelta;
    written += n;
    flushes++;
    const ms = performance.now() - t0;
    if (ms > maxFlushMs) maxFlushMs = ms;
    return true;
  }

  /** One turn: one batch; if more is queued, come back on the next turn of the event loop. */
  function tick(): void {
    scheduled = false;
    if (closed) return;
    if (writeBatch() && queue.length > 0) schedule();
  }

  function schedule(): void {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(tick);
  }

  const timer = setInterval(() => {
    if (queue.length > 0 || pendingDropped > 0) schedule();
  }, Math.max(1, opts.flushIntervalMs ?? 50));
  timer.unref();

  return {
    path,
    emit(e: FlowEvent): void {
      if (closed || queue.length >= capacity) {
        dropped++;
        if (!closed) pendingDropped++;
        return;
      }
      queue.push(e);
      if (queue.length === batchRows) schedule();
    },
    flush(): void {
      if (closed) return;
      while (queue.length > 0 || pendingDropped > 0) {
        if (!writeBatch()) return;
      }
    },
    stats: () => ({ queued: queue.length, written, dropped, flushes, writeErrors, maxFlushMs }),
    close(): void {
      if (closed) return;
      this.flush();
      closed = true;
      clearInterval(timer);
      // events that could not be written (a failing disk) are counted as dropped
      dropped += queue.length;
      queue = [];
      try {
        db.close();
      } catch {
        // already closed
      }
    },
  };
}

export interface StoreMeta {
  readonly schemaVersion: number;
  readonly genesis: string;
  readonly createdMs: number;
  readonly headId: number;
  readonly headHash: string;
}

export interface QueryOptions {
  readonly limit?: number;
  /** by id; default "asc" (oldest first) */
  readonly order?: "asc" | "desc";
}

/** Columns `countBy` may group by. */
export const GROUP_COLUMNS = ["kind", "sandbox", "policy_hash", "name", "qtype", "rcode", "client", "dst_ip", "dst_port", "proto", "verdict", "enforced", "rule", "reason"] as const;
export type GroupColumn = (typeof GROUP_COLUMNS)[number];

export type GroupRow = Partial<Record<GroupColumn, string | number | null>> & {
  readonly count: number;
  readonly first_ms: number;
  readonly last_ms: number;
};

export interface FlowSummary {
  readonly total: number;
  /** ISO 8601 of the oldest and newest matching decision, null when none */
  readonly first: string | null;
  readonly last: string | null;
  readonly allow: number;
  /** enforced denies */
  readonly deny: number;
  /** monitor-mode denies (enforced: false) */
  readonly wouldDeny: number;
  /** events the writers had to drop (whole store, not filtered) */
  readonly dropped: number;
}

export interface FlowReader {
  readonly path: string;
  meta(): StoreMeta;
  /** events dropped by all writers of this store (the persisted counter) */
  droppedTotal(): number;
  count(filter?: FlowFilter): number;
  /** the highest row id, 0 when empty */
  maxId(): number;
  /** raw rows (schema.ts), streamed */
  rows(filter?: FlowFilter, opts?: QueryOptions): IterableIterator<FlowRow>;
  /** JSON records (record.ts), streamed */
  iterate(filter?: FlowFilter, opts?: QueryOptions): IterableIterator<FlowRecord>;
  query(filter?: FlowFilter, opts?: QueryOptions): FlowRecord[];
  /** counts grouped by the given columns, most frequent first */
  countBy(columns: readonly GroupColumn[], filter?: FlowFilter, opts?: { limit?: number }): GroupRow[];
  summary(filter?: FlowFilter): FlowSummary;
  /** walk the hash chain; the first broken link, or how many rows verified */
  verify(): VerifyResult;
  close(): void;
}

/**
 * Open an existing store for reading. Throws FlowStoreError when the file is missing, is not
 * a flow store, or was written by a newer schema.
 */
export function openFlowReader(path: string): FlowReader {
  if (!existsSync(path)) {
    throw new FlowStoreError("CF_FLOWS_NO_DB", `${path} does not exist`, "pass the file given to `clawfence run --flows DB` (or `enforce --flows DB`)");
  }
  // Read-write handle (no writes are made): a read-only handle cannot open a WAL database
  // whose -shm file is gone after a clean close.
  const db = openDb(path, false);
  try {
    db.exec("PRAGMA busy_timeout = 1000");
    ensureSchema(db, path, { create: false });
  } catch (e) {
    db.close();
    if (e instanceof FlowStoreError) throw e;
    throw new FlowStoreError("CF_FLOWS_OPEN", `cannot read ${path}: ${(e as Error).message}`, "check that the file is a clawfence flow store");
  }
  const cache = new Map<string, StatementSync>();
  const stmt = (sql: string): StatementSync => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  const select = (filter: FlowFilter, opts: QueryOptions): { s: StatementSync; params: Array<string | number> } => {
    const w = filterSql(filter);
    const limit = opts.limit !== undefined ? ` LIMIT ${Math.max(0, Math.trunc(opts.limit))}` : "";
    return { s: stmt(`SELECT * FROM flows ${w.sql} ORDER BY id ${opts.order === "desc" ? "DESC" : "ASC"}${limit}`), params: w.params };
  };
  const reader: FlowReader = {
    path,
    meta(): StoreMeta {
      const m = readMeta(db);
      return {
        schemaVersion: Number(m["schema_version"] ?? SCHEMA_VERSION),
        genesis: m["genesis"] ?? "",
        createdMs: Number(m["created_ms"] ?? 0),
        headId: Number(m["head_id"] ?? 0),
        headHash: m["head_hash"] ?? "",
      };
    },
    droppedTotal(): number {
      const r = stmt("SELECT value FROM counters WHERE name = 'dropped_events'").get() as { value: number } | undefined;
      return r?.value ?? 0;
    },
    count(filter: FlowFilter = {}): number {
      const w = filterSql(filter);
      return (stmt(`SELECT count(*) AS n FROM flows ${w.sql}`).get(...w.params) as { n: number }).n;
    },
    maxId(): number {
      return (stmt("SELECT coalesce(max(id), 0) AS n FROM flows").get() as { n: number }).n;
    },
    rows(filter: FlowFilter = {}, opts: QueryOptions = {}): IterableIterator<FlowRow> {
      const { s, params } = select(filter, opts);
      return s.iterate(...params) as IterableIterator<FlowRow>;
    },
    *iterate(filter: FlowFilter = {}, opts: QueryOptions = {}): IterableIterator<FlowRecord> {
      for (const r of reader.rows(filter, opts)) yield rowToRecord(r);
    },
    query(filter: FlowFilter = {}, opts: QueryOptions = {}): FlowRecord[] {
      return [...reader.iterate(filter, opts)];
    },
    countBy(columns: readonly GroupColumn[], filter: FlowFilter = {}, opts: { limit?: number } = {}): GroupRow[] {
      for (const c of columns) {
        if (!(GROUP_COLUMNS as readonly string[]).includes(c)) {
          throw new FlowStoreError("CF_FLOWS_FILTER", `cannot group by '${c}'`, `group by one of: ${GROUP_COLUMNS.join(", ")}`);
        }
      }
      const w = filterSql(filter);
      const cols = columns.join(", ");
      const limit = opts.limit !== undefined ? ` LIMIT ${Math.max(0, Math.trunc(opts.limit))}` : "";
      const sql = `SELECT ${cols}${cols ? ", " : ""}count(*) AS count, min(ts_ms) AS first_ms, max(ts_ms) AS last_ms FROM flows ${w.sql}${cols ? ` GROUP BY ${cols}` : ""} ORDER BY count DESC${cols ? `, ${cols}` : ""}${limit}`;
      return (stmt(sql).all(...w.params) as GroupRow[]).map((r) => ({ ...r }));
    },
    summary(filter: FlowFilter = {}): FlowSummary {
      const w = filterSql(filter);
      const r = stmt(
        `SELECT count(*) AS total, min(ts_ms) AS first_ms, max(ts_ms) AS last_ms,
           coalesce(sum(verdict = 'allow'), 0) AS allow,
           coalesce(sum(verdict = 'deny' AND enforced = 1), 0) AS deny,
           coalesce(sum(verdict = 'deny' AND enforced = 0), 0) AS would_deny
         FROM flows ${w.sql}`,
      ).get(...w.params) as { total: number; first_ms: number | null; last_ms: number | null; allow: number; deny: number; would_deny: number };
      return {
        total: r.total,
        first: r.first_ms === null ? null : new Date(r.first_ms).toISOString(),
        last: r.last_ms === null ? null : new Date(r.last_ms).toISOString(),
        allow: r.allow,
        deny: r.deny,
        wouldDeny: r.would_deny,
        dropped: reader.droppedTotal(),
      };
    },
    verify(): VerifyResult {
      const m = reader.meta();
      const rows = stmt("SELECT * FROM flows ORDER BY id ASC").iterate() as IterableIterator<FlowRow>;
      return verifyChain(rows, m.genesis, { id: m.headId, hash: m.headHash });
    },
    close(): void {
      try {
        db.close();
      } catch {
        // already closed
      }
    },
  };
  return reader;
}
