/**
 * flows/schema — the SQLite schema of the flow store, its version, and the column order that
 * the hash chain and the inserts share. docs/flows.md documents the same schema for people.
 *
 * Map: store.ts creates or checks the schema with `ensureSchema` when it opens a database;
 * chain.ts hashes a row's `HASHED_COLUMNS` in this order; query.ts reads `flows` by these
 * names. A change to a column is a new `SCHEMA_VERSION` and a migration step here; a store
 * refuses a database written by a newer version (it cannot know what the new columns mean).
 *
 * Imports node:sqlite types only; no clock, no sockets.
 */
import type { DatabaseSync } from "node:sqlite";
import { FlowStoreError } from "./errors.ts";

/** Bumped on every schema change; stored in `meta.schema_version`. */
export const SCHEMA_VERSION = 1;

/** Tag stored in `meta.format`, so a stranger's SQLite file is not mistaken for a store. */
export const STORE_FORMAT = "clawfence-flows";

/**
 * The columns of `flows` that a row's hash covers, in hashing order. Everything except
 * `prev_hash` and `row_hash` themselves. `id` is included, so moving a row is detected.
 */
export const HASHED_COLUMNS = [
  "id",
  "ts_ms",
  "kind",
  "sandbox",
  "policy_hash",
  "name",
  "qtype",
  "rcode",
  "client",
  "dst_ip",
  "dst_port",
  "proto",
  "verdict",
  "enforced",
  "rule",
  "reason",
  "detail",
  "answers",
  "removed",
  "latency_ms",
  "bytes_up",
  "bytes_down",
  "duration_ms",
  "extra",
  "dropped_total",
] as const;

export type HashedColumn = (typeof HASHED_COLUMNS)[number];

/** A row of `flows` as SQLite returns it. JSON columns are text; booleans are 0/1. */
export interface FlowRow {
  id: number;
  ts_ms: number;
  kind: string;
  sandbox: string | null;
  policy_hash: string | null;
  name: string | null;
  qtype: string | null;
  rcode: string | null;
  client: string | null;
  dst_ip: string | null;
  dst_port: number | null;
  proto: string | null;
  verdict: string;
  enforced: number;
  rule: string;
  reason: string;
  detail: string | null;
  /** JSON array of strings */
  answers: string | null;
  /** JSON array of strings */
  removed: string | null;
  latency_ms: number | null;
  bytes_up: number | null;
  bytes_down: number | null;
  duration_ms: number | null;
  /** JSON object: event fields this schema has no column for (kept, not lost) */
  extra: string | null;
  /** events dropped by writers of this database up to the commit of this row */
  dropped_total: number;
  prev_hash: string;
  row_hash: string;
}

/**
 * Indexes, chosen by what is asked and what each costs per insert (bench/flows.bench.ts):
 * time ranges (`--since`), denies in a time range (a partial index: denies are the minority
 * worth finding fast; allows are the bulk a scan reads anyway), one rule (`--rule`, report),
 * one sandbox. No index on `name`: name filters are globs, usually with a leading `*`, which
 * no B-tree serves, and learn/report group names over a scan; an index there cost ~20% of
 * insert throughput for no query.
 */
const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS flows (
  id            INTEGER PRIMARY KEY,
  ts_ms         INTEGER NOT NULL,
  kind          TEXT    NOT NULL,
  sandbox       TEXT,
  policy_hash   TEXT,
  name          TEXT,
  qtype         TEXT,
  rcode         TEXT,
  client        TEXT,
  dst_ip        TEXT,
  dst_port      INTEGER,
  proto         TEXT,
  verdict       TEXT    NOT NULL,
  enforced      INTEGER NOT NULL,
  rule          TEXT    NOT NULL,
  reason        TEXT    NOT NULL,
  detail        TEXT,
  answers       TEXT,
  removed       TEXT,
  latency_ms    REAL,
  bytes_up      INTEGER,
  bytes_down    INTEGER,
  duration_ms   REAL,
  extra         TEXT,
  dropped_total INTEGER NOT NULL,
  prev_hash     TEXT    NOT NULL,
  row_hash      TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS flows_ts      ON flows (ts_ms);
CREATE INDEX IF NOT EXISTS flows_denies  ON flows (ts_ms) WHERE verdict = 'deny';
CREATE INDEX IF NOT EXISTS flows_rule    ON flows (rule);
CREATE INDEX IF NOT EXISTS flows_sandbox ON flows (sandbox);
CREATE TABLE IF NOT EXISTS counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
`;

function metaValue(db: DatabaseSync, key: string): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
  return row?.value;
}

function tableNames(db: DatabaseSync): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
}

/**
 * Check that `db` is a flow store this version can read (and, when `create`, make it one).
 * `genesis` is the chain's starting value for a new store (random, so a chain copied from
 * another store does not verify here). Throws FlowStoreError for a newer schema or a file
 * that is some other SQLite database.
 */
export function ensureSchema(db: DatabaseSync, path: string, opts: { create: boolean; genesis?: string; nowMs?: number }): void {
  const tables = tableNames(db);
  if (tables.length === 0) {
    if (!opts.create) {
      throw new FlowStoreError("CF_FLOWS_EMPTY_DB", `${path} is an empty database, not a flow store`, "point --db at the file given to `clawfence run --flows`");
    }
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(DDL);
      const put = db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)");
      put.run("format", STORE_FORMAT);
      put.run("schema_version", String(SCHEMA_VERSION));
      put.run("genesis", opts.genesis ?? "0".repeat(64));
      put.run("created_ms", String(opts.nowMs ?? 0));
      put.run("head_id", "0");
      put.run("head_hash", opts.genesis ?? "0".repeat(64));
      db.prepare("INSERT OR IGNORE INTO counters (name, value) VALUES ('dropped_events', 0)").run();
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
    return;
  }
  if (!tables.includes("meta") || metaValue(db, "format") !== STORE_FORMAT) {
    throw new FlowStoreError(
      "CF_FLOWS_NOT_A_STORE",
      `${path} is a SQLite database but not a clawfence flow store`,
      "point --db at the file given to `clawfence run --flows`, or choose a new file name",
    );
  }
  const version = Number(metaValue(db, "schema_version"));
  if (!Number.isInteger(version) || version < 1) {
    throw new FlowStoreError("CF_FLOWS_SCHEMA_INVALID", `${path}: meta.schema_version is missing or not a number`, "the file is damaged; keep it as evidence and start a new store");
  }
  if (version > SCHEMA_VERSION) {
    throw new FlowStoreError(
      "CF_FLOWS_SCHEMA_NEWER",
      `${path} has flow store schema version ${version}; this clawfence understands up to ${SCHEMA_VERSION}`,
      "read it with the clawfence version that wrote it, or upgrade clawfence",
    );
  }
  // version === SCHEMA_VERSION: nothing to migrate yet. Future steps go here, in order,
  // each in its own transaction that also bumps meta.schema_version.
}

export function readMeta(db: DatabaseSync): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of db.prepare("SELECT key, value FROM meta").all() as Array<{ key: string; value: string }>) out[r.key] = r.value;
  return out;
}
