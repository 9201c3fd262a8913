/**
 * The pf backend. pfctl cannot run here (Linux), so nothing is loaded into a real pf: the
 * tests check the text, and a differential test evaluates the emitted anchor with a small
 * evaluator of the pf subset the backend writes (tables with `!` entries, longest prefix
 * wins; `quick` rules, first match wins; `proto`, `inet`/`inet6`, `to <t>`, `to ! <t>`,
 * `port`) against decide() on random address policies. The evaluator is written from
 * pf.conf(5); it is a model of pf, not pf.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { backend } from "../../../src/compile/pf/index.ts";
import { UnsupportedFeature } from "../../../src/compile/backend.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { parseCidr } from "../../../src/policy/addr.ts";
import type { IpAddr } from "../../../src/match/decision.ts";
import { allow, deny, policy } from "../match/ir-builder.ts";
import { addressPolicyArb, ADDRESS_PROBE_PORTS, forEachProbe } from "./probes.ts";

// ---------------------------------------------------------------- a model of the pf subset

interface TableEntry {
  readonly neg: boolean;
  readonly family: 4 | 6;
  readonly addr: bigint;
  readonly prefix: number;
}

interface PfRule {
  readonly pass: boolean;
  readonly af: 4 | 6 | null;
  readonly protos: readonly string[] | null;
  readonly table: string | null;
  readonly negated: boolean;
  readonly ports: ReadonlyArray<readonly [number, number]> | null;
  readonly label: string;
}

function parseAnchor(text: string): { tables: Map<string, TableEntry[]>; rules: PfRule[] } {
  const joined = text.replace(/ \\\n\s*/g, " ");
  const tables = new Map<string, TableEntry[]>();
  const rules: PfRule[] = [];
  for (const line of joined.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const t = /^table <([^>]+)> const \{ (.*) \}$/.exec(line);
    if (t) {
      const entries = (t[2] ?? "")
        .split(/\s+/)
        .filter(Boolean)
        .map((e): TableEntry => {
          const neg = e.startsWith("!");
          const body = neg ? e.slice(1) : e;
          const c = parseCidr(body);
          assert.ok(c, `table entry ${e}`);
          return { neg, family: c.family, addr: c.addr, prefix: c.prefix };
        });
      tables.set(t[1] ?? "", entries);
      continue;
    }
    const m = /^(pass|block return) out log quick(?: on \S+)?(?: (inet6?))?(?: proto (\w+|\{ [^}]+ \}))? (?:all|to (!)? ?<([^>]+)>)(?: port (\d+(?::\d+)?|\{ [^}]+ \}))?(?: keep state)? label "([^"]*)"$/.exec(line);
    assert.ok(m, `the pf model does not know this line: ${line}`);
    const protos = m[3] === undefined ? null : m[3].replace(/[{}]/g, "").trim().split(/\s+/);
    const ports = m[6] === undefined ? null : m[6].replace(/[{}]/g, "").trim().split(/\s+/).map((p): [number, number] => {
      const [a, b] = p.split(":");
      return [Number(a), Number(b ?? a)];
    });
    rules.push({ pass: m[1] === "pass", af: m[2] === undefined ? null : m[2] === "inet" ? 4 : 6, protos, table: m[5] ?? null, negated: m[4] === "!", ports, label: m[7] ?? "" });
  }
  return { tables, rules };
}

/** pf table lookup: the longest matching prefix decides; a `!` entry means "not in the table". */
function inTable(entries: readonly TableEntry[], ip: IpAddr): boolean {
  let best: TableEntry | null = null;
  for (const e of entries) {
    if (e.family !== ip.family) continue;
    const shift = BigInt((e.family === 4 ? 32 : 128) - e.prefix);
    if (ip.value >> shift !== e.addr >> shift) continue;
    if (!best || e.prefix > best.prefix) best = e;
  }
  return best !== null && !best.neg;
}

function pfPasses(anchor: ReturnType<typeof parseAnchor>, proto: "tcp" | "udp" | "icmp", port: number | undefined, ip: IpAddr): { pass: boolean; label: string } {
  const wire = proto === "icmp" ? (ip.family === 4 ? "icmp" : "icmp6") : proto;
  for (const r of anchor.rules) {
    if (r.af !== null && r.af !== ip.family) continue;
    if (r.protos !== null && !r.protos.includes(wire)) continue;
    if (r.ports !== null && (port === undefined || !r.ports.some(([a, b]) => port >= a && port <= b))) continue;
    if (r.table !== null) {
      const t = anchor.tables.get(r.table);
      assert.ok(t, `undeclared table ${r.table}`);
      if (inTable(t, ip) === r.negated) continue;
    }
    return { pass: r.pass, label: r.label };
  }
  throw new Error("no rule matched: the anchor has no final default");
}

// ---------------------------------------------------------------- tests

void describe("pf: what the anchor says", () => {
  const p = policy({
    internal: ["10.0.0.0/8"],
    rules: [
      deny("shadow", ["203.0.113.9"]),
      allow("web", ["any"], { ports: [443, "8000-8100"], protocol: "tcp" }),
      allow("ping", ["192.0.2.1", "2001:db8::1"], { protocol: "icmp" }),
      deny("staged", ["198.51.100.0/24"], { mode: "monitor" }),
    ],
  });
  const text = backend.compile(p, { iface: "bridge100" }).text;

  void it("documents the load command for the anchor", () => {
    assert.match(text, /sudo pfctl -a clawfence\/test -f FILE/);
    assert.match(text, /anchor "clawfence\/\*"/);
  });
  void it("a deny is `block return out log quick` with the rule name as label", () => {
    assert.match(text, /^block return out log quick on bridge100 to <cf0_shadow> label "shadow"$/m);
  });
  void it("any is `to ! <cf_special>`, and internal ranges are `!` holes in that table", () => {
    assert.match(text, /^pass out log quick on bridge100 proto tcp to ! <cf_special> port \{ 443 8000:8100 \} keep state label "web"$/m);
    assert.match(text, /!::ffff:10\.0\.0\.0\/104/);
    assert.doesNotMatch(text, /table <cf_special>[^}]* 10\.0\.0\.0\/8/);
  });
  void it("icmp is written once for inet and once for inet6", () => {
    assert.match(text, /inet proto icmp to <cf2_ping>/);
    assert.match(text, /inet6 proto icmp6 to <cf2_ping>/);
  });
  void it("a monitor-mode deny passes and logs under its label", () => {
    assert.match(text, /^pass out log quick on bridge100 to <cf3_staged> keep state label "staged"$/m);
  });
  void it("the default comes last and is quick", () => {
    assert.match(text, /block return out log quick on bridge100 all label "default"\n$/);
  });
});

void describe("pf: names", () => {
  void it("an unpinned name in an allow is refused, the fix says --resolve", () => {
    assert.throws(
      () => backend.compile(policy({ rules: [allow("api", ["api.example.com"], { ports: [443], protocol: "tcp" })] }), {}),
      (e: unknown) => e instanceof UnsupportedFeature && e.target === "pf" && e.rule === "api" && /--resolve/.test(e.fix),
    );
  });
  void it("a pinned name becomes a table of its public addresses, with a note of what was skipped", () => {
    const out = backend.compile(policy({ rules: [allow("api", ["api.example.com"], { ports: [443], protocol: "tcp" })] }), {
      resolved: new Map([["api.example.com", ["93.184.216.34", "169.254.169.254"]]]),
    });
    assert.match(out.text, /table <cf0_api> const \{ 93\.184\.216\.34 \}/);
    assert.ok(out.notes.some((n) => n.includes("169.254.169.254")));
  });
});

const PROBE_IPS = ["10.0.0.1", "10.1.2.3", "192.0.2.1", "93.184.216.34", "93.184.216.35", "169.254.169.254", "8.8.8.8", "127.0.0.1", "2606:2800::1", "2a00:1450::1", "fd00::1", "fe80::1"];
const policyArb = addressPolicyArb([[], ["10.0.0.0/8"], ["fd00::/8"]]);

void describe("pf: first quick match is decide()", () => {
  void it("random address policies: the anchor (as pf.conf(5) evaluates it) gives decide()'s verdict and rule for every probe", () => {
    fc.assert(
      fc.property(policyArb, (p) => {
        const anchor = parseAnchor(backend.compile(p, {}).text);
        forEachProbe(compileDecider(p), PROBE_IPS, ADDRESS_PROBE_PORTS, ({ text, addr, proto, port, d }) => {
          const got = pfPasses(anchor, proto, port, addr);
          assert.equal(got.pass, d.verdict === "allow" || !d.enforced, `${proto}/${port ?? "-"} ${text}: decide ${d.verdict} by ${d.rule}; pf ${got.pass ? "pass" : "block"} by ${got.label}`);
          assert.equal(got.label, d.rule, `${proto}/${port ?? "-"} ${text}: the deciding rule`);
        });
      }),
      { numRuns: 200, seed: 20261103 },
    );
  });
});
