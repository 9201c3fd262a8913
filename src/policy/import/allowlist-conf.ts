/**
 * import/allowlist-conf — seed 002's `allowlist.conf` (OpenClaw network-egress scripts) to a
 * v1 policy.
 *
 * Input: one entry per line — `host`, `host:port`, an address or CIDR, `[v6]:port` — plus
 * `# comments` (whole-line or after an entry) and blank lines. Every other line is an error
 * with its line number; nothing is dropped silently.
 *
 * Output (YAML text): one allow rule per distinct port set (`allow-443`, `allow-22-443`; a
 * destination written several times with different ports gets all of them), and the
 * destinations written without a port in one rule without `ports:` ("all ports, as in
 * allowlist.conf"). All rules are TCP: the scripts let only DNS through over UDP. Comments
 * directly above entries become the rules' descriptions and stay as YAML comments above
 * those entries; a comment block at the top, separated by a blank line, becomes the policy
 * description; other comments are kept at the end. The document opens with the DNS caveat:
 * the scripts resolved names once at apply time, clawfence resolves per query.
 *
 * Pure: text in, text out. Throws PolicyError (CF6xxx) listing every bad line.
 */
import { PolicyError, type Diagnostic } from "../errors.ts";
import type { PortRange } from "../ir.ts";
import { mergePortRanges } from "../ports.ts";
import { importDiag } from "./codes.ts";
import { parseImportedDest, showEntry } from "./entry.ts";
import { commentText, policyNameFrom, renderPolicy, uniqueName, type OutDest, type OutRule } from "./yaml-out.ts";

export interface ImportOptions {
  /** policy name; default: from the file name */
  readonly name?: string;
}

export interface ImportResult {
  readonly yaml: string;
  /** warnings and infos (errors are thrown) */
  readonly diagnostics: readonly Diagnostic[];
}

interface Entry {
  readonly dest: string;
  readonly port: PortRange | null;
  readonly line: number;
  readonly column: number;
  /** the comment block directly above the entry's paragraph */
  readonly section: string | null;
  readonly inline: string | null;
}

interface DestState {
  readonly dest: string;
  /** null: all ports */
  ports: PortRange[] | null;
  readonly entries: Entry[];
  /** lines of entries seen for each port key, for duplicate reports */
  readonly seen: Map<string, number>;
}

function commentOf(raw: string): string {
  return raw.replace(/^#+\s?/, "").trimEnd();
}

export const DNS_CAVEAT: readonly string[] = [
  "DNS: allowlist.conf's scripts (seed 002) resolved each name once, when the rules were",
  "applied, and let DNS through to any resolver. Under clawfence a name is resolved when the",
  "agent asks: the DNS guard answers only names allowed here, and opens only the answered",
  "addresses, on the rule's ports, for the answer's TTL. A name that resolves into a private",
  "range (10.0.0.0/8, 192.168.0.0/16, ...) is refused unless the range is listed under",
  "`internal:`. Ports are TCP: the scripts let only DNS through over UDP.",
];

function portKey(ports: readonly PortRange[] | null): string {
  return ports === null ? "all" : ports.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join("-");
}

function portsText(ports: readonly PortRange[]): string {
  const list = ports.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`));
  return list.length === 1 ? `TCP port ${list[0] ?? ""}` : `TCP ports ${list.join(", ")}`;
}

export function importAllowlistConf(text: string, file: string, opts: ImportOptions = {}): ImportResult {
  const diagnostics: Diagnostic[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();

  const entries: Entry[] = [];
  let header: string[] | null = null;
  const loose: string[] = [];
  let pending: { lines: string[]; start: number } | null = null;
  let section: string | null = null;
  let prev: "blank" | "comment" | "entry" = "blank";

  const flushLoose = (): void => {
    if (!pending) return;
    if (header === null && entries.length === 0 && pending.start === firstCommentLine) header = pending.lines;
    else loose.push(...pending.lines.map((l, i) => `line ${pending!.start + i}: ${l}`));
    pending = null;
  };
  let firstCommentLine = -1;

  lines.forEach((raw, i) => {
    const no = i + 1;
    const trimmed = raw.trim();
    if (trimmed === "") {
      flushLoose();
      section = null;
      prev = "blank";
      return;
    }
    if (trimmed.startsWith("#")) {
      if (firstCommentLine === -1) firstCommentLine = no;
      if (prev === "entry") section = null;
      if (!pending) pending = { lines: [], start: no };
      pending.lines.push(commentOf(trimmed));
      prev = "comment";
      return;
    }
    if (pending) {
      section = pending.lines.join(" ").trim() || null;
      pending = null;
    }
    prev = "entry";
    const column = raw.length - raw.trimStart().length + 1;
    const hash = /\s#/.exec(trimmed);
    const body = (hash ? trimmed.slice(0, hash.index) : trimmed).trim();
    const inline = hash ? commentOf(trimmed.slice(hash.index).trim()) || null : null;
    const pos = { file, line: no, column };
    if (/\s/.test(body)) {
      const first = body.split(/\s+/)[0] ?? "";
      diagnostics.push(
        importDiag("CF6003", `'${body}': one entry per line (host, host:port, an address or a CIDR), with anything else in a # comment`, `write ${first} and put the rest in a comment: ${first} # ${body.slice(first.length).trim()}`, pos),
      );
      return;
    }
    const r = parseImportedDest(body);
    if (!r.ok) {
      diagnostics.push(importDiag(r.problem.code, r.problem.message, r.problem.fix, pos, "error", r.problem.cause ? { cause: r.problem.cause } : undefined));
      return;
    }
    if (r.value.ambiguous) diagnostics.push(importDiag("CF6007", r.value.ambiguous.message, r.value.ambiguous.fix, pos, "warning"));
    entries.push({ dest: r.value.dest, port: r.value.port, line: no, column, section, inline });
  });
  flushLoose();

  if (diagnostics.some((d) => d.severity === "error")) throw new PolicyError(diagnostics);

  // merge per destination
  const byDest = new Map<string, DestState>();
  for (const e of entries) {
    let s = byDest.get(e.dest);
    if (!s) {
      s = { dest: e.dest, ports: [], entries: [], seen: new Map() };
      byDest.set(e.dest, s);
    }
    const key = e.port ? portKey([e.port]) : "all";
    const dup = s.seen.get(key);
    const pos = { file, line: e.line, column: e.column };
    if (dup !== undefined) {
      diagnostics.push(importDiag("CF6005", `'${showEntry(e.dest, e.port)}' is listed again (first on line ${dup})`, "remove one of the two lines", pos, "warning"));
      continue;
    }
    s.seen.set(key, e.line);
    s.entries.push(e);
    if (e.port === null) s.ports = null;
    else if (s.ports !== null) s.ports = mergePortRanges([...s.ports, e.port]);
  }
  for (const s of byDest.values()) {
    const all = s.seen.get("all");
    if (all === undefined) continue;
    for (const e of s.entries) {
      if (e.port) {
        diagnostics.push(
          importDiag("CF6006", `'${showEntry(e.dest, e.port)}' is covered by '${e.dest}' on line ${all}, which allows all ports`, `remove line ${e.line}, or give line ${all} a port to narrow it`, { file, line: e.line, column: e.column }, "warning"),
        );
      }
    }
  }

  // one rule per distinct port set, in order of first appearance
  const groups = new Map<string, { ports: PortRange[] | null; dests: DestState[] }>();
  for (const s of byDest.values()) {
    const key = portKey(s.ports);
    let g = groups.get(key);
    if (!g) {
      g = { ports: s.ports, dests: [] };
      groups.set(key, g);
    }
    g.dests.push(s);
  }
  const taken = new Set<string>();
  const rules: OutRule[] = [];
  for (const [key, g] of groups) {
    const name = uniqueName(key === "all" ? "allow-all-ports" : `allow-${key}`.length <= 63 ? `allow-${key}` : "allow-ports", taken);
    const notes: string[] = [];
    const allow: OutDest[] = [];
    let lastSection: string | null = null;
    for (const s of g.dests) {
      const e = s.entries[0];
      const comment: string[] = [];
      for (const x of s.entries) {
        for (const c of [x.section, x.inline]) if (c && !notes.includes(c)) notes.push(c);
      }
      if (e && e.section && e.section !== lastSection) comment.push(e.section);
      if (e) lastSection = e.section;
      for (const x of s.entries) if (x.inline) comment.push(x.inline);
      allow.push(comment.length ? { dest: s.dest, commentBefore: commentText(comment) } : { dest: s.dest });
    }
    const what = g.ports === null ? "All ports (TCP), as in allowlist.conf for entries without a port" : `${portsText(g.ports)}, from allowlist.conf`;
    rules.push({ name, description: notes.length ? `${notes.join("; ")}. ${what}` : what, allow, ports: g.ports, protocol: "tcp" });
  }

  if (entries.length === 0) {
    diagnostics.push(importDiag("CF6004", `${file} has no entries; the policy denies everything`, "add lines like api.example.com:443 to the allowlist, or keep the deny-all policy if that is meant", undefined, "warning"));
  }

  const base = file.replace(/^.*[\\/]/, "");
  const headerText = (header as string[] | null)?.join(" ").trim();
  const yaml = renderPolicy({
    name: opts.name ?? policyNameFrom(file, "imported-allowlist"),
    description: headerText ? `${headerText} (imported from ${base})` : `Imported from ${base}`,
    header: commentText([`Imported from ${base} by \`clawfence import\` (format allowlist-conf).`, "", ...DNS_CAVEAT]),
    rules,
    ...(loose.length ? { trailer: commentText([`Other comments in ${base}:`, ...loose]) } : {}),
  });
  diagnostics.sort((a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0));
  return { yaml, diagnostics };
}
