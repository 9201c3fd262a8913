/**
 * flows/record — the conversions between a FlowEvent (what the data path emits), a stored
 * row (flows/schema.ts) and the JSON record `clawfence flows --format jsonl` prints.
 *
 * The JSON record has the PRODUCT.md section 5 fields always present (null when unknown):
 * `ts` (ISO 8601 UTC with milliseconds, e.g. "2025-01-31T12:00:00.123Z"), `kind`, `name`,
 * `dst_ip`, `dst_port`, `proto`, `verdict`, `enforced`, `rule`, `reason`; then the optional
 * fields when they have a value. Stored records also carry `id`.
 *
 * Pure: no I/O, no clock (the caller passes `nowMs` for events whose `ts` does not parse).
 */
import type { FlowEvent, FlowKind } from "../runtime/events.ts";
import type { Reason } from "../match/decision.ts";
import type { FlowRow } from "./schema.ts";

/** A row before the store gives it an id, a chain position and the drop counter. */
export type NewRow = Omit<FlowRow, "id" | "prev_hash" | "row_hash" | "dropped_total">;

const KNOWN = new Set([
  "ts",
  "kind",
  "name",
  "dst_ip",
  "dst_port",
  "proto",
  "verdict",
  "enforced",
  "rule",
  "reason",
  "detail",
  "qtype",
  "rcode",
  "client",
  "answers",
  "removed",
  "latency_ms",
  "bytes_up",
  "bytes_down",
  "duration_ms",
  "sandbox",
  "policy_hash",
]);

// A lone UTF-16 surrogate cannot be stored as UTF-8: SQLite would keep U+FFFD while the hash
// covered the surrogate, and the row would never verify. Store (and hash) the U+FFFD.
const str = (v: unknown): string | null => {
  if (typeof v === "string") return v.toWellFormed();
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return v === undefined || v === null ? null : (safeJson(v) ?? null);
};
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
// Only safe integers: SQLite refuses a larger number in an INTEGER column of a STRICT table, and
// one such event would fail (and so hold back) its whole batch.
const int = (v: unknown): number | null => {
  if (typeof v !== "number") return null;
  const n = Math.trunc(v);
  return Number.isSafeInteger(n) ? n : null;
};
const list = (v: unknown): string | null => (Array.isArray(v) ? JSON.stringify(v.map(String)) : null);

/**
 * Turn an event into a row. Never throws: fields of the wrong type are stored as null, and
 * fields the schema has no column for go to `extra` (so nothing the emitter said is lost).
 * An unparsable `ts` is replaced by `nowMs` and kept as `extra.ts_raw`.
 */
export function eventToRow(e: FlowEvent, nowMs: number): NewRow {
  const extra: Record<string, unknown> = {};
  let ts = typeof e.ts === "string" ? Date.parse(e.ts) : Number.NaN;
  if (!Number.isFinite(ts)) {
    extra["ts_raw"] = e.ts;
    ts = nowMs;
  }
  for (const k of Object.keys(e)) if (!KNOWN.has(k)) extra[k] = (e as unknown as Record<string, unknown>)[k];
  return {
    ts_ms: ts,
    kind: str(e.kind) ?? "unknown",
    sandbox: str(e.sandbox),
    policy_hash: str(e.policy_hash),
    name: str(e.name),
    qtype: str(e.qtype),
    rcode: str(e.rcode),
    client: str(e.client),
    dst_ip: str(e.dst_ip),
    dst_port: int(e.dst_port),
    proto: str(e.proto),
    verdict: str(e.verdict) ?? "deny",
    enforced: e.enforced === false ? 0 : 1,
    rule: str(e.rule) ?? "",
    reason: str(e.reason) ?? "",
    detail: str(e.detail),
    answers: list(e.answers),
    removed: list(e.removed),
    latency_ms: num(e.latency_ms),
    bytes_up: int(e.bytes_up),
    bytes_down: int(e.bytes_down),
    duration_ms: num(e.duration_ms),
    extra: Object.keys(extra).length > 0 ? safeJson(extra) : null,
  };
}

function safeJson(v: unknown): string | null {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));
  } catch {
    return null;
  }
}

/** One decision as printed by `flows --format jsonl|json` (and written by the JSONL exporter). */
export interface FlowRecord {
  id?: number;
  ts: string;
  kind: FlowKind;
  name: string | null;
  dst_ip: string | null;
  dst_port: number | null;
  proto: "tcp" | "udp" | "icmp" | null;
  verdict: "allow" | "deny";
  enforced: boolean;
  rule: string;
  reason: Reason;
  detail?: string;
  qtype?: string;
  rcode?: string;
  client?: string;
  answers?: string[];
  removed?: string[];
  latency_ms?: number;
  bytes_up?: number;
  bytes_down?: number;
  duration_ms?: number;
  sandbox?: string;
  policy_hash?: string;
  extra?: Record<string, unknown>;
}

function parseList(text: string | null): string[] | undefined {
  if (text === null) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.map(String) : undefined;
  } catch {
    return undefined;
  }
}

/** A stored row as the JSON record (ts as ISO 8601 UTC with milliseconds). */
export function rowToRecord(r: FlowRow): FlowRecord {
  const rec: FlowRecord = {
    id: r.id,
    ts: Number.isFinite(r.ts_ms) ? new Date(r.ts_ms).toISOString() : "",
    kind: r.kind as FlowKind,
    name: r.name,
    dst_ip: r.dst_ip,
    dst_port: r.dst_port,
    proto: r.proto as FlowRecord["proto"],
    verdict: r.verdict as FlowRecord["verdict"],
    enforced: r.enforced !== 0,
    rule: r.rule,
    reason: r.reason as Reason,
  };
  if (r.detail !== null) rec.detail = r.detail;
  if (r.qtype !== null) rec.qtype = r.qtype;
  if (r.rcode !== null) rec.rcode = r.rcode;
  if (r.client !== null) rec.client = r.client;
  const answers = parseList(r.answers);
  if (answers) rec.answers = answers;
  const removed = parseList(r.removed);
  if (removed) rec.removed = removed;
  if (r.latency_ms !== null) rec.latency_ms = r.latency_ms;
  if (r.bytes_up !== null) rec.bytes_up = r.bytes_up;
  if (r.bytes_down !== null) rec.bytes_down = r.bytes_down;
  if (r.duration_ms !== null) rec.duration_ms = r.duration_ms;
  if (r.sandbox !== null) rec.sandbox = r.sandbox;
  if (r.policy_hash !== null) rec.policy_hash = r.policy_hash;
  if (r.extra !== null) {
    try {
      rec.extra = JSON.parse(r.extra) as Record<string, unknown>;
    } catch {
      // a damaged extra column is reported by `flows verify`, not here
    }
  }
  return rec;
}

/**
 * An event as the JSON record, without going through the store (JSONL exporter). The `ts` is
 * normalized to ISO 8601 UTC with milliseconds when it parses, else kept as given.
 */
export function eventToRecord(e: FlowEvent): FlowRecord {
  const row = eventToRow(e, Number.NaN);
  const rec = rowToRecord({ ...row, id: 0, dropped_total: 0, prev_hash: "", row_hash: "" });
  delete rec.id;
  if (!Number.isFinite(row.ts_ms)) {
    rec.ts = String(e.ts);
    if (rec.extra) {
      delete rec.extra["ts_raw"];
      if (Object.keys(rec.extra).length === 0) delete rec.extra;
    }
  }
  return rec;
}

/** "allow", "deny", or "would-deny" (a deny that monitor mode did not enforce). */
export function verdictLabel(verdict: string, enforced: boolean): "allow" | "deny" | "would-deny" {
  if (verdict === "allow") return "allow";
  return enforced ? "deny" : "would-deny";
}
