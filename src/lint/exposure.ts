/**
 * lint/exposure — findings about what a policy lets out: DNS to resolvers other than the
 * upstreams (CF5010), DNS-over-HTTPS endpoints (CF5011), `any`/large networks on every port
 * (CF5020), allows without ports (CF5021), wildcards over shared hosting (CF5022), broad
 * `internal` ranges (CF5023), cloud metadata endpoints (CF5024) and plain HTTP (CF5030).
 *
 * Map: uses the first-match results of lint/space.ts, so a flow that an earlier deny takes
 * is never reported as exposed (a `deny: [catalog:doh-resolvers]` ahead of `allow: [any]`
 * closes the DoH finding). Reads built-in catalogs doh-resolvers, cloud-metadata and
 * shared-hosting as data. Pure: no I/O.
 */
import type { Diagnostic } from "../policy/errors.ts";
import type { Dest, Rule } from "../policy/ir.ts";
import { CATALOGS } from "../policy/catalogs/index.ts";
import type { Catalog } from "../policy/catalogs/types.ts";
import { cidrContains, parseCidr, parseIp } from "../policy/addr.ts";
import { destLabel, destText, finding, listSome, ruleByOrder, type LintContext } from "./context.ts";
import { DNS_PORTS, HTTPS_PORT, PROTOS, type Target } from "./space.ts";

export function checkExposure(ctx: LintContext): Diagnostic[] {
  return [...dnsPaths(ctx), ...dohEndpoints(ctx), ...broad(ctx), ...sharedHosting(ctx), ...internalRanges(ctx), ...metadata(ctx), ...plainHttp(ctx)];
}

// ---------------------------------------------------------------- helpers

/** A catalog entry in policy syntax as an analysis target; null for entries with ${vars}. */
export function parseTarget(text: string): Target | null {
  if (text.includes("${")) return null;
  const t = text.trim().toLowerCase().replace(/\.$/, "");
  if (t === "any") return { kind: "any" };
  if (t.startsWith("*.")) return { kind: "wildcard", suffix: t.slice(2) };
  const c = parseCidr(t);
  if (c) return { kind: "cidr", cidr: c };
  return { kind: "domain", name: t };
}

function catalogTargets(name: string): Array<{ text: string; target: Target; source: string }> {
  const cat: Catalog | undefined = CATALOGS[name];
  if (!cat) return [];
  const out: Array<{ text: string; target: Target; source: string }> = [];
  for (const e of cat.entries) {
    const target = parseTarget(e.dest);
    if (target) out.push({ text: e.dest, target, source: e.source });
  }
  return out;
}

function below(name: string, suffix: string): boolean {
  return name.length > suffix.length && name.endsWith(`.${suffix}`);
}

/** true when rule entry `d` matches some flow of target `t` */
export function overlapsTarget(d: Dest, t: Target, ctx: LintContext): boolean {
  switch (d.kind) {
    case "any":
      if (t.kind === "cidr") return ctx.space.anyCidrs.some((c) => c.family === t.cidr.family && (cidrContains(c, t.cidr) || cidrContains(t.cidr, c)));
      return true;
    case "domain":
      return (t.kind === "domain" && t.name === d.name) || (t.kind === "wildcard" && below(d.name, t.suffix));
    case "wildcard":
      return (
        (t.kind === "domain" && below(t.name, d.suffix)) ||
        (t.kind === "wildcard" && (t.suffix === d.suffix || below(t.suffix, d.suffix) || below(d.suffix, t.suffix)))
      );
    case "cidr":
      return t.kind === "cidr" && t.cidr.family === d.cidr.family && (cidrContains(d.cidr, t.cidr) || cidrContains(t.cidr, d.cidr));
    default: {
      const never: never = d;
      throw new Error(`unhandled dest ${JSON.stringify(never)}`);
    }
  }
}

/** true when the rule matches flows of this protocol, port and phase */
function ruleInCell(r: Rule, proto: (typeof PROTOS)[number], port: number | null, phase: string): boolean {
  if (r.protocol !== "any" && r.protocol !== proto) return false;
  if (r.phases !== null && phase !== "" && !r.phases.includes(phase)) return false;
  if (proto === "icmp") return r.ports === null;
  return r.ports === null || (port !== null && r.ports.some((p) => p.from <= port && port <= p.to));
}

/** Every (protocol, representative port, phase) cell of the analysis. */
function allCells(ctx: LintContext): Array<{ proto: (typeof PROTOS)[number]; port: number | null; phase: string }> {
  const out: Array<{ proto: (typeof PROTOS)[number]; port: number | null; phase: string }> = [];
  for (const phase of ctx.space.phases) {
    for (const proto of PROTOS) {
      if (proto === "icmp") out.push({ proto, port: null, phase });
      else for (const e of ctx.space.elems) out.push({ proto, port: e.from, phase });
    }
  }
  return out;
}

/** Allow rules (by order) that decide some flow of `target` in the given cells. */
function allowDeciders(ctx: LintContext, target: Target, cells: ReadonlyArray<{ proto: (typeof PROTOS)[number]; port: number | null; phase: string }>): Set<number> {
  const out = new Set<number>();
  for (const c of cells) {
    const d = ctx.space.decideAt(target, c.proto, c.port, c.phase === "" ? null : c.phase);
    for (const o of d.owners) if (ruleByOrder(ctx.policy, o).action === "allow") out.add(o);
  }
  return out;
}

function isLarge(d: Dest): boolean {
  return d.kind === "cidr" && d.cidr.prefix <= (d.cidr.family === 4 ? 16 : 48);
}

// ---------------------------------------------------------------- CF5010 DNS

function dnsPaths(ctx: LintContext): Diagnostic[] {
  const ups = ctx.policy.dns.upstreams;
  const upAddrs = (ups ?? []).map((u) => parseIp(u.address)).filter((x) => x !== null);
  const isUpstream = (d: Dest): boolean =>
    d.kind === "cidr" && d.cidr.prefix === (d.cidr.family === 4 ? 32 : 128) && upAddrs.some((a) => a.family === d.cidr.family && a.value === d.cidr.addr);
  const upText = ups === null ? "dns.upstreams is not set" : ups.length === 0 ? "dns.upstreams is empty" : `dns.upstreams: ${ups.map((u) => u.address).join(", ")}`;
  const out: Diagnostic[] = [];
  for (const rr of ctx.space.rules) {
    const r = rr.rule;
    if (r.action !== "allow" || rr.dead) continue;
    // a rule without ports opens 53 to its names and hosts too: that is CF5021's (or CF5020's
    // for large networks); here: ports that name 53/853, and `any`
    const hits = rr.entries.filter((e) => e.decidesDns && !isUpstream(e.dest) && (r.ports !== null || e.dest.kind === "any")).map((e) => e.dest);
    const first = hits[0];
    if (!first) continue;
    const ports = r.ports === null ? "every port, including DNS 53 and DoT 853," : `port ${DNS_PORTS.filter((p) => r.ports?.some((x) => x.from <= p && p <= x.to)).join(" and ")}`;
    out.push(
      finding(
        "CF5010",
        `allow rule '${r.name}' opens ${ports} to ${listSome(hits.map(destLabel))}, which ${hits.length === 1 ? "is not a" : "are not"} configured upstream${hits.length === 1 ? "" : "s"} (${upText}): data can be tunnelled through any resolver there`,
        r.ports === null
          ? `add \`ports:\` to '${r.name}' without 53 and 853 (for example [443]); DNS goes through clawfence's resolver to dns.upstreams`
          : `remove 53/853 from the ports of '${r.name}', or limit the rule to the addresses under dns.upstreams`,
        first.pos,
        { rule: r.name, entries: hits.map(destText) },
      ),
    );
  }
  return out;
}

// ---------------------------------------------------------------- CF5011 DoH

function dohEndpoints(ctx: LintContext): Diagnostic[] {
  const cells = ctx.space.phases.flatMap((phase) => (["tcp", "udp"] as const).map((proto) => ({ proto, port: HTTPS_PORT, phase })));
  const byRule = new Map<number, string[]>();
  for (const t of catalogTargets("doh-resolvers")) {
    for (const o of allowDeciders(ctx, t.target, cells)) {
      const l = byRule.get(o) ?? [];
      l.push(t.text);
      byRule.set(o, l);
    }
  }
  const out: Diagnostic[] = [];
  for (const [o, eps] of [...byRule].sort((a, b) => a[0] - b[0])) {
    const r = ruleByOrder(ctx.policy, o);
    const first = eps[0];
    const target = first === undefined ? null : parseTarget(first);
    const entry = target ? r.dests.find((d) => overlapsTarget(d, target, ctx)) : undefined;
    out.push(
      finding(
        "CF5011",
        `allow rule '${r.name}'${entry ? ` (entry ${destLabel(entry)})` : ""} lets the agent reach DNS-over-HTTPS endpoint${eps.length === 1 ? "" : "s"} ${listSome(eps)} (catalog doh-resolvers): names resolved there bypass the DNS guard`,
        `add a rule \`deny: [catalog:doh-resolvers]\` with a priority below ${r.priority}, or narrow '${r.name}'`,
        entry?.pos ?? r.pos,
        { rule: r.name, endpoints: eps },
      ),
    );
  }
  return out;
}

// ---------------------------------------------------------------- CF5020 / CF5021

function broad(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const rr of ctx.space.rules) {
    const r = rr.rule;
    if (r.action !== "allow" || rr.dead || r.ports !== null) continue;
    const wide = rr.entries.filter((e) => !e.dead && (e.dest.kind === "any" || isLarge(e.dest)));
    for (const e of wide) {
      const what = e.dest.kind === "any" ? "`any` (every public address and name)" : `${destLabel(e.dest)}`;
      out.push(
        finding(
          "CF5020",
          `allow rule '${r.name}' opens ${what} on every port${r.protocol === "any" ? " and protocol" : ` (${r.protocol})`}`,
          `add \`ports:\` and \`protocol:\` to '${r.name}' (for example ports: [443], protocol: tcp), and name the destinations instead of ${destText(e.dest)}`,
          e.dest.pos,
          { rule: r.name, entry: destText(e.dest) },
        ),
      );
    }
    if (wide.length === 0 && r.protocol !== "icmp") {
      out.push(
        finding(
          "CF5021",
          `allow rule '${r.name}' has no ports, so it opens every ${r.protocol === "any" ? "TCP and UDP" : r.protocol.toUpperCase()} port (including 53, 80 and 853) to its destinations`,
          `add \`ports:\` to '${r.name}' (for example [443]) and \`protocol: tcp\``,
          r.pos,
          { rule: r.name },
        ),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------- CF5022 shared hosting

function sharedHosting(ctx: LintContext): Diagnostic[] {
  const hosts = catalogTargets("shared-hosting");
  const out: Diagnostic[] = [];
  for (const rr of ctx.space.rules) {
    if (rr.rule.action !== "allow") continue;
    for (const e of rr.entries) {
      const d = e.dest;
      if (e.dead || d.kind !== "wildcard") continue;
      // the wildcard covers the shared namespace (not one tenant below it)
      const covered = hosts.filter(
        (h) => (h.target.kind === "domain" && below(h.target.name, d.suffix)) || (h.target.kind === "wildcard" && (h.target.suffix === d.suffix || below(h.target.suffix, d.suffix))),
      );
      const first = covered[0];
      if (!first) continue;
      out.push(
        finding(
          "CF5022",
          `allow rule '${rr.rule.name}' allows ${destLabel(d)}, which covers ${listSome(covered.map((c) => c.text))} where anyone can publish content (catalog shared-hosting, source: ${first.source})`,
          `replace ${destText(d)} with the exact bucket, site or host names the agent needs`,
          d.pos,
          { rule: rr.rule.name, entry: destText(d), covers: covered.map((c) => c.text) },
        ),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------- CF5023 / CF5024

function internalRanges(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  ctx.policy.internal.forEach((c, i) => {
    if (c.prefix > (c.family === 4 ? 16 : 48)) return;
    const pos = ctx.opts.positions?.internal?.[i] ?? ctx.top;
    out.push(
      finding(
        "CF5023",
        `internal range ${c.text} lets allowed names and \`any\` reach ${c.family === 4 ? 2 ** (32 - c.prefix) : `2^${128 - c.prefix}`} special-purpose addresses: every neighbouring workload in it is one DNS answer away (lateral movement)`,
        `list only the networks of the internal services the agent needs (for example ${c.family === 4 ? "10.0.12.0/24" : "fd00:12::/64"}) instead of ${c.text}`,
        pos,
        { internal: c.text },
      ),
    );
  });
  return out;
}

function metadata(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const cells = allCells(ctx);
  const targets = catalogTargets("cloud-metadata");
  // allows of the addresses (literal networks, or `any` with an `internal` range over them);
  // a metadata name resolves to one of these addresses, which names never reach outside
  // `internal` (that case is the `internal` check below)
  const byRule = new Map<number, string[]>();
  for (const t of targets) {
    if (t.target.kind !== "cidr") continue;
    for (const o of allowDeciders(ctx, t.target, cells)) {
      const l = byRule.get(o) ?? [];
      l.push(t.text);
      byRule.set(o, l);
    }
  }
  for (const [o, eps] of [...byRule].sort((a, b) => a[0] - b[0])) {
    const r = ruleByOrder(ctx.policy, o);
    const first = eps[0];
    const target = first === undefined ? null : parseTarget(first);
    const entry = target ? r.dests.find((d) => overlapsTarget(d, target, ctx)) : undefined;
    out.push(
      finding(
        "CF5024",
        `allow rule '${r.name}'${entry ? ` (entry ${destLabel(entry)})` : ""} lets the agent reach cloud metadata endpoint${eps.length === 1 ? "" : "s"} ${listSome(eps)}, where instance credentials can be read`,
        entry && entry.kind === "cidr"
          ? `remove or narrow ${destText(entry)} so it excludes ${listSome(eps)}, and add \`deny: [catalog:cloud-metadata]\` with a priority below ${r.priority}`
          : `add \`deny: [catalog:cloud-metadata]\` with a priority below ${r.priority}`,
        entry?.pos ?? r.pos,
        { rule: r.name, endpoints: eps },
      ),
    );
  }
  // `internal` over a metadata address: any allowed name can be rebound to it
  ctx.policy.internal.forEach((c, i) => {
    const inside = targets.filter((t) => t.target.kind === "cidr" && cidrContains(c, t.target.cidr));
    const exposedBy = new Set<number>();
    for (const t of inside) {
      for (const cell of cells) {
        const byIp = ctx.space.decideAt(t.target, cell.proto, cell.port, cell.phase === "" ? null : cell.phase);
        const firstIp = byIp.owners.size > 0 ? Math.min(...byIp.owners) : Infinity;
        for (const rr of ctx.space.rules) {
          if (rr.rule.order >= firstIp) break;
          if (rr.rule.action !== "allow" || !ruleInCell(rr.rule, cell.proto, cell.port, cell.phase)) continue;
          if (rr.entries.some((e) => !e.dead && e.dest.kind !== "cidr")) {
            exposedBy.add(rr.rule.order);
            break;
          }
        }
      }
    }
    const first = [...exposedBy].sort((a, b) => a - b)[0];
    if (first === undefined) return;
    const r = ruleByOrder(ctx.policy, first);
    out.push(
      finding(
        "CF5024",
        `internal range ${c.text} contains cloud metadata endpoint${inside.length === 1 ? "" : "s"} ${listSome(inside.map((t) => t.text))}: any name allowed by '${r.name}' may resolve there (DNS rebinding) and reach instance credentials`,
        `narrow ${c.text} so it excludes the metadata endpoints, or add \`deny: [catalog:cloud-metadata]\` with a priority below ${r.priority}`,
        ctx.opts.positions?.internal?.[i] ?? ctx.top,
        { internal: c.text, rule: r.name, endpoints: inside.map((t) => t.text) },
      ),
    );
  });
  return out;
}

// ---------------------------------------------------------------- CF5030 plain HTTP

/**
 * Catalogs whose content is signed and served over plain HTTP by design, so port 80 does not
 * weaken it: CRLs and OCSP responses are signed by the CA (RFC 5280, RFC 6960), and fetching
 * them over TLS would need the very revocation check they serve; SGX/TDX DCAP collateral (PCK
 * certificates, TCB info, QE identity, CRLs) is signed by Intel and verified by the quote
 * verifier. An entry is exempt when it comes from one of them or names one of their hosts.
 */
const SIGNED_OVER_HTTP: readonly string[] = ["crl-ocsp", "intel-sgx-dcap"];

const SIGNED_TARGETS: ReadonlyArray<{ catalog: string; target: Target }> = SIGNED_OVER_HTTP.flatMap((c) => catalogTargets(c).map((t) => ({ catalog: c, target: t.target })));

function signedOverHttp(d: Dest): boolean {
  if (d.origin.via === "catalog" && SIGNED_OVER_HTTP.includes(d.origin.catalog)) return true;
  return SIGNED_TARGETS.some(({ target: t }) => (d.kind === "domain" && ((t.kind === "domain" && t.name === d.name) || (t.kind === "wildcard" && below(d.name, t.suffix)))));
}

function plainHttp(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const rr of ctx.space.rules) {
    const r = rr.rule;
    if (r.action !== "allow" || r.ports === null || rr.dead) continue;
    const hits = rr.entries.filter((e) => e.decidesHttp && !signedOverHttp(e.dest)).map((e) => e.dest);
    if (hits.length === 0) continue;
    out.push(
      finding(
        "CF5030",
        `allow rule '${r.name}' opens plain-text HTTP (tcp/80) to ${listSome(hits.map(destLabel))}: the traffic can be read and changed on the way, and no TLS name can be checked (seed 003: many apt mirrors are HTTP-only)`,
        `use HTTPS (port 443) endpoints, an HTTPS mirror or an internal artifact store, and remove 80 from the ports of '${r.name}'`,
        r.pos,
        { rule: r.name, entries: hits.map(destText) },
      ),
    );
  }
  return out;
}
