/**
 * flows/query — filters over the flow store, as SQL with bound parameters, and the parsing
 * of the command line's `--since` values.
 *
 * Map: cli/commands/flows.ts (and learn/report) build a `FlowFilter`; store.ts's reader turns
 * it into `WHERE ...` with `filterSql` and runs it against the indexes in schema.ts.
 * Values are always bound parameters, never spliced into SQL text.
 *
 * Pure: no I/O; the clock comes in as `nowMs`.
 */
import { FlowStoreError } from "./errors.ts";

export interface FlowFilter {
  /** "deny" matches every deny, enforced or not; "would-deny" only monitor-mode denies */
  readonly verdict?: "allow" | "deny" | "would-deny";
  /** exact rule name ("default" for the policy default) */
  readonly rule?: string;
  /** glob over the name: `*` any run of characters, `?` one character; case-insensitive */
  readonly name?: string;
  readonly sandbox?: string;
  readonly kind?: string;
  /** rows with ts >= sinceMs */
  readonly sinceMs?: number;
  /** rows with ts < untilMs */
  readonly untilMs?: number;
  /** rows with id > afterId (for following the log) */
  readonly afterId?: number;
  /** rows with id <= throughId */
  readonly throughId?: number;
  readonly policyHash?: string;
}

export interface SqlWhere {
  readonly sql: string;
  readonly params: Array<string | number>;
}

/** SQLite GLOB is case-sensitive and has [] classes; we lower-case names and escape '['. */
function globToSqlite(pattern: string): string {
  return pattern.toLowerCase().replace(/\[/g, "[[]");
}

export function filterSql(f: FlowFilter): SqlWhere {
  const parts: string[] = [];
  const params: Array<string | number> = [];
  switch (f.verdict) {
    case undefined:
      break;
    case "allow":
      parts.push("verdict = 'allow'");
      break;
    case "deny":
      parts.push("verdict = 'deny'");
      break;
    case "would-deny":
      parts.push("verdict = 'deny' AND enforced = 0");
      break;
    default: {
      const never: never = f.verdict;
      throw new FlowStoreError("CF_FLOWS_FILTER", `unknown verdict '${String(never)}'`, "use allow, deny or would-deny");
    }
  }
  if (f.rule !== undefined) {
    parts.push("rule = ?");
    params.push(f.rule);
  }
  if (f.name !== undefined) {
    parts.push("lower(name) GLOB ?");
    params.push(globToSqlite(f.name));
  }
  if (f.sandbox !== undefined) {
    parts.push("sandbox = ?");
    params.push(f.sandbox);
  }
  if (f.kind !== undefined) {
    parts.push("kind = ?");
    params.push(f.kind);
  }
  if (f.policyHash !== undefined) {
    parts.push("policy_hash = ?");
    params.push(f.policyHash);
  }
  if (f.sinceMs !== undefined) {
    parts.push("ts_ms >= ?");
    params.push(f.sinceMs);
  }
  if (f.untilMs !== undefined) {
    parts.push("ts_ms < ?");
    params.push(f.untilMs);
  }
  if (f.afterId !== undefined) {
    parts.push("id > ?");
    params.push(f.afterId);
  }
  if (f.throughId !== undefined) {
    parts.push("id <= ?");
    params.push(f.throughId);
  }
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", params };
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--since` / `--until`: a duration back from now (`90s`, `30m`, `1h`, `2d`, `1w`, `1h30m`) or an
 * ISO 8601 time (`2025-01-31T12:00:00Z`, `2025-01-31`). Returns epoch milliseconds.
 */
export function parseSince(text: string, nowMs: number): number {
  const t = text.trim();
  if (/^([0-9]+(ms|s|m|h|d|w))+$/.test(t)) {
    let ms = 0;
    for (const m of t.matchAll(/([0-9]+)(ms|s|m|h|d|w)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
    return nowMs - ms;
  }
  if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$/.test(t)) {
    const [y, m, d] = t.slice(0, 10).split("-").map(Number) as [number, number, number];
    const day = new Date(Date.UTC(y, m - 1, d));
    const ms = Date.parse(t);
    // Date.parse rolls 2025-02-30 over into March; a date that does not exist is refused
    if (Number.isFinite(ms) && day.getUTCMonth() === m - 1 && day.getUTCDate() === d) return ms;
  }
  throw new FlowStoreError(
    "CF_FLOWS_SINCE",
    `'${text}' is not a duration or a time`,
    "write a duration back from now such as 90s, 30m, 1h, 2d, 1h30m, or an ISO 8601 time such as 2025-01-31T12:00:00Z",
  );
}
