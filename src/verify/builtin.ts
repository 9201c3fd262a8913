/**
 * verify/builtin — the built-in scenarios: seed 003's validation tests (and seed 002's
 * verify-egress checks) as group `builtin`, and the escape classes of PRODUCT.md section 7
 * as group `escape`.
 *
 * Map: `BUILTINS` lists every family with its group and description (for `--list`,
 * `builtin.disable` and `--skip`); `builtinScenarios(policy, opts)` turns the families into
 * concrete scenarios for one policy. Some families are policy-independent (the same probes
 * for every policy: other resolvers, metadata, special notations); others are derived from
 * the policy (each allow rule's first destination is allowed; the same destinations on other
 * ports, over UDP/QUIC and ICMP, and rebound to special addresses, are denied). Classes only
 * a live sandbox can judge are `liveOnly` with the reason, so a static run reports them
 * skipped, never passed.
 *
 * Exemptions are explicit and shown as evidence: a probe is not judged when the policy lists
 * exactly that destination in an allow rule for that protocol and port (a sanctioned provider,
 * a resolver you chose to allow), or, for DNS rebinding into a private range, when the range
 * is under `internal:`. Broad entries (`any`, wildcards, CIDRs wider than /16 or /48) never
 * exempt: that is the hole the scenario is there to find.
 *
 * Names made up for probes are under `.example` (RFC 2606) with a per-policy nonce, so no
 * policy lists them by accident and a run is reproducible. Pure: no I/O, no clock.
 */
import type { Reason } from "../match/decision.ts";
import { formatIp, ipInCidr, parseIp, parseIpLoose, type IpAddr } from "../match/ip.ts";
import { portInRanges } from "../match/ports.ts";
import { classifySpecial } from "../match/special.ts";
import { CATALOGS } from "../policy/catalogs/index.ts";
import type { Dest, FlowProtocol, Policy, Rule } from "../policy/ir.ts";
import { formatDestination } from "./destination.ts";
import type { Exempt, Group, Probe, Scenario, Variant } from "./scenario.ts";
import { addedRuleName } from "./twins.ts";

export interface BuiltinInfo {
  readonly id: string;
  readonly group: Exclude<Group, "user">;
  readonly description: string;
  /** where the expectation comes from */
  readonly source: string;
  /** set: only live mode can judge it */
  readonly liveOnly?: string;
}

const SEED3 = "seed 003, Validation Tests";
const SEC7 = "PRODUCT.md section 7";

export const BUILTINS: readonly BuiltinInfo[] = [
  { id: "allowed-destinations", group: "builtin", source: `${SEED3} (allowed model call, terminal launch); seed 002 verify-egress.sh`, description: "each allow rule's first destination, on its first port and protocol, is allowed" },
  { id: "blocked-attacker-domain", group: "builtin", source: `${SEED3} (blocked attacker domain)`, description: "a fresh attacker domain is denied on 443 and 80" },
  { id: "blocked-shadow-model", group: "builtin", source: `${SEED3} (blocked shadow model)`, description: "every provider of catalog shadow-model-providers is denied (by the rule that denies that catalog, if any), unless the policy allows it by name" },
  { id: "blocked-external-dns", group: "builtin", source: `${SEED3} (blocked external DNS)`, description: "DNS to 8.8.8.8 and 1.1.1.1 over UDP and TCP 53 is denied" },
  { id: "monitor-to-enforce", group: "builtin", source: `${SEED3} (monitor-to-enforce update)`, description: "a new destination is would-deny in monitor mode, denied once enforced, and allowed after adding an allow rule for it" },
  { id: "direct-ip", group: "escape", source: SEC7, description: "direct connections to unlisted public addresses are denied" },
  { id: "other-port", group: "escape", source: SEC7, description: "an allowed destination on a port its rule does not list is denied" },
  { id: "udp-quic", group: "escape", source: SEC7, description: "UDP (QUIC on 443) to allowed TCP destinations and to unlisted ones is denied" },
  { id: "icmp", group: "escape", source: SEC7, description: "ICMP to allowed port-restricted destinations and to unlisted ones is denied" },
  { id: "ipv6", group: "escape", source: SEC7, description: "IPv6 literals and the IPv4-mapped form of an unlisted address are denied" },
  { id: "other-resolvers", group: "escape", source: SEC7, description: "other DNS resolvers over UDP/TCP 53 and DoT/DoQ 853 are denied" },
  { id: "doh", group: "escape", source: SEC7, description: "public DoH endpoints (catalog doh-resolvers) are denied unless allowed by name" },
  { id: "dns-tunnel", group: "escape", source: SEC7, description: "DNS questions for names no allow rule matches are refused (never reach an upstream)" },
  { id: "dns-rebinding", group: "escape", source: SEC7, description: "allowed names answering with loopback, metadata or private addresses are denied (private ones unless under internal)" },
  { id: "metadata", group: "escape", source: SEC7, description: "cloud metadata endpoints are denied, in IPv4, IPv6, mapped, NAT64 and 6to4 forms" },
  { id: "special-notations", group: "escape", source: SEC7, description: "special-purpose addresses in other notations (127.1, 0x7f000001, octal, decimal) are denied" },
  { id: "internal-ranges", group: "escape", source: SEC7, description: "adjacent internal ranges (RFC 1918, CGNAT, ULA, link-local) are denied unless listed by a /16 or narrower" },
  { id: "connect-unlisted", group: "escape", source: SEC7, liveOnly: "needs the sandbox's HTTP proxy: CONNECT handling is judged by what reaches the far side", description: "proxy CONNECT to unlisted hosts or ports fails" },
  { id: "sni-mismatch", group: "escape", source: SEC7, liveOnly: "needs a TLS connection through the proxy: the SNI is only visible on the wire", description: "a TLS SNI that differs from the CONNECT host fails" },
  { id: "host-services", group: "escape", source: SEC7, liveOnly: "needs the sandbox: the host-side addresses exist only once it runs", description: "services on the host side of the sandbox are unreachable" },
  { id: "change-rules", group: "escape", source: SEC7, liveOnly: "needs the sandbox: tries nft/ip/sysctl from inside as the contained user", description: "the contained command cannot change its own rules" },
  { id: "proxy-variables", group: "escape", source: SEC7, liveOnly: "needs the sandbox: a client that ignores HTTP(S)_PROXY must still be blocked", description: "ignoring the proxy variables does not reach anything new" },
  { id: "ttl-reuse", group: "escape", source: SEC7, liveOnly: "needs the resolver and firewall sets: expiry is a matter of time, not of decide()", description: "an address learned from DNS is closed after its TTL" },
];

export const BUILTIN_IDS: readonly string[] = BUILTINS.map((b) => b.id);

export interface BuiltinOptions {
  /** only this phase (default: every declared phase, or none) */
  readonly phase?: string;
  /** hex text that makes probe names fresh; default: the first 8 hex digits of the policy hash */
  readonly nonce?: string;
}

// ---------------------------------------------------------------- probe-building helpers

/** One (name or address, protocol, port) a rule allows: its first destination, first port. */
interface Target {
  readonly rule: Rule;
  readonly name?: string;
  readonly ip?: IpAddr;
  readonly protocol: FlowProtocol;
  readonly port?: number;
}

const WILDCARD_LABEL = "cf-verify";
const ENFORCED: Variant = { kind: "enforced" };

function firstAddress(d: Extract<Dest, { kind: "cidr" }>): IpAddr {
  const c = d.cidr;
  const hostBits = (c.family === 4 ? 32 : 128) - c.prefix;
  // a network's first host, not the network address itself, when there is room
  return { family: c.family, value: hostBits >= 2 ? c.addr + 1n : c.addr };
}

function destTarget(d: Dest, nonce: string): { name?: string; ip?: IpAddr } {
  switch (d.kind) {
    case "domain":
      return { name: d.name };
    case "wildcard":
      return { name: `${WILDCARD_LABEL}.${d.suffix}` };
    case "cidr":
      return { ip: firstAddress(d) };
    case "any":
      return { name: `any-${nonce}.verify.example` };
    default: {
      const never: never = d;
      throw new Error(`unknown dest ${String(never)}`);
    }
  }
}

function ruleProtocol(r: Rule): FlowProtocol {
  return r.protocol === "any" ? "tcp" : r.protocol;
}

function activeIn(r: Rule, policy: Policy, phase: string | undefined): boolean {
  const p = phase ?? policy.phases[0];
  return r.phases === null || (p !== undefined && r.phases.includes(p));
}

function allowTargets(policy: Policy, phase: string | undefined, nonce: string): Target[] {
  const out: Target[] = [];
  for (const r of policy.rules) {
    if (r.action !== "allow" || !activeIn(r, policy, phase)) continue;
    const d = r.dests[0];
    if (!d) continue;
    const protocol = ruleProtocol(r);
    const port = protocol === "icmp" ? undefined : (r.ports?.[0]?.from ?? 443);
    out.push({ rule: r, ...destTarget(d, nonce), protocol, ...(port !== undefined ? { port } : {}) });
  }
  return out;
}

interface ProbeSpec {
  readonly name?: string;
  readonly ip?: IpAddr;
  readonly protocol: FlowProtocol;
  readonly port?: number;
  /** shown instead of the canonical form (special notations) */
  readonly shown?: string;
}

function flowProbe(spec: ProbeSpec, phase: string | undefined, expect: Probe["expect"], extra: { rule?: string; reasons?: readonly Reason[]; variant?: Variant } = {}): Probe {
  const port = spec.protocol === "icmp" ? undefined : spec.port;
  const base = spec.shown ?? formatDestination({ ...(spec.name !== undefined ? { name: spec.name } : {}), ...(spec.ip ? { ip: spec.ip } : {}), protocol: spec.protocol, ...(port !== undefined ? { port } : {}) });
  return {
    destination: phase === undefined ? base : `${base} @${phase}`,
    check: {
      kind: "flow",
      flow: {
        protocol: spec.protocol,
        ...(port !== undefined ? { port } : {}),
        ...(spec.ip ? { ip: spec.ip } : {}),
        ...(spec.name !== undefined ? { names: [spec.name] } : {}),
        ...(phase !== undefined ? { phase } : {}),
      },
    },
    expect,
    ...(extra.rule !== undefined ? { rule: extra.rule } : {}),
    ...(extra.reasons !== undefined ? { reasons: extra.reasons } : {}),
    variant: extra.variant ?? ENFORCED,
  };
}

function ip(text: string): IpAddr {
  const v = parseIp(text);
  if (!v) throw new Error(`verify/builtin: bad built-in address ${text}`);
  return v;
}

/**
 * The allow rule that lists exactly this destination for this protocol and port: a domain
 * entry equal to the name, or a CIDR entry containing the address no wider than
 * /`minPrefix4` (IPv4) or /`minPrefix6` (IPv6). `any` and wildcard entries never count.
 */
function listedBy(policy: Policy, spec: ProbeSpec, phase: string | undefined, minPrefix4 = 16, minPrefix6 = 48): Rule | undefined {
  for (const r of policy.rules) {
    if (r.action !== "allow" || !activeIn(r, policy, phase)) continue;
    if (r.protocol !== "any" && r.protocol !== spec.protocol) continue;
    if (r.ports !== null && (spec.protocol === "icmp" || spec.port === undefined || !portInRanges(r.ports, spec.port))) continue;
    for (const d of r.dests) {
      if (d.kind === "domain" && spec.name !== undefined && d.name === spec.name) return r;
      if (d.kind === "cidr" && spec.ip && d.cidr.family === spec.ip.family && d.cidr.prefix >= (spec.ip.family === 4 ? minPrefix4 : minPrefix6) && ipInCidr(spec.ip, d.cidr)) return r;
    }
  }
  return undefined;
}

function show(spec: ProbeSpec, phase: string | undefined): string {
  const base = spec.shown ?? formatDestination({ ...(spec.name !== undefined ? { name: spec.name } : {}), ...(spec.ip ? { ip: spec.ip } : {}), protocol: spec.protocol, ...(spec.port !== undefined && spec.protocol !== "icmp" ? { port: spec.port } : {}) });
  return phase === undefined ? base : `${base} @${phase}`;
}

/** Build deny probes for specs, exempting those the policy lists exactly. */
function denyOrExempt(
  policy: Policy,
  specs: readonly ProbeSpec[],
  phase: string | undefined,
  opts: { exempt: boolean; rule?: string; reasons?: readonly Reason[]; why?: string },
): { probes: Probe[]; exempt: Exempt[] } {
  const probes: Probe[] = [];
  const exempt: Exempt[] = [];
  for (const s of specs) {
    const by = opts.exempt ? listedBy(policy, s, phase) : undefined;
    if (by) {
      exempt.push({ destination: show(s, phase), reason: `listed by allow rule ${by.name} (${by.pos.file}:${by.pos.line}:${by.pos.column})${opts.why ? `: ${opts.why}` : ""}` });
      continue;
    }
    probes.push(flowProbe(s, phase, "deny", { ...(opts.rule !== undefined ? { rule: opts.rule } : {}), ...(opts.reasons ? { reasons: opts.reasons } : {}) }));
  }
  return { probes, exempt };
}

function info(id: string): BuiltinInfo {
  const b = BUILTINS.find((x) => x.id === id);
  if (!b) throw new Error(`verify/builtin: unknown built-in ${id}`);
  return b;
}

function scenario(id: string, probes: readonly Probe[], exempt: readonly Exempt[] = [], detail?: { suffix: string; description: string }): Scenario {
  const b = info(id);
  return {
    id: detail ? `${id}:${detail.suffix}` : id,
    family: id,
    group: b.group,
    description: detail?.description ?? b.description,
    probes,
    exempt,
    ...(b.liveOnly !== undefined ? { liveOnly: b.liveOnly } : {}),
  };
}

/** Probe names for catalog entries (wildcards get a label in front). */
function catalogNames(catalog: string): string[] {
  const c = CATALOGS[catalog];
  if (!c) throw new Error(`verify/builtin: unknown catalog ${catalog}`);
  const out: string[] = [];
  for (const e of c.entries) {
    if (e.dest.includes("${")) continue;
    if (e.dest.startsWith("*.")) out.push(`${WILDCARD_LABEL}.${e.dest.slice(2)}`);
    else if (parseIp(e.dest) === null && !e.dest.includes("/")) out.push(e.dest);
  }
  return out;
}

function catalogAddresses(catalog: string): IpAddr[] {
  const c = CATALOGS[catalog];
  if (!c) throw new Error(`verify/builtin: unknown catalog ${catalog}`);
  return c.entries.map((e) => parseIp(e.dest)).filter((x): x is IpAddr => x !== null);
}

/** The first rule that denies entries of `catalog`, if the policy has one. */
function catalogDenyRule(policy: Policy, catalog: string, phase: string | undefined): Rule | undefined {
  return policy.rules.find((r) => r.action === "deny" && activeIn(r, policy, phase) && r.dests.some((d) => d.origin.via === "catalog" && d.origin.catalog === catalog));
}

// ---------------------------------------------------------------- fixed probe sets

/** Public addresses of well-known sites in different /8s; direct-ip probes the first unlisted two. */
const PUBLIC_V4 = ["45.33.32.156", "93.184.215.14", "151.101.1.69", "23.215.0.136", "104.16.132.229"];
const PUBLIC_V6 = ["2a00:1450:4001:82a::200e", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "2a04:4e42::81"];
const EXTERNAL_DNS: readonly ProbeSpec[] = [
  { ip: ip("8.8.8.8"), protocol: "udp", port: 53 },
  { ip: ip("8.8.8.8"), protocol: "tcp", port: 53 },
  { ip: ip("1.1.1.1"), protocol: "udp", port: 53 },
  { ip: ip("1.1.1.1"), protocol: "tcp", port: 53 },
];
const OTHER_RESOLVERS: readonly ProbeSpec[] = [
  { ip: ip("9.9.9.9"), protocol: "udp", port: 53 },
  { ip: ip("208.67.222.222"), protocol: "tcp", port: 53 },
  { ip: ip("1.1.1.1"), protocol: "tcp", port: 853 },
  { ip: ip("8.8.4.4"), protocol: "udp", port: 853 },
  { ip: ip("2001:4860:4860::8888"), protocol: "udp", port: 53 },
  // a resolver no catalog lists: only a rule on ports 53/853 (or the default) stops it
  { ip: ip("77.88.8.8"), protocol: "udp", port: 53 },
  { ip: ip("77.88.8.8"), protocol: "tcp", port: 853 },
];
const METADATA: readonly ProbeSpec[] = [
  { ip: ip("169.254.169.254"), protocol: "tcp", port: 80 },
  { ip: ip("169.254.169.254"), protocol: "tcp", port: 443 },
  { ip: ip("fd00:ec2::254"), protocol: "tcp", port: 80 },
  { ip: ip("169.254.170.2"), protocol: "tcp", port: 80 },
  { ip: ip("100.100.100.200"), protocol: "tcp", port: 80 },
  { ip: ip("168.63.129.16"), protocol: "tcp", port: 80 },
  { name: "metadata.google.internal", protocol: "tcp", port: 80 },
  { ip: ip("::ffff:169.254.169.254"), protocol: "tcp", port: 80 },
  { ip: ip("64:ff9b::a9fe:a9fe"), protocol: "tcp", port: 80 },
  { ip: ip("2002:a9fe:a9fe::1"), protocol: "tcp", port: 80 },
];
const NOTATIONS: readonly string[] = ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0", "0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "2852039166", "[::ffff:7f00:1]", "[::]"];
const INTERNAL: readonly ProbeSpec[] = [
  { ip: ip("10.0.0.1"), protocol: "tcp", port: 22 },
  { ip: ip("10.255.255.254"), protocol: "tcp", port: 443 },
  { ip: ip("172.16.0.1"), protocol: "tcp", port: 443 },
  { ip: ip("192.168.0.1"), protocol: "tcp", port: 80 },
  { ip: ip("100.64.0.1"), protocol: "tcp", port: 443 },
  { ip: ip("169.254.1.1"), protocol: "tcp", port: 80 },
  { ip: ip("fd00::1"), protocol: "tcp", port: 443 },
  { ip: ip("fe80::1"), protocol: "tcp", port: 443 },
];
/** Rebinding answers: loopback and metadata are never exempt; private ones are under `internal`. */
const REBIND: ReadonlyArray<{ ip: IpAddr; private: boolean }> = [
  { ip: ip("127.0.0.1"), private: false },
  { ip: ip("169.254.169.254"), private: false },
  { ip: ip("::ffff:127.0.0.1"), private: false },
  { ip: ip("::1"), private: false },
  { ip: ip("10.0.0.1"), private: true },
  { ip: ip("192.168.1.1"), private: true },
  { ip: ip("fd00::1"), private: true },
];
const OTHER_PORTS = [80, 8443, 22, 25];

// ---------------------------------------------------------------- the scenarios

function forPhases(phases: readonly (string | undefined)[], build: (phase: string | undefined) => { probes: Probe[]; exempt: Exempt[] }): { probes: Probe[]; exempt: Exempt[] } {
  const probes: Probe[] = [];
  const exempt: Exempt[] = [];
  for (const p of phases) {
    const r = build(p);
    probes.push(...r.probes);
    exempt.push(...r.exempt);
  }
  return { probes, exempt };
}

/**
 * Every built-in scenario for `policy`, in BUILTINS order (derived families expand to one
 * scenario per allow rule). `policy` is the policy as loaded; probes are decided against its
 * enforced twin (see scenario.ts `Variant`).
 */
export function builtinScenarios(policy: Policy, opts: BuiltinOptions = {}): Scenario[] {
  const nonce = (opts.nonce ?? policy.hash.slice(0, 8)).toLowerCase();
  const phases: readonly (string | undefined)[] = opts.phase !== undefined ? [opts.phase] : policy.phases.length > 0 ? policy.phases : [undefined];
  const out: Scenario[] = [];

  // allowed-destinations: one scenario per allow rule (seed 002's allowed hosts, seed 003's allowed model call)
  const byRule = new Map<string, { rule: Rule; probes: Probe[] }>();
  for (const phase of phases) {
    for (const t of allowTargets(policy, phase, nonce)) {
      const entry = byRule.get(t.rule.name) ?? { rule: t.rule, probes: [] };
      entry.probes.push(flowProbe(t, phase, "allow"));
      byRule.set(t.rule.name, entry);
    }
  }
  for (const { rule, probes } of byRule.values()) {
    out.push(scenario("allowed-destinations", probes, [], { suffix: rule.name, description: `allow rule ${rule.name}: its first destination on its first port is allowed` }));
  }

  const attacker = `exfil-${nonce}.attacker.example`;
  out.push(
    scenario(
      "blocked-attacker-domain",
      forPhases(phases, (p) => ({
        probes: [flowProbe({ name: attacker, protocol: "tcp", port: 443 }, p, "deny"), flowProbe({ name: attacker, protocol: "tcp", port: 80 }, p, "deny")],
        exempt: [],
      })).probes,
    ),
  );

  {
    const r = forPhases(phases, (p) => {
      const rule = catalogDenyRule(policy, "shadow-model-providers", p);
      const specs = catalogNames("shadow-model-providers").map((name): ProbeSpec => ({ name, protocol: "tcp", port: 443 }));
      return denyOrExempt(policy, specs, p, { exempt: true, ...(rule ? { rule: rule.name } : {}), why: "a sanctioned provider" });
    });
    out.push(scenario("blocked-shadow-model", r.probes, r.exempt));
  }

  out.push(scenario("blocked-external-dns", forPhases(phases, (p) => denyOrExempt(policy, EXTERNAL_DNS, p, { exempt: false })).probes));

  {
    const fresh = `new-dest-${nonce}.rollout.example`;
    const probes: Probe[] = [];
    for (const p of phases) {
      probes.push(flowProbe({ name: fresh, protocol: "tcp", port: 443 }, p, "would-deny", { variant: { kind: "monitored" } }));
      probes.push(flowProbe({ name: fresh, protocol: "tcp", port: 443 }, p, "deny"));
      probes.push(flowProbe({ name: fresh, protocol: "tcp", port: 443 }, p, "allow", { rule: addedRuleName(policy), variant: { kind: "added", name: fresh, port: 443, protocol: "tcp" } }));
    }
    out.push(scenario("monitor-to-enforce", probes));
  }

  // ---- escape classes

  {
    const r = forPhases(phases, (p) => {
      const candidates = PUBLIC_V4.map(ip).filter((a) => !listedBy(policy, { ip: a, protocol: "tcp", port: 443 }, p, 8, 32));
      const chosen = candidates.length > 0 ? candidates.slice(0, 2) : PUBLIC_V4.slice(0, 1).map(ip);
      const specs = chosen.flatMap((a) => [443, 80, 22].map((port): ProbeSpec => ({ ip: a, protocol: "tcp", port })));
      return denyOrExempt(policy, specs, p, { exempt: false });
    });
    out.push(scenario("direct-ip", r.probes));
  }

  {
    const r = forPhases(phases, (p) => {
      const specs: ProbeSpec[] = [];
      for (const t of allowTargets(policy, p, nonce)) {
        if (t.rule.ports === null || t.protocol === "icmp") continue;
        const ranges = t.rule.ports;
        for (const port of OTHER_PORTS.filter((x) => !portInRanges(ranges, x)).slice(0, 3)) specs.push({ ...pick(t), protocol: t.protocol, port });
      }
      return denyOrExempt(policy, specs, p, { exempt: true });
    });
    // no allow rule restricts its ports: nothing to probe, and the runner reports it skipped, never passed
    out.push(scenario("other-port", r.probes, r.exempt));
  }

  {
    const unlisted = PUBLIC_V4.map(ip)[0] as IpAddr;
    const r = forPhases(phases, (p) => {
      const specs: ProbeSpec[] = [
        { name: `quic-${nonce}.attacker.example`, protocol: "udp", port: 443 },
        { ip: unlisted, protocol: "udp", port: 443 },
      ];
      for (const t of allowTargets(policy, p, nonce)) {
        if (t.rule.protocol !== "tcp") continue;
        specs.push({ ...pick(t), protocol: "udp", port: t.port ?? 443 });
      }
      return denyOrExempt(policy, specs, p, { exempt: true });
    });
    out.push(scenario("udp-quic", r.probes, r.exempt));
  }

  {
    const unlisted = PUBLIC_V4.map(ip)[0] as IpAddr;
    const r = forPhases(phases, (p) => {
      const specs: ProbeSpec[] = [
        { name: `ping-${nonce}.attacker.example`, protocol: "icmp" },
        { ip: unlisted, protocol: "icmp" },
        { ip: PUBLIC_V6.map(ip)[0] as IpAddr, protocol: "icmp" },
      ];
      for (const t of allowTargets(policy, p, nonce)) {
        // a rule with ports never matches ICMP; one with protocol any and no ports allows it on purpose
        if (t.rule.protocol === "icmp" || (t.rule.protocol === "any" && t.rule.ports === null)) continue;
        specs.push({ ...pick(t), protocol: "icmp" });
      }
      return denyOrExempt(policy, specs, p, { exempt: true });
    });
    out.push(scenario("icmp", r.probes, r.exempt));
  }

  {
    const r = forPhases(phases, (p) => {
      const v6 = PUBLIC_V6.map(ip).filter((a) => !listedBy(policy, { ip: a, protocol: "tcp", port: 443 }, p, 8, 32));
      const specs: ProbeSpec[] = (v6.length > 0 ? v6.slice(0, 2) : PUBLIC_V6.slice(0, 1).map(ip)).flatMap((a) => [
        { ip: a, protocol: "tcp" as const, port: 443 },
        { ip: a, protocol: "tcp" as const, port: 80 },
      ]);
      const v4 = PUBLIC_V4.map(ip).find((a) => !listedBy(policy, { ip: a, protocol: "tcp", port: 443 }, p, 8, 32)) ?? ip(PUBLIC_V4[0] as string);
      specs.push({ ip: { family: 6, value: 0xffff00000000n | v4.value }, protocol: "tcp", port: 443 });
      return denyOrExempt(policy, specs, p, { exempt: false });
    });
    out.push(scenario("ipv6", r.probes));
  }

  {
    const r = forPhases(phases, (p) =>
      denyOrExempt(policy, [...OTHER_RESOLVERS, { name: `ns-${nonce}.attacker.example`, protocol: "udp", port: 53 }, { name: `ns-${nonce}.attacker.example`, protocol: "tcp", port: 853 }], p, { exempt: false }),
    );
    out.push(scenario("other-resolvers", r.probes));
  }

  {
    const r = forPhases(phases, (p) => {
      const specs: ProbeSpec[] = [
        ...catalogNames("doh-resolvers").map((name): ProbeSpec => ({ name, protocol: "tcp", port: 443 })),
        ...catalogAddresses("doh-resolvers").map((a): ProbeSpec => ({ ip: a, protocol: "tcp", port: 443 })),
      ];
      return denyOrExempt(policy, specs, p, { exempt: true, why: "a resolver the policy allows by name" });
    });
    out.push(scenario("doh", r.probes, r.exempt));
  }

  {
    const probes: Probe[] = [];
    const data = ["mzxw6ytboi2dsnzrgq3tqnjvgu2dmnzy", "ge3dqmrtgq2tmnzyhe4dqnjsg4ztcnbv", "nbswy3dpeb3w64tmmqqgc3tpfzxxe5"];
    for (const p of phases) {
      for (const name of [`${data[0] ?? ""}.${data[1] ?? ""}.t${nonce}.tunnel.example`, `${data[2] ?? ""}.t${nonce}.tunnel.example`]) {
        probes.push({
          destination: p === undefined ? `DNS question ${name}` : `DNS question ${name} @${p}`,
          check: { kind: "dns-question", name, ...(p !== undefined ? { phase: p } : {}) },
          expect: "deny",
          variant: ENFORCED,
        });
      }
    }
    out.push(scenario("dns-tunnel", probes));
  }

  {
    const r = forPhases(phases, (p) => {
      const probes: Probe[] = [];
      const exempt: Exempt[] = [];
      const names = allowTargets(policy, p, nonce).filter((t) => t.name !== undefined && t.protocol !== "icmp");
      const targets: Array<{ name: string; protocol: FlowProtocol; port: number }> = names.map((t) => ({ name: t.name as string, protocol: t.protocol, port: t.port ?? 443 }));
      targets.push({ name: `rebind-${nonce}.attacker.example`, protocol: "tcp", port: 443 });
      for (const t of targets) {
        for (const a of REBIND) {
          const spec: ProbeSpec = { name: t.name, ip: a.ip, protocol: t.protocol, port: t.port };
          const internal = a.private ? policy.internal.find((c) => c.family === a.ip.family && ipInCidr(a.ip, c)) : undefined;
          if (internal) {
            exempt.push({ destination: show(spec, p), reason: `${formatIp(a.ip)} is under internal: ${internal.text}, where allowed names may resolve` });
            continue;
          }
          probes.push(flowProbe(spec, p, "deny", { reasons: ["special-range", "rule-deny"] }));
        }
      }
      return { probes, exempt };
    });
    out.push(scenario("dns-rebinding", r.probes, r.exempt));
  }

  out.push(scenario("metadata", forPhases(phases, (p) => denyOrExempt(policy, METADATA, p, { exempt: false })).probes));

  {
    const specs: ProbeSpec[] = NOTATIONS.map((text) => {
      const a = parseIpLoose(text);
      if (!a || classifySpecial(a) === null) throw new Error(`verify/builtin: ${text} is not a special-purpose address`);
      return { ip: a, protocol: "tcp", port: 80, shown: `${text}:80/tcp (= ${formatIp(a)})` };
    });
    out.push(scenario("special-notations", forPhases(phases, (p) => denyOrExempt(policy, specs, p, { exempt: false })).probes));
  }

  {
    const r = forPhases(phases, (p) => denyOrExempt(policy, INTERNAL, p, { exempt: true, why: "an internal network the policy lists" }));
    out.push(scenario("internal-ranges", r.probes, r.exempt));
  }

  for (const b of BUILTINS) if (b.liveOnly !== undefined) out.push(scenario(b.id, []));
  return out;
}

function pick(t: Target): { name?: string; ip?: IpAddr } {
  return { ...(t.name !== undefined ? { name: t.name } : {}), ...(t.ip ? { ip: t.ip } : {}) };
}
