/**
 * runtime/enforce/policy-edit — `clawfence allow HOST[:PORT]` as a text edit of the policy
 * file (seed 002's allow-domain.sh, without re-resolving anything): the YAML document is edited
 * with the `yaml` package's document model, so comments, key order and the other rules stay
 * as they were written.
 *
 * Where the entry goes: `--rule NAME` (an existing allow rule; its ports must already cover
 * PORT, since widening a rule's ports would open them for every entry of it), else the rule
 * `allowed-by-cli` when its ports are exactly the ones asked for, else `allowed-by-cli-PORT`
 * (`allowed-by-cli-all-ports` without a port); a missing rule is appended to `rules` with
 * `protocol: tcp` and the port (or no ports and protocol any, "all ports on that host" as in
 * allowlist.conf). The caller then loads and checks the result before writing it.
 *
 * Pure: text in, text out (no file I/O); errors are RuntimeError CF_RUNTIME_ALLOW_*.
 */
import { isMap, isScalar, isSeq, parseDocument, YAMLMap, YAMLSeq, Scalar } from "yaml";
import { RuntimeError } from "../errors.ts";

export interface AllowRequest {
  /** as the user wrote it: a name, `*.name`, an IPv4/IPv6 address or CIDR */
  readonly host: string;
  readonly port: number | null;
  readonly comment?: string;
  readonly rule?: string;
}

export interface AllowEdit {
  readonly text: string;
  readonly rule: string;
  readonly created: boolean;
  /** the entry was already there: nothing changed */
  readonly unchanged: boolean;
}

/** Split `HOST[:PORT]` (`[v6]:port`, `v6` alone, `name:443`, `10.0.0.0/8`). */
export function parseHostArg(text: string): { host: string; port: number | null } {
  const bad = (): never => {
    throw new RuntimeError("CF_RUNTIME_ALLOW_HOST", `'${text}' is not HOST or HOST:PORT`, "write e.g. api.example.com:443, *.example.com, 192.0.2.7:22 or [2001:db8::1]:443", 2);
  };
  let host = text.trim();
  let port: string | null = null;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (br) {
    host = br[1] ?? "";
    port = br[2] ?? null;
  } else if ((host.match(/:/g) ?? []).length === 1) {
    const i = host.indexOf(":");
    port = host.slice(i + 1);
    host = host.slice(0, i);
  }
  if (host === "" || /\s/.test(host)) bad();
  if (port === null) return { host, port: null };
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) bad();
  return { host, port: n };
}

function portsOf(rule: YAMLMap): string | null {
  const p = rule.get("ports", true) as unknown;
  if (p === undefined || p === null) return null;
  if (isSeq(p)) return p.items.map((i) => String(isScalar(i) ? i.value : i)).join(",");
  if (isScalar(p)) return String(p.value);
  return "?";
}

function entries(rule: YAMLMap): YAMLSeq | null {
  const a = rule.get("allow", true) as unknown;
  return isSeq(a) ? a : null;
}

export function addAllow(text: string, req: AllowRequest): AllowEdit {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) {
    throw new RuntimeError("CF_RUNTIME_ALLOW_YAML", `the policy file is not valid YAML: ${doc.errors[0]?.message ?? ""}`, "fix the file first (clawfence check POLICY)", 1);
  }
  const root = doc.contents as unknown;
  if (!isMap(root)) throw new RuntimeError("CF_RUNTIME_ALLOW_YAML", "the policy file is not a mapping", "fix the file first (clawfence check POLICY)", 1);
  let rules = root.get("rules", true) as unknown;
  if (rules === undefined || rules === null) {
    rules = new YAMLSeq();
    root.set("rules", rules);
  }
  if (!isSeq(rules)) throw new RuntimeError("CF_RUNTIME_ALLOW_YAML", "`rules` is not a list", "fix the file first (clawfence check POLICY)", 1);
  const seq = rules;
  const byName = (n: string): YAMLMap | null => {
    for (const item of seq.items) if (isMap(item) && item.get("name") === n) return item;
    return null;
  };
  const want = req.port === null ? null : String(req.port);

  let name: string;
  let target: YAMLMap | null;
  if (req.rule !== undefined) {
    name = req.rule;
    target = byName(name);
    if (target !== null) {
      if (entries(target) === null) {
        throw new RuntimeError("CF_RUNTIME_ALLOW_RULE", `rule '${name}' is not an allow rule with a list of destinations`, "name an allow rule, or leave out --rule", 2);
      }
      const ports = portsOf(target);
      if (ports !== null && want !== null && !portCovered(ports, req.port ?? 0)) {
        throw new RuntimeError("CF_RUNTIME_ALLOW_PORT", `rule '${name}' allows ports ${ports}, not ${want}`, `leave out --rule (the entry then goes to a rule for port ${want}), or add the port to the rule by hand`, 2);
      }
      if (ports !== null && want === null) {
        throw new RuntimeError("CF_RUNTIME_ALLOW_PORT", `rule '${name}' allows only ports ${ports}; '${req.host}' without a port means every port`, "give the port (HOST:PORT), or leave out --rule", 2);
      }
    }
  } else {
    const plain = byName("allowed-by-cli");
    if (plain === null || (entries(plain) !== null && portsOf(plain) === want)) {
      name = "allowed-by-cli";
      target = plain;
    } else {
      name = `allowed-by-cli-${want ?? "all-ports"}`;
      target = byName(name);
    }
  }

  let created = false;
  if (target === null) {
    target = new YAMLMap();
    target.set("name", name);
    target.set("allow", new YAMLSeq());
    if (want !== null) {
      const ports = new YAMLSeq();
      ports.flow = true;
      ports.add(req.port);
      target.set("ports", ports);
      target.set("protocol", "tcp");
    }
    seq.add(target);
    created = true;
  }
  const list = entries(target);
  if (list === null) throw new RuntimeError("CF_RUNTIME_ALLOW_RULE", `rule '${name}' has no allow list`, "name an allow rule, or leave out --rule", 2);
  if (list.items.some((i) => isScalar(i) && String(i.value).toLowerCase() === req.host.toLowerCase())) {
    return { text, rule: name, created: false, unchanged: true };
  }
  const entry = new Scalar(req.host);
  if (/^[*[]|:/.test(req.host)) entry.type = Scalar.QUOTE_DOUBLE;
  if (req.comment !== undefined && req.comment.trim() !== "") entry.comment = ` ${req.comment.replace(/[\r\n]+/g, " ").trim()}`;
  if (list.flow && req.comment !== undefined) list.flow = false; // a comment needs block style
  list.add(entry);
  return { text: doc.toString(), rule: name, created, unchanged: false };
}

function portCovered(ports: string, port: number): boolean {
  return ports.split(",").some((p) => {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(p);
    if (!m) return false;
    const from = Number(m[1]);
    const to = m[2] !== undefined ? Number(m[2]) : from;
    return port >= from && port <= to;
  });
}
