/**
 * flows/learn — `clawfence learn`: the smallest policy that allows what was seen (seed 003's
 * "monitor first, turn observed legitimate destinations into allow rules by review, then
 * enforce"; seed 004's "what the agent actually needs").
 *
 * Map: observed flows (learn/observe.ts; grouped store rows or plain events) and DNS answers
 *   -> probes: one per (destination, protocol, port), a packet without a name named by the DNS
 *      answers that contained its address in the same sandbox (every such name, noted)
 *   -> each probe is classified (first that applies):
 *        unsupported-protocol | heuristic (the runtime flagged it: dns-exfiltration, sni-mismatch,
 *        no-sni, malformed) | shadow-model-provider / doh-resolver / paste-site (learn/classify.ts)
 *        | dns-port (53/853: DNS goes through the guard) | special-range (match/special.ts,
 *        outside `internal`) | invalid-name | already allowed by the base policy (in some phase)
 *        | denied-by-rule (an explicit deny of the base policy, kept) | candidate (only the
 *        default or a final catch-all deny stood in the way)
 *   -> candidate names are grouped by registrable domain (tldts, private PSL section included,
 *      so one tenant of a shared-hosting suffix is its own domain); `*.domain` replaces the
 *      names below it when at least `minSubdomains` distinct ones were seen, it covers no
 *      catalog entry of shared hosting / never-allow, and no reported name; the apex stays exact
 *   -> entries are split into (protocol, observed ports) slices; tcp and udp with the same
 *      ports become `protocol: any`; one rule per slice, named learned-<proto>-<ports>
 *   -> the rules are spliced into the base policy's YAML (learn/yaml-edit.ts) after every
 *      rule but the final catch-all denies (priority chosen so the decided order agrees)
 *   -> verification: the new text is loaded, and every candidate must be allowed by decide()
 *      on it while every reported destination stays as the base policy decided it; failures
 *      are returned as `problems` (the CLI exits 1 on any).
 *
 * Pure: no I/O, no clock (times come from the flows). The loader is injected.
 */
import { getDomain } from "tldts";
import { compileDecider, type Decider } from "../match/decide.ts";
import type { Decision, Flow, IpAddr } from "../match/decision.ts";
import { wildcardMatches } from "../match/names.ts";
import { compileSpecialCheck, classifySpecial } from "../match/special.ts";
import { formatIp, parseIp } from "../policy/addr.ts";
import type { FlowProtocol, Policy, Rule } from "../policy/ir.ts";
import { normalizeName as checkName, publicSuffixWildcardProblem } from "../policy/names.ts";
import type { Fqdn } from "../policy/ir.ts";
import { createClassifier, type NeverAllow } from "./learn/classify.ts";
import { unifiedDiff } from "./learn/diff.ts";
import type { ObservedFlow, Resolution } from "./learn/observe.ts";
import { insertRules, type NewRule } from "./learn/yaml-edit.ts";

export { fromEvents, fromGroupRow, resolutionFromRow, LEARN_GROUP_COLUMNS, type ObservedFlow, type Resolution } from "./learn/observe.ts";
export { unifiedDiff } from "./learn/diff.ts";
export type { NewRule } from "./learn/yaml-edit.ts";

export const DEFAULT_MIN_SUBDOMAINS = 3;

/** Reasons the runtime gives for decisions that must never be learned from. */
const HEURISTIC_REASONS: ReadonlySet<string> = new Set(["dns-exfiltration", "sni-mismatch", "no-sni", "malformed"]);
const DNS_PORTS: ReadonlySet<number> = new Set([53, 853]);

export type NotAddedCategory =
  | NeverAllow
  | "special-range"
  | "dns-port"
  | "denied-by-rule"
  | "heuristic"
  | "dns-only"
  | "invalid-name"
  | "unsupported-protocol";

export interface PortSlice {
  readonly protocol: FlowProtocol;
  /** observed ports, ascending; empty for ICMP */
  readonly ports: readonly number[];
}

/** What was seen of a destination: how often, when, where from, on which ports. */
export interface Evidence {
  readonly count: number;
  readonly firstMs: number;
  readonly lastMs: number;
  readonly sandboxes: readonly string[];
  /** event kinds: dns, proxy, connect, packet */
  readonly kinds: readonly string[];
  readonly slices: readonly PortSlice[];
  /** destination addresses seen (at most 8) */
  readonly addresses: readonly string[];
  /** true when a packet without a name was named by a DNS answer */
  readonly viaDns: boolean;
}

export interface Suggestion {
  /** the entry as written in the rule: `api.example.com`, `*.example.com`, `203.0.113.7` */
  readonly entry: string;
  readonly kind: "domain" | "wildcard" | "address";
  /** the rules the entry was added to */
  readonly rules: readonly string[];
  /** the observed names a wildcard stands for (the name itself for a domain) */
  readonly names: readonly string[];
  readonly evidence: Evidence;
  readonly notes: readonly string[];
}

export interface NotAdded {
  readonly destination: string;
  readonly category: NotAddedCategory;
  readonly detail: string;
  readonly evidence: Evidence;
}

export interface DeclinedWildcard {
  readonly suffix: string;
  readonly names: readonly string[];
  readonly reason: string;
}

export interface LearnOptions {
  /** distinct subdomains needed before `*.domain` replaces them (default 3; 0: never) */
  readonly minSubdomains?: number;
  /** the policy to extend (`--policy`): its text, its file name, and its loaded IR */
  readonly base?: { readonly text: string; readonly file: string; readonly policy: Policy };
  /** text -> Policy (policy/load.ts loadPolicyText with the CLI's reader); throws PolicyError */
  readonly load: (text: string, file: string) => Policy;
  /** name of a fresh policy (default "learned") */
  readonly name?: string;
  /** where the flows came from, for comments (e.g. the database file name) */
  readonly source?: string;
  /** file name a fresh proposal is loaded (and its findings reported) under (default NAME.yaml) */
  readonly file?: string;
}

export interface LearnResult {
  /** the proposed policy's text */
  readonly text: string;
  /** the proposal loaded */
  readonly policy: Policy;
  readonly rules: readonly NewRule[];
  readonly suggestions: readonly Suggestion[];
  readonly notAdded: readonly NotAdded[];
  readonly declinedWildcards: readonly DeclinedWildcard[];
  /** flows (events) and destinations the base policy already allows */
  readonly alreadyAllowed: { readonly flows: number; readonly destinations: number };
  /** events considered */
  readonly totalFlows: number;
  readonly firstMs: number | null;
  readonly lastMs: number | null;
  /** unified diff base -> proposal ("" without a base or when nothing was added) */
  readonly diff: string;
  /** where the rules went and with what priority */
  readonly placement: { readonly before: string | null; readonly priority: number; readonly warning?: string };
  /** true when the YAML had to be re-stringified (learn/yaml-edit.ts) */
  readonly reformatted: boolean;
  /** verification failures: a candidate the proposal does not allow, a reported one it does */
  readonly problems: readonly string[];
}

// ------------------------------------------------------------------ evidence accumulation

class Acc {
  count = 0;
  firstMs = Number.POSITIVE_INFINITY;
  lastMs = Number.NEGATIVE_INFINITY;
  readonly sandboxes = new Set<string>();
  readonly kinds = new Set<string>();
  readonly slices = new Map<FlowProtocol, Set<number>>();
  readonly addresses = new Set<string>();
  viaDns = false;

  add(f: { count: number; firstMs: number; lastMs: number; sandbox: string | null; kind: string }): void {
    this.count += f.count;
    if (f.firstMs < this.firstMs) this.firstMs = f.firstMs;
    if (f.lastMs > this.lastMs) this.lastMs = f.lastMs;
    if (f.sandbox !== null) this.sandboxes.add(f.sandbox);
    this.kinds.add(f.kind);
  }

  slice(protocol: FlowProtocol, port: number | null): void {
    let s = this.slices.get(protocol);
    if (!s) this.slices.set(protocol, (s = new Set()));
    if (port !== null && protocol !== "icmp") s.add(port);
  }

  merge(o: Acc): void {
    this.count += o.count;
    if (o.firstMs < this.firstMs) this.firstMs = o.firstMs;
    if (o.lastMs > this.lastMs) this.lastMs = o.lastMs;
    for (const s of o.sandboxes) this.sandboxes.add(s);
    for (const k of o.kinds) this.kinds.add(k);
    for (const a of o.addresses) this.addresses.add(a);
    for (const [p, ports] of o.slices) for (const port of ports) this.slice(p, port);
    for (const [p, ports] of o.slices) if (ports.size === 0) this.slice(p, null);
    this.viaDns ||= o.viaDns;
  }

  evidence(): Evidence {
    const order: FlowProtocol[] = ["tcp", "udp", "icmp"];
    return {
      count: this.count,
      firstMs: Number.isFinite(this.firstMs) ? this.firstMs : 0,
      lastMs: Number.isFinite(this.lastMs) ? this.lastMs : 0,
      sandboxes: [...this.sandboxes].sort(),
      kinds: [...this.kinds].sort(),
      slices: order.filter((p) => this.slices.has(p)).map((p) => ({ protocol: p, ports: [...(this.slices.get(p) ?? [])].sort((a, b) => a - b) })),
      addresses: [...this.addresses].sort().slice(0, 8),
      viaDns: this.viaDns,
    };
  }
}

/** One (destination, protocol, port) with what was seen of it. */
interface Probe {
  /** normalized name, or null for an address-only destination */
  readonly name: string | null;
  readonly ip: IpAddr | null;
  readonly ipText: string | null;
  readonly proto: string | null;
  readonly port: number | null;
  /** a stored heuristic reason (dns-exfiltration, ...) when the runtime flagged these events */
  readonly heuristic: string | null;
  readonly acc: Acc;
  /** other names that resolved to the same address (packet named by DNS) */
  readonly sharedWith: string[];
}

type Verdict =
  | { readonly kind: "candidate" }
  | { readonly kind: "allowed" }
  | { readonly kind: "reported"; readonly category: NotAddedCategory; readonly detail: string };

function isFlowProtocol(p: string | null): p is FlowProtocol {
  return p === "tcp" || p === "udp" || p === "icmp";
}

function cleanName(name: string): string {
  let n = name.trim();
  if (n.endsWith(".")) n = n.slice(0, -1);
  return n.toLowerCase();
}

function canonicalIp(text: string | null): { ip: IpAddr; text: string } | null {
  if (text === null) return null;
  const t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const ip = parseIp(t);
  return ip ? { ip, text: formatIp(ip) } : null;
}

function phasesOf(p: Policy): Array<string | undefined> {
  return p.phases.length > 0 ? [...p.phases] : [undefined];
}

function flowOf(probe: { name: string | null; ip: IpAddr | null; proto: FlowProtocol; port: number | null }, phase: string | undefined): Flow {
  return {
    protocol: probe.proto,
    ...(probe.port !== null && probe.proto !== "icmp" ? { port: probe.port } : {}),
    ...(probe.ip ? { ip: probe.ip } : {}),
    ...(probe.name !== null ? { names: [probe.name] } : {}),
    ...(phase !== undefined ? { phase } : {}),
  };
}

/** The decisions of every phase (one when the policy has no phases). */
function decideEverywhere(d: Decider, probe: { name: string | null; ip: IpAddr | null; proto: FlowProtocol; port: number | null }): Decision[] {
  return phasesOf(d.policy).map((ph) => d.decide(flowOf(probe, ph)));
}

function nameAllowedEverywhere(d: Decider, name: string): boolean {
  return phasesOf(d.policy).some((ph) => d.decideName(name, ph).grants.length > 0);
}

/** A deny rule that takes every destination on every port and protocol in every phase. */
function isCatchAll(r: Rule): boolean {
  if (r.action !== "deny" || r.protocol !== "any" || r.ports !== null || r.phases !== null) return false;
  return r.dests.some((d) => d.kind === "any" || (d.kind === "cidr" && d.cidr.prefix === 0));
}

// ------------------------------------------------------------------ naming and ports

function portRanges(ports: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of ports) {
    const last = out[out.length - 1];
    if (last && p === last[1] + 1) last[1] = p;
    else out.push([p, p]);
  }
  return out;
}

function portsForYaml(ports: readonly number[]): Array<number | string> {
  return portRanges(ports).map(([a, b]) => (a === b ? a : `${a}-${b}`));
}

function ruleBaseName(protocol: string, ports: readonly number[]): string {
  if (protocol === "icmp") return "learned-icmp";
  const parts = portRanges(ports).map(([a, b]) => (a === b ? String(a) : `${a}-${b}`));
  let label = parts.join("_");
  if (label.length > 40) label = `${parts.slice(0, 3).join("_")}-and-${parts.length - 3}-more`;
  return `learned-${protocol}-${label}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, "Z");
}

const PROTO_ORDER: Readonly<Record<string, number>> = { tcp: 0, any: 1, udp: 2, icmp: 3 };

function compareEntries(a: { entry: string; kind: string; domain: string }, b: { entry: string; kind: string; domain: string }): number {
  const ka = a.kind === "address" ? 1 : 0;
  const kb = b.kind === "address" ? 1 : 0;
  if (ka !== kb) return ka - kb;
  if (a.kind === "address") {
    const x = parseIp(a.entry);
    const y = parseIp(b.entry);
    if (x && y) return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
  }
  return a.domain.localeCompare(b.domain) || a.entry.localeCompare(b.entry);
}

// ------------------------------------------------------------------ the learner

const FRESH_NAME_RE = /^[a-z0-9][a-z0-9-]*$/;

function freshPolicyText(name: string, source: string, total: number, first: number | null, last: number | null): string {
  const when = first !== null && last !== null ? `, ${iso(first)} .. ${iso(last)}` : "";
  return [
    `# Proposed by \`clawfence learn\` from ${source} (${total} flows${when}).`,
    "# Review every rule before enforcing it; destinations that were seen but not added are",
    "# listed in the learn report (run with --explain for the evidence).",
    "version: 1",
    `name: ${name}`,
    `description: ${JSON.stringify(`Destinations observed in ${source}`)}`,
    "default: deny",
    "",
  ].join("\n");
}

/**
 * Propose a policy from observed flows. `flows` may be single events (count 1) or groups;
 * `resolutions` are DNS answers used to name packets that carry only an address.
 */
export function learn(flows: Iterable<ObservedFlow>, resolutions: Iterable<Resolution>, opts: LearnOptions): LearnResult {
  const minSub = Math.max(0, Math.trunc(opts.minSubdomains ?? DEFAULT_MIN_SUBDOMAINS));
  // one line of text: a control character in a file name must not end a YAML comment
  // oxlint-disable-next-line no-control-regex
  const source = (opts.source ?? "the flow log").replace(/[\u0000-\u001f\u007f]/g, "?");
  const classifier = createClassifier(opts.load);
  const basePolicy = opts.base?.policy ?? opts.load("version: 1\nname: learned\ndefault: deny\n", "learn:empty");
  const base = compileDecider(basePolicy);
  const special = compileSpecialCheck(basePolicy.internal);

  // DNS answers: (sandbox, address) -> names
  const byAddress = new Map<string, Set<string>>();
  for (const r of resolutions) {
    const name = cleanName(r.name);
    for (const a of r.answers) {
      const c = canonicalIp(a);
      if (!c) continue;
      const key = `${r.sandbox ?? ""}\u0000${c.text}`;
      let set = byAddress.get(key);
      if (!set) byAddress.set(key, (set = new Set()));
      set.add(name);
    }
  }

  // ---------------------------------------------------------------- probes
  const probes = new Map<string, Probe>();
  const dnsNames = new Map<string, { acc: Acc; heuristic: string | null }>();
  let total = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const probeFor = (name: string | null, ip: { ip: IpAddr; text: string } | null, f: ObservedFlow, heuristic: string | null, sharedWith: string[]): Probe => {
    const key = `${name ?? ""}\u0000${ip?.text ?? ""}\u0000${f.proto ?? ""}\u0000${f.dstPort ?? ""}\u0000${heuristic ?? ""}`;
    let p = probes.get(key);
    if (!p) {
      p = { name, ip: ip?.ip ?? null, ipText: ip?.text ?? null, proto: f.proto, port: f.dstPort, heuristic, acc: new Acc(), sharedWith: [] };
      probes.set(key, p);
    }
    for (const s of sharedWith) if (!p.sharedWith.includes(s)) p.sharedWith.push(s);
    return p;
  };

  for (const f of flows) {
    total += f.count;
    if (f.firstMs < first) first = f.firstMs;
    if (f.lastMs > last) last = f.lastMs;
    const heuristic = HEURISTIC_REASONS.has(f.reason) ? f.reason : null;
    let name = f.name !== null && f.name !== "" ? cleanName(f.name) : null;
    let ip = canonicalIp(f.dstIp);
    if (name !== null && !ip) {
      // a CONNECT to a literal address carries it as the name
      const asIp = canonicalIp(name);
      if (asIp) {
        ip = asIp;
        name = null;
      }
    }
    if (f.kind === "dns") {
      if (name === null) continue;
      let d = dnsNames.get(name);
      if (!d) dnsNames.set(name, (d = { acc: new Acc(), heuristic: null }));
      d.acc.add(f);
      if (heuristic !== null) d.heuristic = heuristic;
      continue;
    }
    let names: string[] = name !== null ? [name] : [];
    let viaDns = false;
    if (names.length === 0 && ip) {
      const set = byAddress.get(`${f.sandbox ?? ""}\u0000${ip.text}`);
      if (set && set.size > 0) {
        names = [...set].sort();
        viaDns = true;
      }
    }
    if (names.length === 0) {
      const p = probeFor(null, ip, f, heuristic, []);
      p.acc.add(f);
      if (ip) p.acc.addresses.add(ip.text);
      continue;
    }
    for (const n of names) {
      const p = probeFor(n, ip, f, heuristic, viaDns ? names.filter((x) => x !== n) : []);
      p.acc.add(f);
      if (ip) p.acc.addresses.add(ip.text);
      p.acc.viaDns ||= viaDns;
    }
  }

  // ---------------------------------------------------------------- classification
  const catchAlls: Rule[] = [];
  for (let i = basePolicy.rules.length - 1; i >= 0; i--) {
    const r = basePolicy.rules[i] as Rule;
    if (!isCatchAll(r)) break;
    catchAlls.unshift(r);
  }
  const catchAllNames = new Set(catchAlls.map((r) => r.name));

  const classify = (p: Probe): Verdict => {
    if (!isFlowProtocol(p.proto)) {
      return { kind: "reported", category: "unsupported-protocol", detail: `protocol ${p.proto ?? "unknown"} cannot be allowed without opening every protocol` };
    }
    if (p.proto !== "icmp" && p.port === null) return { kind: "reported", category: "unsupported-protocol", detail: `${p.proto} without a destination port` };
    if (p.name === null && p.ip === null) return { kind: "reported", category: "unsupported-protocol", detail: "neither a name nor an address was recorded" };
    if (p.heuristic !== null) return { kind: "reported", category: "heuristic", detail: `the runtime flagged these flows: ${p.heuristic}` };
    const hitName = p.name !== null ? classifier.name(p.name) : null;
    const hit = hitName ?? (p.ip ? classifier.address(p.ip) : null);
    if (hit) return { kind: "reported", category: hit.category, detail: `listed in catalog ${hit.catalog} (version ${hit.version})` };
    if (p.proto !== "icmp" && p.port !== null && DNS_PORTS.has(p.port)) {
      return { kind: "reported", category: "dns-port", detail: `port ${p.port}/${p.proto} is DNS; names are resolved through the clawfence DNS guard, never directly` };
    }
    if (p.ip && special(p.ip)) {
      const s = classifySpecial(p.ip);
      return {
        kind: "reported",
        category: "special-range",
        detail: `${p.ipText ?? ""} is in ${s?.range ?? "a special-purpose range"} (${s?.name ?? "special-purpose"}); list the exact range under \`internal:\` if the agent really needs it`,
      };
    }
    if (p.name !== null && !checkName(p.name).ok) return { kind: "reported", category: "invalid-name", detail: "not a name a policy can list" };
    const decisions = decideEverywhere(base, { name: p.name, ip: p.ip, proto: p.proto, port: p.port });
    if (decisions.some((d) => d.verdict === "allow")) return { kind: "allowed" };
    const explicit = decisions.find((d) => d.reason === "rule-deny" && !catchAllNames.has(d.rule));
    if (explicit) return { kind: "reported", category: "denied-by-rule", detail: `denied by rule '${explicit.rule}' of the policy` };
    const sp = decisions.find((d) => d.reason === "special-range");
    if (sp) return { kind: "reported", category: "special-range", detail: "special-purpose address outside `internal`" };
    return { kind: "candidate" };
  };

  const notAdded: NotAdded[] = [];
  const notAddedByDest = new Map<string, { category: NotAddedCategory; detail: string; acc: Acc }>();
  const report = (dest: string, category: NotAddedCategory, detail: string, acc: Acc): void => {
    const key = `${dest}\u0000${category}\u0000${detail}`;
    const e = notAddedByDest.get(key);
    if (e) e.acc.merge(acc);
    else {
      const a = new Acc();
      a.merge(acc);
      notAddedByDest.set(key, { category, detail, acc: a });
    }
  };
  /** names a wildcard must not cover (everything reported except names only resolved) */
  const reportedNames = new Set<string>();
  const reportedProbes: Array<{ probe: Probe; baseAllowed: boolean }> = [];
  const candidates: Probe[] = [];
  const namesWithConnections = new Set<string>();
  let allowedFlows = 0;
  const allowedDests = new Set<string>();

  for (const p of probes.values()) {
    if (p.name !== null) namesWithConnections.add(p.name);
    if (isFlowProtocol(p.proto)) p.acc.slice(p.proto, p.port);
    const v = classify(p);
    const dest = p.name ?? p.ipText ?? "(unknown)";
    switch (v.kind) {
      case "candidate":
        candidates.push(p);
        break;
      case "allowed":
        allowedFlows += p.acc.count;
        allowedDests.add(dest);
        break;
      case "reported": {
        const shared = p.sharedWith.length > 0 ? ` (packets to ${p.ipText ?? ""}, an address ${[p.name, ...p.sharedWith].join(", ")} resolved to)` : "";
        report(dest, v.category, v.detail + shared, p.acc);
        if (p.name !== null) reportedNames.add(p.name);
        reportedProbes.push({ probe: p, baseAllowed: false });
        break;
      }
      default: {
        const never: never = v;
        throw new Error(`unhandled verdict ${JSON.stringify(never)}`);
      }
    }
  }

  // names only ever seen in DNS
  const reportedDnsNames: string[] = [];
  for (const [name, d] of dnsNames) {
    if (namesWithConnections.has(name)) continue;
    let category: NotAddedCategory | null = null;
    let detail = "";
    const hit = classifier.name(name);
    if (d.heuristic !== null) {
      category = "heuristic";
      detail = `the DNS guard flagged these queries: ${d.heuristic}`;
    } else if (hit) {
      category = hit.category;
      detail = `listed in catalog ${hit.catalog} (version ${hit.version})`;
    } else if (!checkName(name).ok) {
      category = "invalid-name";
      detail = "not a name a policy can list";
    } else if (nameAllowedEverywhere(base, name)) {
      allowedFlows += d.acc.count;
      allowedDests.add(name);
      continue;
    } else {
      category = "dns-only";
      detail = "resolved, but no connection to it was seen, so no port is known; run the agent in monitor mode until it connects, or add the name by hand";
    }
    report(name, category, detail, d.acc);
    if (category !== "dns-only") reportedNames.add(name);
    if (category !== "dns-only") reportedDnsNames.push(name);
  }
  for (const [dest, e] of notAddedByDest) {
    notAdded.push({ destination: dest.split("\u0000")[0] ?? dest, category: e.category, detail: e.detail, evidence: e.acc.evidence() });
  }
  notAdded.sort((a, b) => b.evidence.count - a.evidence.count || a.destination.localeCompare(b.destination) || a.category.localeCompare(b.category));

  // ---------------------------------------------------------------- targets and wildcards
  interface Target {
    entry: string;
    kind: "domain" | "wildcard" | "address";
    domain: string;
    names: string[];
    acc: Acc;
    notes: Set<string>;
  }
  const nameTargets = new Map<string, Target>();
  const addrTargets = new Map<string, Target>();
  for (const p of candidates) {
    const map = p.name !== null ? nameTargets : addrTargets;
    const key = p.name ?? (p.ipText as string);
    let t = map.get(key);
    if (!t) {
      const domain = p.name !== null ? (getDomain(p.name, { allowPrivateDomains: true }) ?? p.name) : key;
      t = { entry: key, kind: p.name !== null ? "domain" : "address", domain, names: p.name !== null ? [p.name] : [], acc: new Acc(), notes: new Set() };
      map.set(key, t);
    }
    t.acc.merge(p.acc);
    if (p.sharedWith.length > 0) t.notes.add(`named by DNS: packets went to an address that ${[...p.sharedWith].sort().join(", ")} also resolved to`);
    else if (p.acc.viaDns) t.notes.add("named by DNS: the packets carried only an address, which this name resolved to");
  }
  for (const t of nameTargets.values()) {
    const sh = classifier.sharedHosting(t.entry);
    if (sh !== null) t.notes.add(`shared hosting (${sh}): anyone can publish under this name`);
  }
  for (const t of addrTargets.values()) t.notes.add("an address without a name: allowed as a literal address");

  const declinedWildcards: DeclinedWildcard[] = [];
  const targets: Target[] = [...addrTargets.values()];
  const byDomain = new Map<string, Target[]>();
  for (const t of nameTargets.values()) {
    const list = byDomain.get(t.domain);
    if (list) list.push(t);
    else byDomain.set(t.domain, [t]);
  }
  for (const [domain, list] of byDomain) {
    const subs = list.filter((t) => t.entry !== domain && wildcardMatches(domain, t.entry));
    const rest = list.filter((t) => !subs.includes(t));
    const names = subs.map((t) => t.entry).sort();
    let reason: string | null = null;
    if (minSub === 0 || subs.length < minSub || subs.length < 1) reason = null;
    else {
      const conflict = classifier.wildcardConflict(domain);
      const reported = [...reportedNames].find((n) => wildcardMatches(domain, n));
      const psl = publicSuffixWildcardProblem(domain as Fqdn);
      if (conflict) reason = `*.${domain} would cover ${conflict.entry} (catalog ${conflict.catalog})`;
      else if (reported !== undefined) reason = `*.${domain} would also allow ${reported}, which is reported, not added`;
      else if (psl) reason = `*.${domain} is directly under a public suffix`;
      else {
        const acc = new Acc();
        for (const t of subs) acc.merge(t.acc);
        const notes = new Set<string>([`stands for ${names.length} names seen below ${domain}`]);
        for (const t of subs) for (const n of t.notes) notes.add(n);
        targets.push({ entry: `*.${domain}`, kind: "wildcard", domain, names, acc, notes });
        targets.push(...rest);
        continue;
      }
      declinedWildcards.push({ suffix: domain, names, reason });
    }
    targets.push(...list);
  }

  // ---------------------------------------------------------------- rules
  interface Slice {
    protocol: "tcp" | "udp" | "icmp" | "any";
    ports: number[];
  }
  const slicesOf = (t: Target): Slice[] => {
    const s = t.acc.slices;
    const tcp = s.get("tcp");
    const udp = s.get("udp");
    const out: Slice[] = [];
    const sorted = (x: Set<number>): number[] => [...x].sort((a, b) => a - b);
    if (tcp && udp && tcp.size > 0 && sorted(tcp).join(",") === sorted(udp).join(",")) out.push({ protocol: "any", ports: sorted(tcp) });
    else {
      if (tcp && tcp.size > 0) out.push({ protocol: "tcp", ports: sorted(tcp) });
      if (udp && udp.size > 0) out.push({ protocol: "udp", ports: sorted(udp) });
    }
    if (s.has("icmp")) out.push({ protocol: "icmp", ports: [] });
    return out;
  };
  const groups = new Map<string, { slice: Slice; targets: Target[] }>();
  for (const t of targets) {
    for (const sl of slicesOf(t)) {
      const key = `${sl.protocol}:${sl.ports.join(",")}`;
      const g = groups.get(key);
      if (g) g.targets.push(t);
      else groups.set(key, { slice: sl, targets: [t] });
    }
  }
  const ordered = [...groups.values()].sort(
    (a, b) =>
      (PROTO_ORDER[a.slice.protocol] ?? 9) - (PROTO_ORDER[b.slice.protocol] ?? 9) ||
      (a.slice.ports[0] ?? 0) - (b.slice.ports[0] ?? 0) ||
      a.slice.ports.length - b.slice.ports.length ||
      a.slice.ports.join(",").localeCompare(b.slice.ports.join(",")),
  );

  // placement: after every rule but the final catch-all denies
  const own = (r: Rule): boolean => r.pos.file === basePolicy.sources[0];
  const lastRule = basePolicy.rules[basePolicy.rules.length - catchAlls.length - 1];
  const catchAll = catchAlls[0];
  let priority = 100;
  let warning: string | undefined;
  if (lastRule) priority = own(lastRule) ? lastRule.priority : lastRule.priority + 1;
  else if (catchAll) priority = Math.min(100, catchAll.priority);
  if (catchAll && priority > catchAll.priority) {
    warning = `rule '${lastRule?.name ?? ""}' and catch-all '${catchAll.name}' share priority ${catchAll.priority} in an extended file; the new rules come before '${lastRule?.name ?? ""}'`;
    priority = catchAll.priority;
  }
  const before = catchAll && own(catchAll) && (!lastRule || !own(lastRule) || lastRule.pos.line < catchAll.pos.line) ? catchAll.name : undefined;

  const taken = new Set(basePolicy.rules.map((r) => r.name));
  const rules: NewRule[] = [];
  const rulesOfEntry = new Map<Target, string[]>();
  for (const g of ordered) {
    let name = ruleBaseName(g.slice.protocol, g.slice.ports);
    for (let i = 2; taken.has(name); i++) name = `${ruleBaseName(g.slice.protocol, g.slice.ports)}-${i}`;
    taken.add(name);
    const ts = [...g.targets].sort(compareEntries);
    let flows = 0;
    let f0 = Number.POSITIVE_INFINITY;
    let f1 = Number.NEGATIVE_INFINITY;
    for (const t of ts) {
      flows += t.acc.count;
      f0 = Math.min(f0, t.acc.firstMs);
      f1 = Math.max(f1, t.acc.lastMs);
      const list = rulesOfEntry.get(t);
      if (list) list.push(name);
      else rulesOfEntry.set(t, [name]);
    }
    const span = Number.isFinite(f0) && Number.isFinite(f1) ? `, ${iso(f0)} .. ${iso(f1)}` : "";
    rules.push({
      name,
      description: `learned: ${ts.length} destination${ts.length === 1 ? "" : "s"}, ${flows} flow${flows === 1 ? "" : "s"}${span}`,
      ...(priority !== 100 ? { priority } : {}),
      allow: ts.map((t) => t.entry),
      ports: g.slice.protocol === "icmp" ? null : portsForYaml(g.slice.ports),
      protocol: g.slice.protocol,
    });
  }

  const suggestions: Suggestion[] = targets
    .filter((t) => rulesOfEntry.has(t))
    .sort(compareEntries)
    .map((t) => ({ entry: t.entry, kind: t.kind, rules: rulesOfEntry.get(t) ?? [], names: t.names, evidence: t.acc.evidence(), notes: [...t.notes].sort() }));

  // ---------------------------------------------------------------- text
  const firstMs = Number.isFinite(first) ? first : null;
  const lastMs = Number.isFinite(last) ? last : null;
  const name = opts.name !== undefined && FRESH_NAME_RE.test(opts.name) ? opts.name : "learned";
  const baseText = opts.base?.text ?? freshPolicyText(name, source, total, firstMs, lastMs);
  const file = opts.base?.file ?? opts.file ?? `${name}.yaml`;
  const when = firstMs !== null && lastMs !== null ? `, ${iso(firstMs)} .. ${iso(lastMs)}` : "";
  const comment = opts.base ? [`Added by \`clawfence learn\` from ${source} (${total} flows${when}); review before enforcing.`] : [];
  const edited = insertRules(baseText, rules, before, comment);
  const proposal = opts.load(edited.text, file);

  // ---------------------------------------------------------------- verification
  const problems: string[] = [];
  const next = compileDecider(proposal);
  for (const p of candidates) {
    const ds = decideEverywhere(next, { name: p.name, ip: p.ip, proto: p.proto as FlowProtocol, port: p.port });
    if (!ds.some((d) => d.verdict === "allow")) {
      const d = ds[0];
      problems.push(`${p.name ?? p.ipText ?? "?"} ${p.proto ?? ""}/${p.port ?? ""} is still denied by the proposal (rule '${d?.rule ?? "?"}', ${d?.reason ?? "?"})`);
    }
  }
  for (const { probe: p } of reportedProbes) {
    if (!isFlowProtocol(p.proto) || (p.name === null && p.ip === null)) continue;
    const ds = decideEverywhere(next, { name: p.name, ip: p.ip, proto: p.proto, port: p.port });
    if (ds.some((d) => d.verdict === "allow")) problems.push(`${p.name ?? p.ipText ?? "?"} ${p.proto}/${p.port ?? ""} was reported, not added, but the proposal allows it`);
  }
  for (const n of reportedDnsNames) {
    if (nameAllowedEverywhere(next, n)) problems.push(`${n} was reported, not added, but the proposal answers it`);
  }

  return {
    text: edited.text,
    policy: proposal,
    rules,
    suggestions,
    notAdded,
    declinedWildcards: declinedWildcards.sort((a, b) => a.suffix.localeCompare(b.suffix)),
    alreadyAllowed: { flows: allowedFlows, destinations: allowedDests.size },
    totalFlows: total,
    firstMs,
    lastMs,
    diff: opts.base ? unifiedDiff(opts.base.text, edited.text, { oldName: opts.base.file, newName: opts.base.file }) : "",
    placement: { before: before ?? null, priority, ...(warning !== undefined ? { warning } : {}) },
    reformatted: edited.reformatted,
    problems,
  };
}
