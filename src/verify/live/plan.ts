/**
 * verify/live/plan — what `verify --live` does, decided before anything runs: for every
 * scenario probe, the action the probe script takes inside the sandbox and the far-side
 * targets whose records decide it; the world's zone and listeners; which sandbox runs are
 * needed (one per sandbox mode and phase) and, inside each, the waves (probes in one wave run
 * concurrently and never share a far-side target, so every record belongs to one probe).
 *
 * World addresses: every probed name resolves to its own address in WORLD_RANGES, a public
 * range (classifySpecial() returns null for it) that the policy's CIDR entries do not touch,
 * so names and `any` reach it exactly as they would reach the internet, and no probe's
 * literal address falls into it. The addresses exist only on the `lo` of the live world's
 * internet namespace; nothing leaves the namespaces. The user's policy is used unchanged (no
 * `internal:` is added): only `--dns-upstream` points the sandbox's guard at the world's
 * resolver.
 *
 * Pure: no I/O, no clock. Used by verify/live/runner.ts; the probe script (probe.ts) and the
 * recorder (recorder.ts) read the JSON this produces.
 */
import { compileDecider } from "../../match/decide.ts";
import { cidrRange, formatIp, ipInCidr, parseCidr, parseIp, unmapV4, type IpAddr } from "../../match/ip.ts";
import { classifySpecial } from "../../match/special.ts";
import type { Cidr, FlowProtocol, Policy, Rule } from "../../policy/ir.ts";
import { enforcedTwin } from "../twins.ts";
import type { Probe, Scenario, Variant } from "../scenario.ts";

/** Candidate /16s for the world's names (public, unrouted in practice, outside every special-purpose range). */
export const WORLD_RANGES = ["11.0.0.0/16", "21.0.0.0/16", "26.0.0.0/16", "28.0.0.0/16", "30.0.0.0/16"] as const;
/** The link between the world's host and internet namespaces. */
export const LINK = { host4: "198.18.0.1", inet4: "198.18.0.2", host6: "2001:db8:cf::1", inet6: "2001:db8:cf::2" } as const;
/** Ports the host-side recorder listens on (services on the host side of the sandbox). */
export const HOST_PORTS: ReadonlyArray<{ proto: "tcp" | "udp"; port: number }> = [
  { proto: "tcp", port: 9911 },
  { proto: "udp", port: 9911 },
  { proto: "tcp", port: 22 },
];
/** Sandbox modes a run can use: the policy as written, or `clawfence run --mode M`. */
export type SandboxMode = "as-written" | "enforce" | "monitor";
/** TTL the zone gives the ttl-reuse name; learned addresses live max(this, dns.min_ttl). */
export const SHORT_TTL = 1;
/** ttl-reuse is probed only when dns.min_ttl is at most this (it waits that long). */
export const TTL_REUSE_MAX_WAIT = 10;

export type Payload = "tls" | "http" | "raw";

/** What the probe script does for one probe (see probe.ts). */
export type Op =
  /** optionally resolve `resolve` through the sandbox's resolver, then connect straight to addr */
  | { readonly op: "tcp"; readonly resolve?: string; readonly addr: string; readonly port: number; readonly payload: Payload; readonly name?: string }
  | { readonly op: "udp"; readonly resolve?: string; readonly addr: string; readonly port: number }
  /** a DNS question through the sandbox's resolver */
  | { readonly op: "dns"; readonly name: string }
  /** CONNECT host:port through HTTP_PROXY, then a TLS ClientHello naming `sni` */
  | { readonly op: "connect"; readonly host: string; readonly port: number; readonly sni?: string }
  /** connect to a host-side address of the sandbox (its gateway, or the world link's host address) */
  | { readonly op: "host"; readonly which: "gateway" | "link"; readonly proto: "tcp" | "udp"; readonly port: number }
  /** try to change the rules from inside */
  | { readonly op: "change-rules" };

/** A far-side target: what must (or must not) be recorded for the probe. */
export type Far =
  | { readonly kind: "conn"; readonly proto: "tcp" | "udp"; readonly addr: string; readonly port: number; /** only bytes count, not the connection */ readonly data?: boolean }
  | { readonly kind: "dns"; readonly name: string }
  | { readonly kind: "host"; readonly proto: "tcp" | "udp"; readonly port: number }
  | { readonly kind: "rules" };

export interface RunKey {
  readonly mode: SandboxMode;
  readonly phase?: string;
}

export interface LiveProbe {
  readonly id: number;
  readonly scenario: string;
  readonly probe: Probe;
  /** judge the probe with decide() as well (false for live-only classes: the far side alone decides) */
  readonly staticToo: boolean;
  readonly op: Op;
  readonly far: readonly Far[];
  readonly run: RunKey;
  /** 0 change-rules, 1 everything, 2 and 3 ttl-reuse (3 waits for the TTL) */
  readonly stage: number;
  /** a wave holding this probe starts that long after the previous one ended */
  readonly delayMs?: number;
}

export interface NotLive {
  readonly scenario: string;
  readonly probe: Probe;
  readonly why: string;
}

export interface Wave {
  readonly index: number;
  readonly delayMs: number;
  readonly probes: readonly LiveProbe[];
  /** compare the host namespace's ruleset before and after this wave */
  readonly rulesCheck: boolean;
}

export interface RunPlan {
  readonly key: RunKey;
  readonly waves: readonly Wave[];
}

export interface ZoneEntry {
  readonly name: string;
  readonly a: readonly string[];
  readonly aaaa: readonly string[];
  readonly ttl: number;
}

export interface LivePlan {
  readonly worldRange: string;
  readonly resolver: string;
  readonly zone: readonly ZoneEntry[];
  /** listeners of the internet namespace (addresses go on its lo) */
  readonly listeners: ReadonlyArray<{ proto: "tcp" | "udp"; addr: string; port: number }>;
  readonly runs: readonly RunPlan[];
  readonly probes: readonly LiveProbe[];
  readonly notLive: readonly NotLive[];
  /** live-only scenarios that cannot be probed for this policy, with the reason */
  readonly skipped: ReadonlyMap<string, string>;
}

export interface PlanOptions {
  /** force every sandbox into this mode (`verify --live --sandbox-mode`): a self-test of live mode */
  readonly sandboxMode?: "enforce" | "monitor";
  readonly phase?: string;
  readonly nonce?: string;
}

export class PlanError extends Error {
  readonly code: string;
  readonly fix: string;
  constructor(code: string, message: string, fix: string) {
    super(message);
    this.code = code;
    this.fix = fix;
  }
}

const ENFORCED: Variant = { kind: "enforced" };
const UNLISTED_V4 = ["45.33.32.156", "93.184.215.14", "151.101.1.69", "23.215.0.136"];

function farKey(f: Far): string {
  switch (f.kind) {
    case "conn":
      return `conn|${f.proto}|${f.addr}|${f.port}`;
    case "dns":
      return `dns|${f.name}`;
    case "host":
      return `host|${f.proto}|${f.port}`;
    case "rules":
      return "rules";
    default: {
      const never: never = f;
      throw new Error(`unknown far target ${String(never)}`);
    }
  }
}
export { farKey };

function payloadFor(port: number): Payload {
  return port === 443 ? "tls" : port === 80 ? "http" : "raw";
}

/** Why an address cannot be reached in the world (the sandbox's own addresses, scoped v6). */
function unreachableWhy(ip: IpAddr): string | null {
  const v4 = unmapV4(ip) ?? (ip.family === 4 ? ip : null);
  if (v4 && v4.value >> 24n === 127n) return "loopback inside the sandbox is the sandbox's own (no far side to judge by)";
  if (v4 && v4.value >> 24n === 0n) return "0.0.0.0/8 means this host: inside the sandbox, the sandbox itself";
  if (ip.family === 6 && (ip.value === 0n || ip.value === 1n)) return "[::] and [::1] are the sandbox itself";
  if (ip.family === 6 && ip.value >> 118n === 0x3fan) return "link-local IPv6 needs an interface scope; the sandbox's only link is to clawfence";
  if (v4 && v4.value >> 28n === 0xen) return "multicast has no single far side";
  return null;
}

/** The address a connection to `ip` reaches (the embedded IPv4 of a mapped address). */
function landsOn(ip: IpAddr): IpAddr {
  return unmapV4(ip) ?? ip;
}

function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const ra = cidrRange(a);
  const rb = cidrRange(b);
  return ra.first <= rb.last && rb.first <= ra.last;
}

function pickWorldRange(policy: Policy, literals: readonly IpAddr[]): Cidr {
  const cidrs = policy.rules.flatMap((r) => r.dests.flatMap((d) => (d.kind === "cidr" ? [d.cidr] : [])));
  for (const text of WORLD_RANGES) {
    const c = parseCidr(text);
    if (!c) continue;
    if (classifySpecial({ family: 4, value: c.addr }) !== null) continue;
    if (cidrs.some((x) => overlaps(x, c)) || policy.internal.some((x) => overlaps(x, c))) continue;
    if (literals.some((ip) => ipInCidr(ip, c))) continue;
    return c;
  }
  throw new PlanError("CF_VERIFY_LIVE_WORLD", `every candidate range for the live world's names (${WORLD_RANGES.join(", ")}) is listed by the policy or probed`, "run static mode, or probe fewer literal addresses in those ranges");
}

function modeFor(v: Variant, policy: Policy, forced: PlanOptions["sandboxMode"]): SandboxMode | null {
  if (v.kind === "added") return null;
  if (forced) return forced;
  switch (v.kind) {
    case "policy":
      return "as-written";
    case "enforced":
      return enforcedTwin(policy) === policy ? "as-written" : "enforce";
    case "monitored":
      return policy.mode === "monitor" && policy.rules.every((r) => r.mode === "monitor") ? "as-written" : "monitor";
    default: {
      const never: never = v;
      throw new Error(`unknown variant ${String(never)}`);
    }
  }
}

interface AllowedName {
  readonly rule: Rule;
  readonly name: string;
}

/** Exact names the policy allows over TCP, with the rule (in rule order). */
function allowedTcpNames(policy: Policy, phase: string | undefined): AllowedName[] {
  const out: AllowedName[] = [];
  for (const r of policy.rules) {
    if (r.action !== "allow" || (r.protocol !== "tcp" && r.protocol !== "any")) continue;
    if (r.phases !== null && (phase === undefined || !r.phases.includes(phase))) continue;
    for (const d of r.dests) if (d.kind === "domain") out.push({ rule: r, name: d.name });
  }
  return out;
}

function allowsPort(r: Rule, port: number): boolean {
  return r.ports === null || r.ports.some((p) => p.from <= port && port <= p.to);
}

function flowProbe(destination: string, protocol: FlowProtocol, port: number, target: { name?: string; ip?: IpAddr }, expect: Probe["expect"], phase: string | undefined): Probe {
  return {
    destination,
    check: {
      kind: "flow",
      flow: { protocol, port, ...(target.ip ? { ip: target.ip } : {}), ...(target.name !== undefined ? { names: [target.name] } : {}), ...(phase !== undefined ? { phase } : {}) },
    },
    expect,
    variant: ENFORCED,
  };
}

/** Build the plan for these scenarios (disabled ones already removed). */
export function buildPlan(policy: Policy, scenarios: readonly Scenario[], opts: PlanOptions = {}): LivePlan {
  const nonce = (opts.nonce ?? policy.hash.slice(0, 8)).toLowerCase();
  const phase = opts.phase ?? policy.phases[0];
  const decider = compileDecider(enforcedTwin(policy));

  // literal addresses probed anywhere, so the world's names keep clear of them
  const literals: IpAddr[] = UNLISTED_V4.map((t) => parseIp(t) as IpAddr);
  for (const s of scenarios) for (const p of s.probes) if (p.check.kind === "flow" && p.check.flow.ip) literals.push(landsOn(p.check.flow.ip));
  const range = pickWorldRange(policy, literals);
  const resolver = formatIp({ family: 4, value: range.addr + 53n });
  const nameAddr = new Map<string, string>();
  const extra = new Map<string, { a: Set<string>; aaaa: Set<string> }>();
  const ttl = new Map<string, number>();
  const addrOf = (name: string): string => {
    let a = nameAddr.get(name);
    if (a === undefined) {
      a = formatIp({ family: 4, value: range.addr + 256n + BigInt(nameAddr.size) });
      nameAddr.set(name, a);
    }
    return a;
  };

  const probes: LiveProbe[] = [];
  const notLive: NotLive[] = [];
  const skipped = new Map<string, string>();
  let nextId = 0;
  const add = (scenario: string, probe: Probe, staticToo: boolean, op: Op, far: Far[], run: RunKey, stage = 1, delayMs?: number): void => {
    probes.push({ id: nextId++, scenario, probe, staticToo, op, far, run, stage, ...(delayMs !== undefined ? { delayMs } : {}) });
  };
  const runKey = (mode: SandboxMode, ph: string | undefined): RunKey => ({ mode, ...(ph !== undefined ? { phase: ph } : {}) });

  for (const s of scenarios) {
    if (s.liveOnly !== undefined) continue;
    for (const p of s.probes) {
      const mode = modeFor(p.variant, policy, opts.sandboxMode);
      if (mode === null) {
        notLive.push({ scenario: s.id, probe: p, why: "it needs a changed policy (an added allow rule); live mode runs the policy as given" });
        continue;
      }
      const c = p.check;
      if (c.kind === "dns-question") {
        add(s.id, p, true, { op: "dns", name: c.name }, [{ kind: "dns", name: c.name }], runKey(mode, c.phase ?? phase));
        continue;
      }
      const f = c.flow;
      const run = runKey(mode, f.phase ?? phase);
      if (f.protocol === "icmp" || f.port === undefined) {
        notLive.push({ scenario: s.id, probe: p, why: "ICMP: the unprivileged probe cannot open ICMP sockets in the sandbox" });
        continue;
      }
      const name = f.names?.[0];
      let addr: string;
      if (f.ip) {
        const why = unreachableWhy(f.ip);
        if (why !== null) {
          notLive.push({ scenario: s.id, probe: p, why });
          continue;
        }
        addr = formatIp(f.ip);
        if (name !== undefined) {
          // a DNS answer for the name (rebinding): the world's zone answers it too
          const e = extra.get(name) ?? { a: new Set<string>(), aaaa: new Set<string>() };
          (f.ip.family === 4 ? e.a : e.aaaa).add(addr);
          extra.set(name, e);
          addrOf(name);
        }
      } else if (name !== undefined) addr = addrOf(name);
      else {
        notLive.push({ scenario: s.id, probe: p, why: "the probe names neither an address nor a name" });
        continue;
      }
      const farAddr = f.ip ? formatIp(landsOn(f.ip)) : addr;
      const far: Far[] = [{ kind: "conn", proto: f.protocol, addr: farAddr, port: f.port }];
      const op: Op =
        f.protocol === "tcp"
          ? { op: "tcp", ...(name !== undefined ? { resolve: name, name } : {}), addr, port: f.port, payload: payloadFor(f.port) }
          : { op: "udp", ...(name !== undefined ? { resolve: name } : {}), addr, port: f.port };
      add(s.id, p, true, op, far, run);
    }
  }

  // ---- live-only classes
  const liveIds = new Set(scenarios.filter((s) => s.liveOnly !== undefined).map((s) => s.id));
  const enforcedRun = runKey(opts.sandboxMode ?? (enforcedTwin(policy) === policy ? "as-written" : "enforce"), phase);
  const allows = (name: string, port: number): boolean => decider.decide({ protocol: "tcp", port, names: [name], ...(phase !== undefined ? { phase } : {}) }).verdict === "allow";
  const names = allowedTcpNames(policy, phase);
  const unlistedIp = UNLISTED_V4.map((t) => parseIp(t) as IpAddr).find((ip) => decider.decide({ protocol: "tcp", port: 443, ip, ...(phase !== undefined ? { phase } : {}) }).verdict === "deny");
  const ph = phase;

  if (liveIds.has("connect-unlisted")) {
    const id = "connect-unlisted";
    const fresh = `connect-${nonce}.attacker.example`;
    add(id, flowProbe(`CONNECT ${fresh}:443 via HTTP_PROXY`, "tcp", 443, { name: fresh }, "deny", ph), false, { op: "connect", host: fresh, port: 443 }, [{ kind: "conn", proto: "tcp", addr: addrOf(fresh), port: 443 }], enforcedRun);
    if (unlistedIp) {
      const a = formatIp(unlistedIp);
      add(id, flowProbe(`CONNECT ${a}:443 via HTTP_PROXY`, "tcp", 443, { ip: unlistedIp }, "deny", ph), false, { op: "connect", host: a, port: 443 }, [{ kind: "conn", proto: "tcp", addr: a, port: 443 }], enforcedRun);
    }
    const restricted = names.find((n) => n.rule.ports !== null && allows(n.name, n.rule.ports[0]?.from ?? 443));
    if (restricted) {
      const port = [8443, 22, 25, 8080].find((x) => !allowsPort(restricted.rule, x));
      if (port !== undefined) {
        add(id, flowProbe(`CONNECT ${restricted.name}:${port} via HTTP_PROXY (rule ${restricted.rule.name} does not list the port)`, "tcp", port, { name: restricted.name }, "deny", ph), false, { op: "connect", host: restricted.name, port }, [{ kind: "conn", proto: "tcp", addr: addrOf(restricted.name), port }], enforcedRun);
      }
      const ok = restricted.rule.ports?.[0]?.from ?? 443;
      add(id, flowProbe(`CONNECT ${restricted.name}:${ok} via HTTP_PROXY (control: allowed by ${restricted.rule.name})`, "tcp", ok, { name: restricted.name }, "allow", ph), false, { op: "connect", host: restricted.name, port: ok, ...(ok === 443 ? { sni: restricted.name } : {}) }, [{ kind: "conn", proto: "tcp", addr: addrOf(restricted.name), port: ok }], enforcedRun);
    }
  }

  if (liveIds.has("sni-mismatch")) {
    const id = "sni-mismatch";
    const target = names.find((n) => allowsPort(n.rule, 443) && allows(n.name, 443));
    if (!target) skipped.set(id, "not applicable: no allow rule lists an exact name on tcp 443 to CONNECT to");
    else {
      const other = `sni-${nonce}.attacker.example`;
      const far: Far[] = [{ kind: "conn", proto: "tcp", addr: addrOf(target.name), port: 443, data: true }];
      add(id, flowProbe(`CONNECT ${target.name}:443, ClientHello SNI ${other}`, "tcp", 443, { name: target.name }, "deny", ph), false, { op: "connect", host: target.name, port: 443, sni: other }, far, enforcedRun);
      add(id, flowProbe(`CONNECT ${target.name}:443, ClientHello SNI ${target.name} (control)`, "tcp", 443, { name: target.name }, "allow", ph), false, { op: "connect", host: target.name, port: 443, sni: target.name }, far, enforcedRun);
    }
  }

  if (liveIds.has("host-services")) {
    const id = "host-services";
    for (const h of HOST_PORTS) {
      add(id, flowProbe(`sandbox gateway:${h.port}/${h.proto} (host side)`, h.proto, h.port, {}, "deny", ph), false, { op: "host", which: "gateway", proto: h.proto, port: h.port }, [{ kind: "host", proto: h.proto, port: h.port }], enforcedRun);
    }
    add(id, flowProbe(`${LINK.host4}:9911/tcp (the host's own address)`, "tcp", 9911, { ip: parseIp(LINK.host4) as IpAddr }, "deny", ph), false, { op: "host", which: "link", proto: "tcp", port: 9911 }, [{ kind: "host", proto: "tcp", port: 9911 }], enforcedRun);
  }

  if (liveIds.has("change-rules")) {
    add("change-rules", flowProbe("nft flush ruleset, ip route, sysctl from inside, as the contained user", "tcp", 1, {}, "deny", ph), false, { op: "change-rules" }, [{ kind: "rules" }], enforcedRun, 0);
  }

  if (liveIds.has("proxy-variables")) {
    const id = "proxy-variables";
    const fresh = `noproxy-${nonce}.attacker.example`;
    if (unlistedIp) {
      const a = formatIp(unlistedIp);
      for (const port of [8080, 80]) {
        add(id, flowProbe(`${a}:${port}/tcp directly (proxy variables ignored)`, "tcp", port, { ip: unlistedIp }, "deny", ph), false, { op: "tcp", addr: a, port, payload: payloadFor(port) }, [{ kind: "conn", proto: "tcp", addr: a, port }], enforcedRun);
      }
    }
    add(id, flowProbe(`${fresh}:443/tcp directly, to its address (proxy variables ignored)`, "tcp", 443, { name: fresh }, "deny", ph), false, { op: "tcp", addr: addrOf(fresh), port: 443, payload: "tls", name: fresh }, [{ kind: "conn", proto: "tcp", addr: addrOf(fresh), port: 443 }], enforcedRun);
  }

  if (liveIds.has("ttl-reuse")) {
    const id = "ttl-reuse";
    const min = policy.dns.minTtl;
    const cand = names.map((n) => ({ n, port: n.rule.ports === null ? 8443 : [...n.rule.ports].flatMap((r) => [r.from, r.to]).find((x) => x !== 80 && x !== 443) })).find((c) => c.port !== undefined && allows(c.n.name, c.port));
    if (min > TTL_REUSE_MAX_WAIT) skipped.set(id, `not applicable: dns.min_ttl is ${min} s, so a learned address legitimately lives at least that long; waiting past it is over the ${TTL_REUSE_MAX_WAIT} s live mode allows (judge it with a policy whose min_ttl is small)`);
    else if (!cand || cand.port === undefined) skipped.set(id, "not applicable: no allow rule lists an exact name on a TCP port other than 80/443 (those go through the proxy, which resolves by itself)");
    else {
      const { n, port } = cand;
      const a = addrOf(n.name);
      ttl.set(n.name, SHORT_TTL);
      const wait = Math.max(SHORT_TTL, min) + 2;
      const far: Far[] = [{ kind: "conn", proto: "tcp", addr: a, port }];
      add(id, flowProbe(`${n.name} resolved (TTL ${SHORT_TTL} s, min_ttl ${min} s), then ${a}:${port}/tcp at once (control)`, "tcp", port, { name: n.name, ip: parseIp(a) as IpAddr }, "allow", ph), false, { op: "tcp", resolve: n.name, addr: a, port, payload: "raw" }, far, enforcedRun, 2);
      add(id, flowProbe(`${a}:${port}/tcp again ${wait} s later, without asking DNS`, "tcp", port, { ip: parseIp(a) as IpAddr }, "deny", ph), false, { op: "tcp", addr: a, port, payload: "raw" }, far, enforcedRun, 3, wait * 1000);
    }
  }

  // ---- zone and listeners
  for (const n of allowedTcpNames(policy, undefined)) if (nameAddr.size < 5000) addrOf(n.name);
  const zone: ZoneEntry[] = [...nameAddr.entries()].map(([name, a]) => {
    const e = extra.get(name);
    return { name, a: [a, ...(e ? [...e.a].filter((x) => x !== a) : [])], aaaa: e ? [...e.aaaa] : [], ttl: ttl.get(name) ?? 30 };
  });
  const lkeys = new Set<string>();
  const listeners: Array<{ proto: "tcp" | "udp"; addr: string; port: number }> = [];
  for (const p of probes) {
    for (const f of p.far) {
      if (f.kind !== "conn") continue;
      const k = `${f.proto}|${f.addr}|${f.port}`;
      if (lkeys.has(k)) continue;
      lkeys.add(k);
      listeners.push({ proto: f.proto, addr: f.addr, port: f.port });
    }
  }

  // ---- runs and waves: first the run everything but monitor probes need, then the others
  const runs: RunPlan[] = [];
  const order = (k: RunKey): string => `${k.mode === "monitor" ? 1 : 0}|${k.mode}|${k.phase ?? ""}`;
  const keys = [...new Map(probes.map((p) => [order(p.run), p.run])).entries()].sort((a, b) => a[0].localeCompare(b[0]));
  for (const [k, key] of keys) {
    const mine = probes.filter((p) => order(p.run) === k);
    const waves: Wave[] = [];
    for (const stage of [0, 1, 2, 3]) {
      const buckets: Array<{ probes: LiveProbe[]; used: Set<string>; delay: number }> = [];
      for (const p of mine.filter((x) => x.stage === stage)) {
        const ks = p.far.map(farKey);
        let b = buckets.find((x) => x.probes.length < 128 && ks.every((y) => !x.used.has(y)));
        if (!b) {
          b = { probes: [], used: new Set(), delay: 0 };
          buckets.push(b);
        }
        b.probes.push(p);
        for (const y of ks) b.used.add(y);
        b.delay = Math.max(b.delay, p.delayMs ?? 0);
      }
      for (const b of buckets) waves.push({ index: waves.length, delayMs: b.delay, probes: b.probes, rulesCheck: stage === 0 });
    }
    runs.push({ key, waves });
  }

  return { worldRange: range.text, resolver, zone, listeners, runs, probes, notLive, skipped };
}
