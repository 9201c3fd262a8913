/**
 * compile/kubernetes — Kubernetes NetworkPolicy (networking.k8s.io/v1) for
 * `workload.kubernetes`, as YAML.
 *
 * NetworkPolicy is allow-only: the allowed traffic is the union of the egress rules, there
 * is no order and no deny. clawfence's ordered allow/deny rules are flattened exactly for
 * address rules: the (protocol, port) space is cut into slots where every rule matches all
 * or nothing (common/slots.ts), the rules are walked in order per slot (a deny takes
 * its addresses out of what later rules may allow), and the allowed address set of each
 * slot is written as `ipBlock`s with `except` (common/addrset.ts picks the shorter of splitting a
 * network or listing its holes). Slots with the same set share one egress rule.
 *
 * What NetworkPolicy cannot say, refused with UnsupportedFeature (never dropped):
 *  - names (domains, wildcards) in allow rules: NetworkPolicy has no names. `--resolve` pins
 *    domains to addresses; wildcards cannot be pinned. The cilium target has toFQDNs.
 *  - a name deny on some ports only that a later rule could contradict (refuseNameDenies).
 *  - ICMP to addresses that are not also allowed on every TCP/UDP port (an egress rule
 *    without ports allows every protocol).
 *
 * Monitor mode: NetworkPolicy cannot record a would-deny, so a monitor-mode deny compiles to
 * what it enforces (the traffic passes), and the notes say so.
 *
 * Added beyond the rules (and said in the output): DNS (UDP/TCP 53) to the cluster resolver
 * (kube-system pods labelled k8s-app=kube-dns), which pods need to resolve anything.
 * Rule names survive as annotations (`clawfence.dev/egress-rules`) and YAML comments.
 *
 * Pure: IR -> text. Imports no I/O.
 */
import { Document, type YAMLMap, type YAMLSeq } from "yaml";
import type { Policy } from "../../policy/ir.ts";
import { UnsupportedFeature, type Backend, type CompileOptions, type CompileOutput } from "../backend.ts";
import { EMPTY, isEmpty, keyOf, overlaps, subtract, toBlocks, type AddrSet } from "../common/addrset.ts";
import { metadataOf, workloadNotes } from "../common/k8s.ts";
import { defaultPasses, hasDynamicNames, ipSetOf, isMonitorDeny, passes, refuseNameDenies, scopeOf, slotResult, slotText, walkSlots, type Scope, type SlotWalk } from "../common/slots.ts";

const TARGET = "kubernetes" as const;

export const CLUSTER_DNS_PEER = {
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
} as const;

export interface NpPort {
  protocol: "TCP" | "UDP";
  port?: number;
  endPort?: number;
}

export interface NpPeer {
  ipBlock?: { cidr: string; except?: string[] };
  namespaceSelector?: { matchLabels: Record<string, string> };
  podSelector?: { matchLabels: Record<string, string> };
}

export interface NpEgressRule {
  to?: NpPeer[];
  ports?: NpPort[];
}

/** One flattened egress rule and the policy rules it came from. */
interface Part {
  readonly rule: NpEgressRule;
  readonly comment: string;
  /** rules whose traffic passes through this egress rule (allows, monitor denies, "default") */
  readonly sources: readonly string[];
  /** deny rules that carved addresses out of it */
  readonly denies: readonly string[];
}

export const backend: Backend = {
  name: TARGET,
  description: "Kubernetes NetworkPolicy (allow-only; ordered rules flattened exactly for addresses)",
  compile,
};

function compile(policy: Policy, opts: CompileOptions): CompileOutput {
  const scope = scopeOf(TARGET, policy, opts);
  for (const rp of scope.active) {
    if (passes(rp.rule) && hasDynamicNames(rp)) {
      const names = rp.dynamicNames.join(", ");
      const wild = rp.dynamicNames.some((n) => n.startsWith("*."));
      throw new UnsupportedFeature(
        TARGET,
        rp.rule.name,
        `NetworkPolicy has no names: ${names}`,
        wild
          ? "use --target cilium (toFQDNs follows DNS), or replace the wildcard with addresses or CIDRs"
          : "use --target cilium (toFQDNs follows DNS), or compile with --resolve to pin the names' current addresses",
      );
    }
  }
  const walks = walkSlots(scope);
  refuseNameDenies(TARGET, scope, walks);
  const parts = flatten(scope, walks);
  return render(scope, opts, parts);
}

function flatten(scope: Scope, walks: readonly SlotWalk[]): Part[] {
  const results = walks.map((w) => slotResult(scope, w));
  const icmp = results.find((r) => r.slot.proto === "icmp");
  const ports = results.filter((r) => r.slot.proto !== "icmp");
  const parts: Part[] = [];

  // ICMP can only be allowed by an egress rule without ports, which allows every protocol
  // and port to its peers: exact only when those addresses are allowed on every port.
  let everything = EMPTY;
  if (icmp && !isEmpty(icmp.allowed)) {
    for (const r of ports) {
      const extra = subtract(icmp.allowed, r.allowed);
      if (!isEmpty(extra)) {
        const culprit = icmp.allows.find((name) => {
          const rp = scope.active.find((x) => x.rule.name === name);
          return rp === undefined || overlaps(ipSetOf(rp, scope.pub), extra);
        });
        throw new UnsupportedFeature(
          TARGET,
          culprit ?? icmp.allows[0] ?? "default",
          `NetworkPolicy cannot allow ICMP alone: an egress rule without ports would also allow ${slotText(r.slot)} to addresses the policy does not allow there`,
          "restrict the rule to `protocol: tcp` or `udp`, or allow the same addresses on every port",
        );
      }
    }
    everything = icmp.allowed;
    parts.push({
      rule: { to: peers(everything) },
      comment: `all protocols and ports (incl. ICMP) <- ${icmp.allows.join(", ")}${icmp.denies.length ? `; except where denied by ${icmp.denies.join(", ")}` : ""}`,
      sources: icmp.allows,
      denies: icmp.denies,
    });
  }

  // group the remaining per-slot sets: equal sets share one egress rule
  interface Group {
    set: AddrSet;
    ports: Array<{ proto: "tcp" | "udp"; from: number; to: number }>;
    allows: Set<string>;
    denies: Set<string>;
  }
  const groups = new Map<string, Group>();
  for (const r of ports) {
    const set = subtract(r.allowed, everything);
    if (isEmpty(set)) continue;
    const key = keyOf(set);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { set, ports: [], allows: new Set(), denies: new Set() }));
    const proto = r.slot.proto === "udp" ? "udp" : "tcp";
    const last = g.ports[g.ports.length - 1];
    if (last && last.proto === proto && last.to + 1 === r.slot.from) last.to = r.slot.to;
    else g.ports.push({ proto, from: r.slot.from, to: r.slot.to });
    for (const a of r.allows) g.allows.add(a);
    for (const d of r.denies) g.denies.add(d);
  }
  for (const g of groups.values()) {
    const npPorts: NpPort[] = g.ports.map((p) => {
      const protocol = p.proto === "tcp" ? ("TCP" as const) : ("UDP" as const);
      if (p.from === 1 && p.to === 65535) return { protocol };
      return p.from === p.to ? { protocol, port: p.from } : { protocol, port: p.from, endPort: p.to };
    });
    const allows = [...g.allows];
    const denies = [...g.denies];
    parts.push({
      rule: { to: peers(g.set), ports: npPorts },
      comment: `${g.ports.map((p) => (p.from === 1 && p.to === 65535 ? p.proto : p.from === p.to ? `${p.proto}/${p.from}` : `${p.proto}/${p.from}-${p.to}`)).join(" ")} <- ${allows.join(", ")}${denies.length ? `; except where denied by ${denies.join(", ")}` : ""}`,
      sources: allows,
      denies,
    });
  }
  return parts;
}

function peers(set: AddrSet): NpPeer[] {
  return toBlocks(set).map((b) => ({ ipBlock: b.except.length ? { cidr: b.cidr.text, except: b.except.map((e) => e.text) } : { cidr: b.cidr.text } }));
}

/** One line per policy rule: where it went, or why it left nothing behind. */
function ruleTrace(scope: Scope, parts: readonly Part[]): string[] {
  const active = new Set(scope.active.map((r) => r.rule));
  const lines = scope.policy.rules.map((r) => {
    const head = `${r.name} (${r.action}${isMonitorDeny(r) ? ", monitor: passes" : ""})`;
    if (!active.has(r)) return `${head}: not active in phase ${scope.phase ?? "-"}`;
    const into = parts.flatMap((p, i) => (p.sources.includes(r.name) ? [i + 1] : []));
    const carves = parts.flatMap((p, i) => (p.denies.includes(r.name) ? [i + 1] : []));
    if (into.length) return `${head}: egress ${into.join(", ")}`;
    if (carves.length) return `${head}: carved out of egress ${carves.join(", ")}`;
    return passes(r)
      ? `${head}: no effect (earlier rules decide all it matches, or it has no addresses)`
      : `${head}: nothing after it would let its traffic pass: denied by omission`;
  });
  if (defaultPasses(scope.policy)) {
    const into = parts.flatMap((p, i) => (p.sources.includes("default") ? [i + 1] : []));
    lines.push(`default (${scope.policy.default}${scope.policy.default === "deny" ? ", monitor: passes" : ""}): egress ${into.join(", ") || "-"}`);
  } else lines.push("default (deny): everything not listed");
  return lines;
}

function render(scope: Scope, opts: CompileOptions, parts: readonly Part[]): CompileOutput {
  const k8s = scope.policy.workload.kubernetes;
  const dns: NpEgressRule = { to: [{ ...CLUSTER_DNS_PEER }], ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] };
  const egress = [dns, ...parts.map((p) => p.rule)];
  const index = ["0=cluster-dns", ...parts.map((p, i) => `${i + 1}=${p.sources.join(",")}`)].join("; ");
  const obj = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: metadataOf(scope, opts, { "clawfence.dev/egress-rules": index }),
    spec: {
      podSelector: k8s?.podLabels && Object.keys(k8s.podLabels).length ? { matchLabels: { ...k8s.podLabels } } : {},
      policyTypes: ["Egress"],
      egress,
    },
  };
  const doc = new Document(obj);
  doc.commentBefore = [
    ` clawfence policy '${scope.policy.name}' (${scope.policy.hash.slice(0, 12)}) compiled for Kubernetes NetworkPolicy`,
    ...(scope.phase !== null ? [` phase: ${scope.phase}`] : []),
    ` ordered allow/deny rules flattened to NetworkPolicy's allow-only union (exact for addresses)`,
    ` apply: kubectl apply -f FILE`,
    ` rules -> egress entries (entry 0 is cluster DNS):`,
    ...ruleTrace(scope, parts).map((l) => `   ${l}`),
  ].join("\n");
  const seq = doc.getIn(["spec", "egress"], true) as YAMLSeq<YAMLMap>;
  const head = seq.items[0];
  if (head) head.commentBefore = " cluster DNS (added by clawfence: pods resolve names through kube-dns)";
  parts.forEach((p, i) => {
    const item = seq.items[i + 1];
    if (item) item.commentBefore = ` ${p.comment}`;
  });
  const notes = [
    ...scope.notes,
    ...workloadNotes(scope, TARGET),
    "kubernetes: DNS to the cluster resolver (kube-system/k8s-app=kube-dns, UDP/TCP 53) is allowed in addition to the policy's rules",
    "kubernetes: ipBlock matches cluster-external addresses; how pod and node IPs inside the cluster are matched depends on the network plugin",
  ];
  for (const r of scope.active) {
    if (isMonitorDeny(r.rule)) notes.push(`kubernetes: rule '${r.rule.name}' is in monitor mode: NetworkPolicy cannot record a would-deny, so its traffic is allowed (what monitor mode enforces)`);
  }
  if (scope.policy.default === "deny" && scope.policy.mode === "monitor") notes.push("kubernetes: the policy is in monitor mode: unmatched traffic is allowed (what monitor mode enforces) and not recorded");
  for (const r of scope.policy.rules) if (!scope.active.some((a) => a.rule === r)) notes.push(`rule '${r.name}': not active in phase ${scope.phase ?? "-"}: left out`);
  if (parts.some((p) => p.rule.ports === undefined)) notes.push("kubernetes: an egress rule without ports also allows SCTP and other IP protocols to its addresses");
  return { text: doc.toString({ lineWidth: 0 }), notes };
}

