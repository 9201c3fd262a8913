/**
 * compile/cilium — CiliumNetworkPolicy (cilium.io/v2) for `workload.kubernetes`, as YAML.
 *
 * Cilium has names (`toFQDNs`, fed by its DNS proxy) and deny rules (`egressDeny`), but no
 * order: traffic passes when some egress rule allows it and no egressDeny matches. The
 * policy's first-match order is kept exactly this way:
 *  - every rule whose traffic passes (allow; a monitor-mode deny) is one or two egress rules:
 *    `toCIDRSet` for its addresses (`any` = everything minus the special-purpose ranges not
 *    under `internal`, as cidr + except) and `toFQDNs` for its names (`*.x` -> `**.x`: one
 *    or more labels, Cilium 1.19+; before 1.19 Cilium read `**.` like `*.`, one label);
 *  - a deny rule becomes `egressDeny` for only the addresses no earlier rule decided, per
 *    (protocol, port) slot (common/slots.ts), so an earlier allow of the same addresses
 *    still wins;
 *  - names never match special-purpose addresses: when the policy allows names, the
 *    special-purpose ranges that no rule allows by address are denied (DNS rebinding guard);
 *  - the DNS rule (UDP/TCP 53 to kube-dns, `rules.dns`) lists exactly the names allowed
 *    (`*` only when a rule allows `any`): Cilium's DNS proxy learns the answers' addresses
 *    for toFQDNs and refuses other names, as clawfence's resolver does.
 * Refused with UnsupportedFeature, naming both rules: an allow by name before an address
 * deny it overlaps (Cilium's deny would win), a deny by name that a later rule could
 * contradict (egressDeny has no names), ICMP alone (Cilium matches ICMP by type only).
 *
 * Pure: IR -> text. Imports no I/O.
 */
import { Document, type YAMLMap, type YAMLSeq } from "yaml";
import type { Policy } from "../../policy/ir.ts";
import type { RulePlan } from "../common/plan.ts";
import { UnsupportedFeature, type Backend, type CompileOptions, type CompileOutput } from "../backend.ts";
import { EMPTY, FULL, intersect, isEmpty, keyOf, overlaps, subtract, toBlocks, union, type AddrSet } from "../common/addrset.ts";
import { defaultPasses, ipSetOf, isMonitorDeny, passes, publicSetOf, refuseNameDenies, scopeOf, slotResult, slotText, walkSlots, type Scope, type Slot, type SlotWalk } from "../common/slots.ts";
import { metadataOf, workloadNotes } from "../common/k8s.ts";

const TARGET = "cilium" as const;
/** Cilium's CRD allows at most 40 ports in one PortRule */
const PORTS_PER_RULE = 40;

export const backend: Backend = {
  name: TARGET,
  description: "CiliumNetworkPolicy: toFQDNs with the DNS proxy rule, toCIDRSet with except, egressDeny where order allows",
  compile,
};

export interface CnpPort {
  port: string;
  endPort?: number;
  protocol: "TCP" | "UDP";
}
export interface CnpPortRule {
  ports: CnpPort[];
  rules?: { dns: Array<{ matchName: string } | { matchPattern: string }> };
}
export interface CnpCidrRule {
  cidr: string;
  except?: string[];
}
export interface CnpEgress {
  toCIDRSet?: CnpCidrRule[];
  toFQDNs?: Array<{ matchName: string } | { matchPattern: string }>;
  toEndpoints?: Array<{ matchLabels: Record<string, string> }>;
  toEntities?: string[];
  toPorts?: CnpPortRule[];
}

interface Entry<T> {
  readonly value: T;
  readonly comment: string;
  readonly rule: string;
}

/** `*.x` (one or more labels below x) in Cilium's dialect: `**.x` (Cilium 1.19+). */
export function fqdnSelector(name: string): { matchName: string } | { matchPattern: string } {
  return name.startsWith("*.") ? { matchPattern: `**.${name.slice(2)}` } : { matchName: name };
}

function portRules(ranges: ReadonlyArray<{ proto: "tcp" | "udp"; from: number; to: number }>): CnpPortRule[] {
  const ports: CnpPort[] = ranges.map((r) => {
    const protocol = r.proto === "tcp" ? ("TCP" as const) : ("UDP" as const);
    return r.from === r.to ? { port: String(r.from), protocol } : { port: String(r.from), endPort: r.to, protocol };
  });
  const out: CnpPortRule[] = [];
  for (let i = 0; i < ports.length; i += PORTS_PER_RULE) out.push({ ports: ports.slice(i, i + PORTS_PER_RULE) });
  return out;
}

/** toPorts for a rule; undefined = every protocol and port (an L3-only rule). */
function rulePorts(rp: RulePlan): CnpPortRule[] | undefined {
  const { protocol, ports } = rp.rule;
  const ranges = ports ?? [{ from: 1, to: 65535 }];
  switch (protocol) {
    case "tcp":
    case "udp":
      return portRules(ranges.map((p) => ({ proto: protocol, from: p.from, to: p.to })));
    case "any":
      if (ports === null) return undefined;
      return portRules((["tcp", "udp"] as const).flatMap((proto) => ranges.map((p) => ({ proto, from: p.from, to: p.to }))));
    case "icmp":
      throw new UnsupportedFeature(
        TARGET,
        rp.rule.name,
        "Cilium matches ICMP only by type (icmps), and clawfence's `protocol: icmp` means every type",
        "write the rule with `protocol: any` and no ports (every protocol), or leave ICMP out",
      );
    default: {
      const never: never = protocol;
      throw new Error(`unhandled protocol ${String(never)}`);
    }
  }
}

function cidrSet(set: AddrSet): CnpCidrRule[] {
  return toBlocks(set).map((b) => (b.except.length ? { cidr: b.cidr.text, except: b.except.map((e) => e.text) } : { cidr: b.cidr.text }));
}

function compile(policy: Policy, opts: CompileOptions): CompileOutput {
  const scope = scopeOf(TARGET, policy, opts);
  const walks = walkSlots(scope);
  refuseNameDenies(TARGET, scope, walks);
  refuseNameAllowBeforeDeny(scope, walks);

  const egress: Array<Entry<CnpEgress>> = [];
  for (const rp of scope.active) {
    if (!passes(rp.rule)) continue;
    const toPorts = rulePorts(rp);
    const withPorts = <T extends CnpEgress>(e: T): T => (toPorts ? { ...e, toPorts } : e);
    const ips = ipSetOf(rp, scope.pub);
    const what = `${rp.rule.name} (${rp.rule.action}${isMonitorDeny(rp.rule) ? ", monitor: passes" : ""})`;
    if (!isEmpty(ips)) egress.push({ value: withPorts({ toCIDRSet: cidrSet(ips) }), comment: `${what}: addresses${rp.any ? " (any: minus special-purpose ranges)" : ""}`, rule: rp.rule.name });
    if (rp.dynamicNames.length) egress.push({ value: withPorts({ toFQDNs: rp.dynamicNames.map(fqdnSelector) }), comment: `${what}: names`, rule: rp.rule.name });
  }
  if (defaultPasses(policy)) egress.push({ value: { toEntities: ["all"] }, comment: `default (${policy.default}${policy.default === "deny" ? ", monitor: passes" : ""})`, rule: "default" });

  const deny = denies(scope, walks);
  const dns = dnsRule(scope);
  return render(scope, opts, dns, egress, deny);
}

/**
 * An allow by name before an address deny: for a name resolving into the deny's addresses
 * the policy allows (the name rule comes first) but Cilium denies (deny always wins).
 */
function refuseNameAllowBeforeDeny(scope: Scope, walks: readonly SlotWalk[]): void {
  for (const w of walks) {
    w.steps.forEach((a, i) => {
      if (!passes(a.rp.rule) || a.rp.dynamicNames.length === 0) return;
      const reach = subtract(scope.pub, a.before);
      for (const d of w.steps.slice(i + 1)) {
        if (passes(d.rp.rule)) continue;
        if (overlaps(reach, d.take)) {
          throw new UnsupportedFeature(
            TARGET,
            d.rp.rule.name,
            `it denies addresses (${slotText(w.slot)}) that the earlier rule '${a.rp.rule.name}' allows by name (${a.rp.dynamicNames.join(", ")}); Cilium's egressDeny wins over every allow, whatever the order`,
            `move '${d.rp.rule.name}' before '${a.rp.rule.name}' if the deny should win, or narrow it to addresses the names cannot resolve to (special-purpose ranges not under internal)`,
          );
        }
      }
    });
  }
}

interface DenyPart {
  readonly set: AddrSet;
  /** null: every protocol and port */
  readonly ranges: Array<{ proto: "tcp" | "udp"; from: number; to: number }> | null;
  readonly rule: string;
  readonly comment: string;
}

/** egressDeny entries: each deny rule's undecided addresses per slot, plus the rebinding guard. */
function denies(scope: Scope, walks: readonly SlotWalk[]): DenyPart[] {
  const results = walks.map((w) => slotResult(scope, w));
  const allowedAt = (slot: Slot): AddrSet => results.find((r) => r.slot === slot)?.allowed ?? EMPTY;
  // what may pass in a slot: addresses allowed by first match, and what allowed names may resolve to
  const mayPass = (w: SlotWalk): AddrSet => {
    let r = allowedAt(w.slot);
    for (const s of w.steps) if (passes(s.rp.rule) && s.rp.dynamicNames.length) r = union(r, subtract(scope.pub, s.before));
    return r;
  };
  const icmpWalk = walks.find((w) => w.slot.proto === "icmp");
  const portWalks = walks.filter((w) => w.slot.proto !== "icmp");
  const out: DenyPart[] = [];

  const emit = (name: string, comment: string, perSlot: ReadonlyMap<Slot, AddrSet>, icmpPart: AddrSet, culprit: { rule: string; fix: string }): void => {
    if (!isEmpty(icmpPart)) {
      // only a portless egressDeny can deny ICMP; it also denies TCP/UDP to those addresses
      for (const w of portWalks) {
        if (overlaps(icmpPart, mayPass(w))) {
          throw new UnsupportedFeature(
            TARGET,
            culprit.rule,
            `Cilium can deny ICMP only together with every port, and the policy allows ${slotText(w.slot)} to some addresses that must stay closed for ICMP (${comment})`,
            culprit.fix,
          );
        }
      }
      out.push({ set: icmpPart, ranges: null, rule: name, comment: `${comment} (every protocol)` });
    }
    const groups = new Map<string, { set: AddrSet; ranges: Array<{ proto: "tcp" | "udp"; from: number; to: number }> }>();
    for (const w of portWalks) {
      const set = subtract(perSlot.get(w.slot) ?? EMPTY, icmpPart);
      if (isEmpty(set)) continue;
      const key = keyOf(set);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { set, ranges: [] }));
      const proto = w.slot.proto === "udp" ? "udp" : "tcp";
      const last = g.ranges[g.ranges.length - 1];
      if (last && last.proto === proto && last.to + 1 === w.slot.from) last.to = w.slot.to;
      else g.ranges.push({ proto, from: w.slot.from, to: w.slot.to });
    }
    for (const g of groups.values()) out.push({ set: g.set, ranges: g.ranges, rule: name, comment });
  };

  // what could reach an address over ICMP at all: passing rules in the icmp slot, names, the default
  const icmpReach = ((): AddrSet => {
    if (!icmpWalk) return EMPTY;
    let r = defaultPasses(scope.policy) ? FULL : EMPTY;
    // toFQDNs allows whatever a name resolves to, special-purpose addresses included
    for (const s of icmpWalk.steps) if (passes(s.rp.rule)) r = union(r, s.rp.dynamicNames.length ? FULL : ipSetOf(s.rp, scope.pub));
    return r;
  })();

  for (const rp of scope.active) {
    if (passes(rp.rule)) continue;
    const perSlot = new Map<Slot, AddrSet>();
    for (const w of portWalks) {
      const step = w.steps.find((s) => s.rp === rp);
      if (step) perSlot.set(w.slot, step.take);
    }
    const icmpStep = icmpWalk?.steps.find((s) => s.rp === rp);
    // an ICMP deny nothing could contradict needs no entry: Cilium denies by default
    const icmpPart = icmpStep ? intersect(icmpStep.take, icmpReach) : EMPTY;
    emit(rp.rule.name, `${rp.rule.name} (deny)`, perSlot, icmpPart, { rule: rp.rule.name, fix: "give the deny ports, or `protocol: tcp`/`udp`, so it needs no ICMP part" });
  }

  // names never reach special-purpose addresses outside `internal`: where a name is allowed,
  // deny those that no rule allows by address and no deny above already covers
  const special = subtract(FULL, publicSetOf(scope.policy));
  const denied = (w: SlotWalk): AddrSet => w.steps.reduce((acc, st) => (passes(st.rp.rule) ? acc : union(acc, st.take)), EMPTY);
  const namesIn = (w: SlotWalk): boolean => w.steps.some((st) => passes(st.rp.rule) && st.rp.dynamicNames.length > 0);
  if (walks.some(namesIn)) {
    const perSlot = new Map<Slot, AddrSet>();
    for (const w of portWalks) if (namesIn(w)) perSlot.set(w.slot, subtract(subtract(special, allowedAt(w.slot)), denied(w)));
    const icmpPart = icmpWalk && namesIn(icmpWalk) ? intersect(subtract(subtract(special, allowedAt(icmpWalk.slot)), denied(icmpWalk)), icmpReach) : EMPTY;
    const nameRule = icmpWalk?.steps.find((st) => passes(st.rp.rule) && st.rp.dynamicNames.length > 0)?.rp.rule.name ?? "";
    emit("special-purpose-guard", "special-purpose ranges not under internal: names never reach them (DNS rebinding guard)", perSlot, icmpPart, {
      rule: nameRule,
      fix: "give the rule with names ports, or `protocol: tcp`/`udp`: Cilium cannot keep ICMP to special-purpose addresses closed for names without closing them for every port",
    });
  }
  return out;
}

function dnsRule(scope: Scope): CnpEgress | null {
  const patterns = new Map<string, { matchName: string } | { matchPattern: string }>();
  let any = false;
  for (const rp of scope.active) {
    if (!passes(rp.rule)) continue;
    for (const d of rp.rule.dests) {
      if (d.kind === "any") any = true;
      else if (d.kind === "domain") patterns.set(d.name, { matchName: d.name });
      else if (d.kind === "wildcard") patterns.set(`*.${d.suffix}`, fqdnSelector(`*.${d.suffix}`));
    }
  }
  if (!any && patterns.size === 0) return null;
  return {
    toEndpoints: [{ matchLabels: { "k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns" } }],
    toPorts: [
      {
        ports: [
          { port: "53", protocol: "UDP" },
          { port: "53", protocol: "TCP" },
        ],
        rules: { dns: any ? [{ matchPattern: "*" }] : [...patterns.values()] },
      },
    ],
  };
}

function render(scope: Scope, opts: CompileOptions, dns: CnpEgress | null, egress: ReadonlyArray<Entry<CnpEgress>>, deny: readonly DenyPart[]): CompileOutput {
  const k8s = scope.policy.workload.kubernetes;
  const egressValues = [...(dns ? [dns] : []), ...egress.map((e) => e.value)];
  const denyValues: CnpEgress[] = deny.map((d) => (d.ranges ? { toCIDRSet: cidrSet(d.set), toPorts: portRules(d.ranges) } : { toCIDRSet: cidrSet(d.set) }));
  const base = dns ? 1 : 0;
  const index = [...(dns ? ["0=cluster-dns"] : []), ...egress.map((e, i) => `${i + base}=${e.rule}`)].join("; ");
  const denyIndex = deny.map((d, i) => `${i}=${d.rule}`).join("; ");
  const obj = {
    apiVersion: "cilium.io/v2",
    kind: "CiliumNetworkPolicy",
    metadata: metadataOf(scope, opts, { "clawfence.dev/egress-rules": index, ...(deny.length ? { "clawfence.dev/egress-deny-rules": denyIndex } : {}) }),
    spec: {
      description: `clawfence policy ${scope.policy.name}`,
      endpointSelector: k8s?.podLabels && Object.keys(k8s.podLabels).length ? { matchLabels: { ...k8s.podLabels } } : {},
      egress: egressValues,
      ...(denyValues.length ? { egressDeny: denyValues } : {}),
    },
  };
  const doc = new Document(obj);
  const active = new Set(scope.active.map((r) => r.rule));
  doc.commentBefore = [
    ` clawfence policy '${scope.policy.name}' (${scope.policy.hash.slice(0, 12)}) compiled for Cilium (CiliumNetworkPolicy, cilium.io/v2)`,
    ...(scope.phase !== null ? [` phase: ${scope.phase}`] : []),
    " needs Cilium 1.19+ for `**.` (any depth) in toFQDNs; apply: kubectl apply -f FILE",
    " rules:",
    ...scope.policy.rules.map((r) => {
      const head = `   ${r.name} (${r.action}${isMonitorDeny(r) ? ", monitor: passes" : ""})`;
      if (!active.has(r)) return `${head}: not active in phase ${scope.phase ?? "-"}`;
      const e = egress.flatMap((x, i) => (x.rule === r.name ? [i + base] : []));
      const d = deny.flatMap((x, i) => (x.rule === r.name ? [i] : []));
      if (e.length) return `${head}: egress ${e.join(", ")}`;
      if (d.length) return `${head}: egressDeny ${d.join(", ")}`;
      const rp = scope.active.find((x) => x.rule === r);
      if (rp && !passes(r) && rp.dynamicNames.length) return `${head}: names left out of the DNS rule, so Cilium's DNS proxy refuses them; addresses: nothing could allow them (default deny)`;
      return `${head}: nothing to write (earlier rules decide all it matches, or nothing could allow it: Cilium denies by default)`;
    }),
  ].join("\n");
  const eseq = doc.getIn(["spec", "egress"], true) as YAMLSeq<YAMLMap>;
  if (dns && eseq.items[0]) eseq.items[0].commentBefore = ` cluster DNS through Cilium's DNS proxy: only these names are answered (toFQDNs learns their addresses)`;
  egress.forEach((e, i) => {
    const item = eseq.items[i + base];
    if (item) item.commentBefore = ` ${e.comment}`;
  });
  if (deny.length) {
    const dseq = doc.getIn(["spec", "egressDeny"], true) as YAMLSeq<YAMLMap>;
    deny.forEach((d, i) => {
      const item = dseq.items[i];
      if (item) item.commentBefore = ` ${d.comment}`;
    });
  }
  const notes = [...scope.notes, ...workloadNotes(scope, TARGET)];
  notes.push("cilium: `*.x` is written `**.x` (one or more labels): Cilium 1.19+; older Cilium reads it as one label");
  if (dns) notes.push("cilium: DNS to kube-dns (UDP/TCP 53) is allowed through Cilium's DNS proxy for the names the policy allows");
  notes.push("cilium: toCIDRSet matches addresses outside the cluster; pods and nodes are matched by identity, not by these CIDRs");
  for (const r of scope.active) {
    if (isMonitorDeny(r.rule)) notes.push(`cilium: rule '${r.rule.name}' is in monitor mode: a CiliumNetworkPolicy cannot record a would-deny, so its traffic is allowed (to watch would-denies, compile with mode enforce and enable Cilium's policy audit mode)`);
  }
  if (scope.policy.default === "deny" && scope.policy.mode === "monitor") notes.push("cilium: the policy is in monitor mode: unmatched traffic is allowed (toEntities: all) and not recorded");
  for (const r of scope.policy.rules) if (!active.has(r)) notes.push(`rule '${r.name}': not active in phase ${scope.phase ?? "-"}: left out`);
  return { text: doc.toString({ lineWidth: 0 }), notes };
}
