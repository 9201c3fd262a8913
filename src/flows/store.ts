/**
 * flows/store — the flow log: an EventSink that batches flow events into SQLite (node:sqlite,
 * no native addon), and a reader for commands (flows, learn, report, verify).
 *
 * Map (writing):  data path --emit(e)--> bounded queue --every 50 ms, or at 1000 queued-->
 *   one batch per turn of the event loop --> writer (flows/writer.ts): one transaction per
 *   batch that extends the hash chain (flows/chain.ts).
 *   By default the writer runs in a worker thread (flows/store-worker.ts): the emitting
 *   thread only pushes onto an array and, per batch, converts the events to their row text
 *   (the canonical JSON the chain hashes, writer.ts prepareEvents) and posts it as one
 *   string (structured-cloning objects cost several times more), so SQLite time, WAL checkpoints and
 *   fsyncs never stall the DNS guard or the proxy (`stats().maxPauseMs` is what this thread
 *   paid; bench/flows.bench.ts measures it). `thread: "inline"` writes on this thread in
 *   batches of `batchRows` (tests and short-lived tools).
 *   `emit()` never blocks, never throws and never touches SQLite. When `queueCapacity`
 *   events are held (queued plus handed to the writer and not yet committed) the event is
 *   dropped and counted; the count goes into `counters.dropped_events` with the next batch,
 *   and every row records the counter at its commit (`dropped_total`, covered by the chain).
 *   A failed write (disk full, a lock held too long) is rolled back and retried; new events
 *   are dropped and counted once the memory bound is reached. Several processes may write
 *   one file: the chain head is read inside each transaction.
 *
 * Map (reading): `openFlowReader(path)` checks the schema (refusing newer versions) and
 *   answers filtered queries (flows/query.ts), grouped counts, the drop counter, and
 *   `verify()` (the hash chain walk).
 *
 * API (stable; learn/report build on it):
 *   openFlowStore(path, opts?) -> FlowStore  { emit, flush, stats, close, path } (flush/close synchronous)
 *   openFlowReader(path)       -> FlowReader { meta, droppedTotal, count, maxId, rows, iterate,
 *                                              query, countBy, summary, verify, close, path }
 *   FlowRecord / rowToRecord / verdictLabel (flows/record.ts), FlowFilter / parseSince
 *   (flows/query.ts), FlowStoreError (flows/errors.ts), VerifyResult (flows/chain.ts)
 *
 * Must not import cli/ or anything that opens sockets. Durability: WAL with
 * synchronous=NORMAL (a power cut may lose the last batches, never corrupt the file).
 */
import { existsSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import type { EventSink, FlowEvent } from "../runtime/events.ts";
import { verifyChain, type VerifyResult } from "./chain.ts";
import { FlowStoreError } from "./errors.ts";
import { filterSql, type FlowFilter } from "./query.ts";
import { rowToRecord, type FlowRecord } from "./record.ts";
import { SCHEMA_VERSION, ensureSchema, readMeta, type FlowRow } from "./schema.ts";
import { openBatchWriter, openDbForWriting, prepareEvents } from "./writer.ts";

export type { FlowFilter } from "./query.ts";
export type { FlowRecord } from "./record.ts";
export type { FlowRow } from "./schema.ts";
export type { VerifyResult } from "./chain.ts";
export { parseSince } from "./query.ts";
export { rowToRecord, verdictLabel } from "./record.ts";
export { FlowStoreError } from "./errors.ts";

export interface FlowStoreOptions {
  /** events held in memory (queued plus handed to the writer) before emit() drops (default 100_000) */
  readonly queueCapacity?: number;
  /** events per transaction, and per hand-over to the worker (default 1000) */
  readonly batchRows?: number;
  /** how often queued events are handed to the writer (default 50 ms) */
  readonly flushIntervalMs?: number;
  /** how long a write waits for another writer's lock (default: 1000 ms in the worker, 20 inline) */
  readonly busyTimeoutMs?: number;
  /**
   * "worker" (default): SQLite runs in a worker thread; the data path's thread only queues and
   * posts batches. "inline": SQLite runs on this thread in bounded batches (tests, tools).
   */
  readonly thread?: "worker" | "inline";
  /** clock for `meta.created_ms` and events whose `ts` does not parse (default Date.now) */
  readonly now?: () => number;
  /** told about failed writes (the events stay pending and are retried) */
  readonly onError?: (err: Error) => void;
  /** the longest flush()/close() wait for the writer thread (default 10_000 ms) */
  readonly waitTimeoutMs?: number;
}

export interface FlowStoreStats {
  /** events waiting: queued here plus handed to the writer and not yet committed */
  readonly queued: number;
  /** rows committed */
  readonly written: number;
  /** events dropped since open (memory bound reached, emitted after close, or lost at close) */
  readonly dropped: number;
  /** committed transactions */
  readonly flushes: number;
  readonly writeErrors: number;
  /** the longest single write transaction in ms (on the worker's thread in worker mode) */
  readonly maxFlushMs: number;
  /** the longest time in ms the store held the emitting thread in one go (posting or writing a batch) */
  readonly maxPauseMs: number;
}

export interface FlowStore extends EventSink {
  readonly path: string;
  /** queue `e`; returns at once, never throws */
  emit(e: FlowEvent): void;
  /**
   * Write everything emitted so far and wait (synchronously, up to `waitTimeoutMs`) until it is
   * committed. For tests, tools and shutdown; the data path never calls it.
   */
  flush(): void;
  stats(): FlowStoreStats;
  /** flush, persist the drop counter, stop the writer, close the file; idempotent, synchronous */
  close(): void;
}

function workerUrl(): URL {
  return new URL(import.meta.url.endsWith(".ts") ? "./store-worker.ts" : "./store-worker.js", import.meta.url);
}

/** Slots of the shared counters between this thread and the writer thread. */
const SHARED = { committed: 0, transactions: 1, closed: 2, lost: 3, epoch: 4, maxFlushUs: 5 } as const;

/**
 * Open (create when missing) a store for writing and return its sink. Throws FlowStoreError
 * at once when the file cannot be used (another database, a newer schema, no permission).
 */
export function openFlowStore(path: string, opts: FlowStoreOptions = {}): FlowStore {
  const capacity = opts.queueCapacity ?? 100_000;
  const batchRows = Math.max(1, opts.batchRows ?? 1000);
  const waitTimeoutMs = opts.waitTimeoutMs ?? 10_000;
  const mode = opts.thread ?? "worker";
  let queue: FlowEvent[] = [];
  let pendingDropped = 0;
  let dropped = 0;
  let writeErrors = 0;
  let maxFlushMs = 0;
  let maxPauseMs = 0;
  let scheduled = false;
  let closed = false;
  const pause = (t0: number): void => {
    const ms = performance.now() - t0;
    if (ms > maxPauseMs) maxPauseMs = ms;
  };

  // The two ways of writing. `send` hands one batch on and says whether it went;
  // `settle` waits until everything handed on is committed; `finish` closes the writer.
  let send: () => boolean;
  let settle: () => void;
  let finish: () => void;
  let inFlight: () => number;
  let committed: () => { written: number; flushes: number };

  if (mode === "inline") {
    const writer = openBatchWriter(path, { busyTimeoutMs: opts.busyTimeoutMs ?? 20, ...(opts.now ? { now: opts.now } : {}) });
    let written = 0;
    let flushes = 0;
    send = (): boolean => {
      const n = Math.min(queue.length, batchRows);
      const t0 = performance.now();
      try {
        const ms = writer.write(queue.slice(0, n), pendingDropped);
        queue.splice(0, n);
        pendingDropped = 0;
        written += n;
        flushes++;
        if (ms > maxFlushMs) maxFlushMs = ms;
        return true;
      } catch (e) {
        writeErrors++;
        opts.onError?.(e as Error);
        return false;
      } finally {
        pause(t0);
      }
    };
    settle = (): void => {};
    finish = (): void => writer.close();
    inFlight = (): number => 0;
    committed = () => ({ written, flushes });
  } else {
    // open once here so a bad file fails now, synchronously, with its FlowStoreError
    openDbForWriting(path, opts.now ? { now: opts.now } : {}).close();
    const shared = new BigInt64Array(new SharedArrayBuffer(8 * 6));
    const worker = new Worker(workerUrl(), { workerData: { path, busyTimeoutMs: opts.busyTimeoutMs ?? 1000, shared } });
    worker.unref();
    let posted = 0;
    let failed = false;
    let seq = 0;
    const load = (slot: number): number => Number(Atomics.load(shared, slot));
    const fail = (err: Error): void => {
      if (failed || closed) return;
      failed = true;
      writeErrors++;
      // the writer is gone: what it held is lost, and counted
      dropped += posted - load(SHARED.committed) + queue.length + pendingDropped;
      posted = load(SHARED.committed);
      queue = [];
      pendingDropped = 0;
      opts.onError?.(err);
    };
    worker.on("message", (m: { type: string; message?: string; code?: string }) => {
      if (m.type === "error") {
        writeErrors++;
        opts.onError?.(Object.assign(new Error(m.message ?? "write failed"), { code: m.code }));
      }
    });
    worker.on("error", (err) => fail(err));
    worker.on("exit", () => fail(new Error("the flow store's writer thread exited")));
    const now = opts.now ?? Date.now;
    send = (): boolean => {
      if (failed) return false;
      const n = Math.min(queue.length, batchRows);
      const t0 = performance.now();
      // convert here, once: the worker gets one string (cheap to post; objects are not) and
      // hashes and binds exactly the text made here (writer.ts prepareEvents)
      const p = prepareEvents(queue.splice(0, n), now());
      posted += p.bodies.length;
      dropped += p.unreadable;
      worker.postMessage({ type: "batch", seq: seq + 1, n: p.bodies.length, text: p.bodies.join("\n"), dropped: pendingDropped + p.unreadable });
      seq++;
      pendingDropped = 0;
      pause(t0);
      return true;
    };
    const waitFor = (done: () => boolean): void => {
      const deadline = performance.now() + waitTimeoutMs;
      while (!done() && !failed) {
        const left = deadline - performance.now();
        if (left <= 0) return;
        const epoch = Atomics.load(shared, SHARED.epoch);
        if (done()) return;
        Atomics.wait(shared, SHARED.epoch, epoch, Math.min(left, 100));
      }
    };
    settle = (): void => waitFor(() => load(SHARED.committed) >= posted);
    finish = (): void => {
      if (!failed) {
        worker.postMessage({ type: "close" });
        waitFor(() => load(SHARED.closed) === 1);
        const notWritten = posted - load(SHARED.committed);
        if (notWritten > 0) dropped += notWritten;
        failed = true; // nothing more goes to this worker
      }
      void worker.terminate();
    };
    inFlight = (): number => (failed ? 0 : posted - load(SHARED.committed));
    committed = () => {
      maxFlushMs = load(SHARED.maxFlushUs) / 1000;
      return { written: load(SHARED.committed), flushes: load(SHARED.transactions) };
    };
  }

  /** One turn: one batch; if more is queued, come back on the next turn of the event loop. */
  function tick(): void {
    scheduled = false;
    if (closed || (queue.length === 0 && pendingDropped === 0)) return;
    if (send() && (queue.length > 0 || pendingDropped > 0)) schedule();
  }
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(tick);
  }

  const timer = setInterval(() => {
    if (queue.length > 0 || pendingDropped > 0) schedule();
  }, Math.max(1, opts.flushIntervalMs ?? 50));
  timer.unref();

  const store: FlowStore = {
    path,
    emit(e: FlowEvent): void {
      if (closed || queue.length + inFlight() >= capacity || typeof e !== "object" || e === null) {
        dropped++;
        if (!closed) pendingDropped++;
        return;
      }
      queue.push(e);
      if (queue.length === batchRows) schedule();
    },
    flush(): void {
      if (closed) return;
      while ((queue.length > 0 || pendingDropped > 0) && send()) {
        // hand everything on (inline: write it)
      }
      settle();
    },
    stats: () => {
      const c = committed();
      return { queued: queue.length + inFlight(), ...c, dropped, writeErrors, maxFlushMs, maxPauseMs };
    },
    close(): void {
      if (closed) return;
      store.flush();
      closed = true;
      clearInterval(timer);
      // whatever could not be written is counted as dropped
      dropped += queue.length;
      queue = [];
      finish();
    },
  };
  return store;
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
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (e) {
    throw new FlowStoreError("CF_FLOWS_OPEN", `cannot open ${path}: ${(e as Error).message}`, "check the path and its permissions");
  }
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
