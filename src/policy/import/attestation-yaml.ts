/**
 * import/attestation-yaml — seed 000's attestation allowlist (a YAML list of
 * `destination` / `purpose` / `protocol` / `required`) to a v1 policy with phases
 * [bootstrap, workload]: every entry becomes one allow rule of phase `bootstrap` with its
 * port and protocol, `purpose` and `required` go into the rule's description, a comment at
 * the top of the file becomes the policy's description. The workload phase starts empty.
 *
 * Two layouts are accepted: proper YAML (the keys of an entry indented under its `-`), and
 * the flat layout seed 000 prints, where `purpose:`, `protocol:` and `required:` start in
 * the same column as the `- destination:` above them. A flat line is re-indented under its
 * entry before parsing (line numbers unchanged; columns in diagnostics refer to the input).
 *
 * `protocol` is `TRANSPORT/APPLICATION` (`TCP/HTTPS`, `UDP/NTP`) or just `TCP`/`UDP`/`ICMP`;
 * a destination without a port takes the application's well-known port (HTTPS 443, HTTP 80,
 * NTP 123, DNS 53, SSH 22) or is an error.
 *
 * Pure: text in, text out. Throws PolicyError (CF6xxx) listing every bad entry.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from "yaml";
import { PolicyError, type Diagnostic } from "../errors.ts";
import type { SourcePos } from "../ir.ts";
import { importDiag } from "./codes.ts";
import type { ImportOptions, ImportResult } from "./allowlist-conf.ts";
import { parseImportedDest } from "./entry.ts";
import { commentText, policyNameFrom, renderPolicy, slug, uniqueName, type OutRule } from "./yaml-out.ts";

const KEYS = ["destination", "purpose", "protocol", "required"] as const;

const WELL_KNOWN: Readonly<Record<string, number>> = { https: 443, http: 80, ntp: 123, dns: 53, ssh: 22 };

/**
 * Re-indent seed 000's flat entries. Returns the text to parse and, per line (0-based), how
 * many columns were added.
 */
export function unflatten(text: string): { text: string; shift: number[]; changed: number[] } {
  const lines = text.split(/\r?\n/);
  const shift = lines.map(() => 0);
  const changed: number[] = [];
  let item: { dash: number; key: number } | null = null;
  lines.forEach((line, i) => {
    const start = /^(\s*)-\s+([A-Za-z_][A-Za-z0-9_-]*)\s*:/.exec(line);
    if (start) {
      const dash = start[1]?.length ?? 0;
      item = { dash, key: line.indexOf(start[2] ?? "", dash) };
      return;
    }
    if (!item || /^\s*(#|$)/.test(line)) return;
    const key = /^(\s*)([A-Za-z_][A-Za-z0-9_-]*)\s*:/.exec(line);
    const indent = /^\s*/.exec(line)?.[0].length ?? 0;
    if (key && indent <= item.dash && (KEYS as readonly string[]).includes(key[2] ?? "")) {
      const add = item.key - indent;
      lines[i] = " ".repeat(add) + line;
      shift[i] = add;
      changed.push(i + 1);
      return;
    }
    if (indent <= item.dash) item = null;
  });
  return { text: lines.join("\n"), shift, changed };
}

function str(node: unknown): string | null {
  if (!isScalar(node)) return null;
  const v = node.value;
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : null;
}

export function importAttestationYaml(text: string, file: string, opts: ImportOptions = {}): ImportResult {
  const diagnostics: Diagnostic[] = [];
  const src = text.replace(/^\uFEFF/, "");
  const flat = unflatten(src);
  const lc = new LineCounter();
  const doc = parseDocument(flat.text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });

  const posAt = (offset: number | undefined): SourcePos | undefined => {
    if (offset === undefined) return undefined;
    const p = lc.linePos(offset);
    return { file, line: p.line, column: Math.max(1, p.col - (flat.shift[p.line - 1] ?? 0)) };
  };
  const posOf = (node: unknown): SourcePos | undefined => posAt((node as Node | null)?.range?.[0]);

  for (const e of doc.errors) {
    diagnostics.push(importDiag("CF6010", e.message.split("\n")[0] ?? e.message, "fix the YAML syntax; each entry is `- destination: host:port` with purpose, protocol and required below it", posAt(e.pos[0])));
  }
  if (diagnostics.length) throw new PolicyError(diagnostics);
  if (flat.changed.length) {
    diagnostics.push(
      importDiag("CF6019", `read seed 000's flat layout: keys on line(s) ${flat.changed.join(", ")} were taken as belonging to the \`- destination:\` above them`, "indent an entry's keys under its `-` (two spaces) to write proper YAML", { file, line: flat.changed[0] ?? 1, column: 1 }, "info"),
    );
  }

  const root = doc.contents;
  if (!isSeq(root)) {
    throw new PolicyError([
      importDiag("CF6011", root === null ? `${file} is empty` : `${file} is not a YAML list of entries`, "write one `- destination: host:port` entry per destination, with purpose, protocol and required", posOf(root) ?? { file, line: 1, column: 1 }),
    ]);
  }

  const taken = new Set<string>();
  const rules: OutRule[] = [];
  for (const item of root.items) {
    const ipos = posOf(item);
    if (!isMap(item)) {
      diagnostics.push(importDiag("CF6011", "a list item is not a mapping", "write the entry as `- destination: host:port` with purpose, protocol and required below it", ipos));
      continue;
    }
    const fields = new Map<string, { value: string | null; node: unknown }>();
    for (const pair of item.items as Array<Pair<unknown, unknown>>) {
      const k = str(pair.key);
      if (k === null || !(KEYS as readonly string[]).includes(k)) {
        diagnostics.push(importDiag("CF6015", `unknown key '${k ?? "?"}' (known: ${KEYS.join(", ")}); it is not imported`, "remove the key, or move its text into `purpose`", posOf(pair.key), "warning"));
        continue;
      }
      const value = str(pair.value);
      if (value === null) {
        diagnostics.push(importDiag("CF6017", `\`${k}\` must be a single value (text)`, `write \`${k}: ...\` on one line`, posOf(pair.value) ?? posOf(pair.key)));
        continue;
      }
      fields.set(k, { value, node: pair.value });
    }
    const destF = fields.get("destination");
    if (!destF?.value) {
      if (!fields.has("destination")) diagnostics.push(importDiag("CF6012", "an entry has no `destination`", "add `destination: host:port`", ipos));
      continue;
    }
    const dpos = posOf(destF.node);
    const d = parseImportedDest(destF.value.trim());
    if (!d.ok) {
      diagnostics.push(importDiag(d.problem.code, d.problem.message, d.problem.fix, dpos, "error", d.problem.cause ? { cause: d.problem.cause } : undefined));
      continue;
    }
    if (d.value.ambiguous) diagnostics.push(importDiag("CF6007", d.value.ambiguous.message, d.value.ambiguous.fix, dpos, "warning"));
    const protoF = fields.get("protocol");
    if (!protoF?.value) {
      if (!fields.has("protocol")) diagnostics.push(importDiag("CF6016", `'${destF.value}' has no \`protocol\``, "add `protocol: TCP/HTTPS` (or UDP/NTP, TCP, ...)", ipos));
      continue;
    }
    const pm = /^\s*(tcp|udp|icmp)\s*(?:\/\s*([a-z0-9-]+)\s*)?$/i.exec(protoF.value);
    if (!pm) {
      diagnostics.push(importDiag("CF6013", `protocol '${protoF.value}' is not TRANSPORT or TRANSPORT/APPLICATION`, "write TCP/HTTPS, TCP/HTTP, UDP/NTP, TCP, UDP or ICMP", posOf(protoF.node)));
      continue;
    }
    const transport = (pm[1] ?? "tcp").toLowerCase() as "tcp" | "udp" | "icmp";
    const app = pm[2]?.toLowerCase();
    let port = d.value.port;
    if (transport === "icmp") {
      if (port) {
        diagnostics.push(importDiag("CF6018", `'${destF.value}': ICMP has no ports`, `write the destination without ':${port.from}'`, dpos));
        continue;
      }
    } else if (!port) {
      const known = app ? WELL_KNOWN[app] : undefined;
      if (known === undefined) {
        diagnostics.push(importDiag("CF6014", `'${destF.value}' has no port, and protocol '${protoF.value}' names no well-known one`, `write ${destF.value}:PORT`, dpos));
        continue;
      }
      port = { from: known, to: known };
    }
    const purpose = fields.get("purpose")?.value?.trim();
    const required = fields.get("required")?.value?.trim();
    const portText = port ? (port.from === port.to ? `${port.from}` : `${port.from}-${port.to}`) : "";
    const details = [required ? `required: ${required}` : null, `protocol: ${protoF.value.trim()}`].filter((x): x is string => x !== null).join("; ");
    rules.push({
      name: uniqueName(`bootstrap-${slug(d.value.dest)}${portText ? `-${portText}` : ""}`, taken),
      description: `${purpose || `${protoF.value.trim()} to ${destF.value.trim()}`} (${details})`,
      phase: "bootstrap",
      allow: [{ dest: d.value.dest }],
      ports: port ? [port] : null,
      protocol: transport,
      ...(dpos ? { commentBefore: ` from ${file.replace(/^.*[\\/]/, "")} line ${dpos.line}: ${destF.value.trim()}` } : {}),
    });
  }
  if (diagnostics.some((x) => x.severity === "error")) throw new PolicyError(diagnostics);
  if (rules.length === 0) {
    diagnostics.push(importDiag("CF6004", `${file} has no entries; the policy denies everything`, "add `- destination: host:port` entries", undefined, "warning"));
  }

  const base = file.replace(/^.*[\\/]/, "");
  // the comment lines at the top of the file (yaml attaches them to the first item)
  const headerLines: string[] = [];
  for (const line of src.split(/\r?\n/)) {
    const t = line.trim();
    if (t === "" || t === "---") continue;
    if (!t.startsWith("#")) break;
    const c = t.replace(/^#+\s?/, "").trim();
    if (c) headerLines.push(c);
  }
  const headerText = headerLines.join(" ");
  const yaml = renderPolicy({
    name: opts.name ?? policyNameFrom(file, "attestation-bootstrap"),
    description: headerText ? `${headerText} (imported from ${base})` : `Attestation bootstrap allowlist imported from ${base}`,
    header: commentText([
      `Imported from ${base} by \`clawfence import\` (format attestation-yaml).`,
      "Every entry is allowed in phase `bootstrap` only (seed 000: the runtime's needs before the",
      "workload is trusted). Add the workload's destinations as rules with `phase: workload`.",
      "Names that resolve into private ranges need those ranges under `internal:`.",
    ]),
    phases: ["bootstrap", "workload"],
    rules,
  });
  return { yaml, diagnostics };
}
