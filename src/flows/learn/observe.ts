/**
 * flows/learn/observe — what `clawfence learn` reads: observed flows (single events or groups
 * of identical events with a count), and DNS resolutions (name -> answer addresses).
 *
 * Map: the CLI feeds grouped rows from the flow store (`FlowReader.countBy`, so a million
 * events arrive as a few thousand groups) and the DNS rows' answers; tests feed plain
 * `FlowEvent`s through `fromEvents`. Both end up as `ObservedFlow` + `Resolution` values
 * that learn.ts reduces to destinations. A single event is a group with count 1.
 *
 * Pure: no I/O, no clock. Imports only types from the store and the runtime's event shape.
 */
import type { FlowEvent } from "../../runtime/events.ts";
import type { GroupRow } from "../store.ts";

/**
 * One distinct (kind, sandbox, name, address, port, protocol, reason) seen `count` times. The
 * verdict and rule at the time are not part of it: learn decides every flow again against the
 * policy it extends (the policy may have changed since); the reason is kept because the
 * runtime's heuristics (dns-exfiltration, sni-mismatch, ...) cannot be decided again.
 */
export interface ObservedFlow {
  readonly kind: string;
  readonly sandbox: string | null;
  readonly name: string | null;
  readonly dstIp: string | null;
  readonly dstPort: number | null;
  readonly proto: string | null;
  readonly reason: string;
  readonly count: number;
  /** epoch ms of the first and last event of the group */
  readonly firstMs: number;
  readonly lastMs: number;
}

/** A DNS answer: `name` resolved to `answers` in `sandbox` (used to name packet flows). */
export interface Resolution {
  readonly sandbox: string | null;
  readonly name: string;
  readonly answers: readonly string[];
}

/** The columns learn groups the store by (all in the store's GROUP_COLUMNS). */
export const LEARN_GROUP_COLUMNS = ["kind", "sandbox", "name", "dst_ip", "dst_port", "proto", "reason"] as const;

/** A grouped column's value as text (SQLite gives strings, numbers or null). */
const text = (v: string | number | null | undefined): string | null => (typeof v === "string" ? v : v === null || v === undefined ? null : String(v));

/** A grouped store row (from `countBy(LEARN_GROUP_COLUMNS)`) as an observed flow. */
export function fromGroupRow(g: GroupRow): ObservedFlow {
  const port = g.dst_port;
  return {
    kind: text(g.kind) ?? "unknown",
    sandbox: text(g.sandbox),
    name: text(g.name),
    dstIp: text(g.dst_ip),
    dstPort: typeof port === "number" ? port : port === null || port === undefined ? null : Number(port),
    proto: text(g.proto),
    reason: text(g.reason) ?? "",
    count: g.count,
    firstMs: g.first_ms,
    lastMs: g.last_ms,
  };
}

/** A stored DNS row's answers column (JSON array text) as a resolution; null when it has none. */
export function resolutionFromRow(r: { readonly sandbox: string | null; readonly name: string | null; readonly answers: string | null }): Resolution | null {
  if (r.name === null || r.answers === null) return null;
  let list: unknown;
  try {
    list = JSON.parse(r.answers);
  } catch {
    return null;
  }
  if (!Array.isArray(list) || list.length === 0) return null;
  return { sandbox: r.sandbox, name: r.name, answers: list.map(String) };
}

/** Plain events (tests, or a JSONL file) as observed flows and resolutions. */
export function fromEvents(events: Iterable<FlowEvent>): { flows: ObservedFlow[]; resolutions: Resolution[] } {
  const flows: ObservedFlow[] = [];
  const resolutions: Resolution[] = [];
  for (const e of events) {
    const ms = Date.parse(e.ts);
    const t = Number.isFinite(ms) ? ms : 0;
    flows.push({
      kind: e.kind,
      sandbox: e.sandbox ?? null,
      name: e.name,
      dstIp: e.dst_ip,
      dstPort: e.dst_port,
      proto: e.proto,
      reason: e.reason,
      count: 1,
      firstMs: t,
      lastMs: t,
    });
    if (e.kind === "dns" && e.name !== null && e.answers && e.answers.length > 0) {
      resolutions.push({ sandbox: e.sandbox ?? null, name: e.name, answers: e.answers });
    }
  }
  return { flows, resolutions };
}
