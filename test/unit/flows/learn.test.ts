/**
 * `learn` (flows/learn.ts) as a pure function: which destinations are proposed, which are
 * reported instead and why, when a wildcard is proposed, how ports and protocols become
 * rules, and that the proposal loads, passes lint, and allows exactly what it says.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromEvents, learn, type LearnResult } from "../../../src/flows/learn.ts";
import { lintPolicy } from "../../../src/lint/index.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { parseIp } from "../../../src/policy/addr.ts";
import type { FlowEvent } from "../../../src/runtime/events.ts";
import { load, makeEvents } from "./learn-helpers.ts";

function run(events: FlowEvent[], opts: Partial<Parameters<typeof learn>[2]> = {}): LearnResult {
  const { flows, resolutions } = fromEvents(events);
  return learn(flows, resolutions, { load, source: "test.db", ...opts });
}

function allowed(r: LearnResult, flow: { name?: string; ip?: string; port?: number; protocol?: "tcp" | "udp" | "icmp" }): boolean {
  const d = compileDecider(r.policy).decide({
    protocol: flow.protocol ?? "tcp",
    ...(flow.port !== undefined ? { port: flow.port } : flow.protocol === "icmp" ? {} : { port: 443 }),
    ...(flow.name ? { names: [flow.name] } : {}),
    ...(flow.ip ? { ip: parseIp(flow.ip) ?? undefined } : {}),
  } as Parameters<ReturnType<typeof compileDecider>["decide"]>[0]);
  return d.verdict === "allow";
}

const category = (r: LearnResult, dest: string): string | undefined => r.notAdded.find((n) => n.destination === dest)?.category;
const entries = (r: LearnResult): string[] => r.rules.flatMap((x) => x.allow);

void describe("destinations that are reported, not added", () => {
  const cases: Array<{ name: string; event: Partial<FlowEvent>; dest: string; category: string }> = [
    { name: "a shadow-model provider by name", event: { name: "api.openai.com" }, dest: "api.openai.com", category: "shadow-model-provider" },
    { name: "a shadow-model provider under a catalog wildcard", event: { name: "myco.openai.azure.com" }, dest: "myco.openai.azure.com", category: "shadow-model-provider" },
    { name: "a DoH resolver by name", event: { name: "dns.google" }, dest: "dns.google", category: "doh-resolver" },
    { name: "a DoH resolver by address", event: { kind: "packet", dst_ip: "1.1.1.1", dst_port: 443 }, dest: "1.1.1.1", category: "doh-resolver" },
    { name: "a paste site", event: { name: "pastebin.com" }, dest: "pastebin.com", category: "paste-site" },
    { name: "a request catcher under a catalog wildcard", event: { name: "abc.oast.pro" }, dest: "abc.oast.pro", category: "paste-site" },
    { name: "cloud metadata by address", event: { kind: "packet", dst_ip: "169.254.169.254", dst_port: 80 }, dest: "169.254.169.254", category: "special-range" },
    { name: "a private address", event: { kind: "packet", dst_ip: "10.1.2.3", dst_port: 5432 }, dest: "10.1.2.3", category: "special-range" },
    { name: "an IPv4-mapped IPv6 loopback", event: { kind: "packet", dst_ip: "::ffff:127.0.0.1", dst_port: 8080 }, dest: "::ffff:127.0.0.1", category: "special-range" },
    { name: "a name whose address was private (DNS rebinding)", event: { name: "intranet.example.com", dst_ip: "192.168.1.10" }, dest: "intranet.example.com", category: "special-range" },
    { name: "direct DNS to some resolver", event: { kind: "packet", dst_ip: "93.184.216.53", dst_port: 53, proto: "udp" }, dest: "93.184.216.53", category: "dns-port" },
    { name: "DNS over TLS to a name", event: { name: "dot.resolver.example", dst_port: 853 }, dest: "dot.resolver.example", category: "dns-port" },
    { name: "a flow the DNS guard flagged as exfiltration", event: { kind: "dns", name: "aGVsbG8gd29ybGQ.tunnel.example", proto: "udp", dst_port: null, reason: "dns-exfiltration", rule: "default" }, dest: "agvsbg8gd29ybgq.tunnel.example", category: "heuristic" },
    { name: "a TLS SNI that did not match", event: { name: "cdn.example.net", reason: "sni-mismatch" }, dest: "cdn.example.net", category: "heuristic" },
    { name: "a name only resolved, never connected", event: { kind: "dns", name: "lookup.example.com", proto: "udp", dst_port: null }, dest: "lookup.example.com", category: "dns-only" },
    { name: "an unknown IP protocol", event: { kind: "packet", dst_ip: "93.184.216.34", dst_port: null, proto: null }, dest: "93.184.216.34", category: "unsupported-protocol" },
  ];
  for (const c of cases) {
    void test(`${c.name} is reported as ${c.category} and stays denied`, () => {
      const ev = makeEvents();
      const r = run([ev(c.event)]);
      assert.equal(category(r, c.dest), c.category, JSON.stringify(r.notAdded));
      assert.deepEqual(entries(r), []);
      assert.deepEqual(r.problems, []);
    });
  }
});

void describe("what is proposed", () => {
  void test("a name seen on one port becomes an exact entry on that port and protocol only", () => {
    const ev = makeEvents();
    const r = run([ev({ name: "api.github.com", dst_ip: "140.82.112.6" }), ev({ name: "api.github.com", dst_ip: "140.82.112.6" })]);
    assert.deepEqual(
      r.rules.map((x) => ({ name: x.name, allow: x.allow, ports: x.ports, protocol: x.protocol })),
      [{ name: "learned-tcp-443", allow: ["api.github.com"], ports: [443], protocol: "tcp" }],
    );
    assert.equal(allowed(r, { name: "api.github.com", port: 443 }), true);
    assert.equal(allowed(r, { name: "api.github.com", port: 80 }), false);
    assert.equal(allowed(r, { name: "api.github.com", port: 443, protocol: "udp" }), false);
    assert.equal(r.suggestions[0]?.evidence.count, 2);
  });

  void test("the same ports over tcp and udp become one rule with protocol any; different ports stay apart", () => {
    const ev = makeEvents();
    const r = run([
      ev({ name: "quic.example.com" }),
      ev({ name: "quic.example.com", proto: "udp" }),
      ev({ name: "voice.example.com", dst_port: 3478, proto: "udp" }),
      ev({ name: "voice.example.com", dst_port: 443 }),
    ]);
    assert.deepEqual(
      r.rules.map((x) => [x.name, x.protocol, x.ports, x.allow]),
      [
        ["learned-tcp-443", "tcp", [443], ["voice.example.com"]],
        ["learned-any-443", "any", [443], ["quic.example.com"]],
        ["learned-udp-3478", "udp", [3478], ["voice.example.com"]],
      ],
    );
  });

  void test("contiguous ports are written as a range and ICMP gets a rule without ports", () => {
    const ev = makeEvents();
    const r = run([8000, 8001, 8002, 9000].map((p) => ev({ name: "svc.example.com", dst_port: p })).concat([ev({ kind: "packet", dst_ip: "93.184.216.34", dst_port: null, proto: "icmp" })]));
    assert.deepEqual(
      r.rules.map((x) => [x.name, x.protocol, x.ports, x.allow]),
      [
        ["learned-tcp-8000-8002_9000", "tcp", ["8000-8002", 9000], ["svc.example.com"]],
        ["learned-icmp", "icmp", null, ["93.184.216.34"]],
      ],
    );
    assert.equal(allowed(r, { ip: "93.184.216.34", protocol: "icmp" }), true);
  });

  void test("a packet that carried only an address is named by the DNS answer that contained it", () => {
    const ev = makeEvents();
    const r = run([
      ev({ kind: "dns", name: "git.example.net", proto: "udp", dst_port: null, answers: ["140.82.112.3"] }),
      ev({ kind: "packet", dst_ip: "140.82.112.3", dst_port: 22 }),
    ]);
    assert.deepEqual(entries(r), ["git.example.net"]);
    assert.equal(r.suggestions[0]?.evidence.viaDns, true);
    assert.equal(allowed(r, { name: "git.example.net", ip: "140.82.112.3", port: 22 }), true);
  });

  void test("the answer of another sandbox does not name a packet", () => {
    const ev = makeEvents();
    const r = run([
      ev({ kind: "dns", name: "git.example.net", proto: "udp", dst_port: null, answers: ["140.82.112.3"], sandbox: "other" }),
      ev({ kind: "packet", dst_ip: "140.82.112.3", dst_port: 22 }),
    ]);
    assert.deepEqual(entries(r), ["140.82.112.3"]);
  });

  void test("a public address without a name is proposed as a literal address", () => {
    const ev = makeEvents();
    const r = run([ev({ kind: "packet", dst_ip: "2606:4700::6810:84e5", dst_port: 443 })]);
    assert.deepEqual(entries(r), ["2606:4700::6810:84e5"]);
    assert.ok(r.suggestions[0]?.notes.some((n) => n.includes("without a name")));
  });

  void test("names are lowercased and lose a trailing dot", () => {
    const ev = makeEvents();
    const r = run([ev({ name: "API.Example.COM." })]);
    assert.deepEqual(entries(r), ["api.example.com"]);
  });

  void test("an exact name under shared hosting is added with a note, never widened", () => {
    const ev = makeEvents();
    const r = run(["a", "b", "c", "d"].map((x) => ev({ name: `${x}.mybucket.s3.amazonaws.com` })).concat([ev({ name: "raw.githubusercontent.com" })]));
    assert.ok(entries(r).includes("raw.githubusercontent.com"));
    const raw = r.suggestions.find((s) => s.entry === "raw.githubusercontent.com");
    assert.ok(raw?.notes.some((n) => n.startsWith("shared hosting")), JSON.stringify(raw));
  });
});

void describe("wildcards", () => {
  const sub = (names: string[], opts: { min?: number; extra?: Array<Partial<FlowEvent>> } = {}): LearnResult => {
    const ev = makeEvents();
    return run([...names.map((name) => ev({ name })), ...(opts.extra ?? []).map((e) => ev(e))], opts.min !== undefined ? { minSubdomains: opts.min } : {});
  };
  const cases: Array<{ name: string; result: () => LearnResult; entries: string[]; declined?: string }> = [
    { name: "three subdomains make a wildcard (the default threshold)", result: () => sub(["a.example.org", "b.example.org", "c.example.org"]), entries: ["*.example.org"] },
    { name: "two subdomains stay exact", result: () => sub(["a.example.org", "b.example.org"]), entries: ["a.example.org", "b.example.org"] },
    { name: "the threshold is configurable", result: () => sub(["a.example.org", "b.example.org"], { min: 2 }), entries: ["*.example.org"] },
    { name: "0 never proposes a wildcard", result: () => sub(["a.example.org", "b.example.org", "c.example.org"], { min: 0 }), entries: ["a.example.org", "b.example.org", "c.example.org"] },
    { name: "the apex stays an exact entry beside the wildcard", result: () => sub(["example.org", "a.example.org", "b.example.org", "c.example.org"]), entries: ["*.example.org", "example.org"] },
    { name: "deeper names count as subdomains of the registrable domain", result: () => sub(["x.a.example.co.uk", "y.b.example.co.uk", "c.example.co.uk"]), entries: ["*.example.co.uk"] },
    {
      name: "tenants of a private public suffix are separate domains",
      result: () => sub(["alice.github.io", "bob.github.io", "carol.github.io"]),
      entries: ["alice.github.io", "bob.github.io", "carol.github.io"],
    },
    {
      name: "a wildcard that would cover shared hosting is declined",
      result: () => sub(["ec2.amazonaws.com", "sts.amazonaws.com", "iam.amazonaws.com"]),
      entries: ["ec2.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com"],
      declined: "amazonaws.com",
    },
    {
      name: "a wildcard that would cover a shadow-model provider is declined",
      result: () => sub(["docs.mistral.ai", "console.mistral.ai", "chat.mistral.ai"]),
      entries: ["chat.mistral.ai", "console.mistral.ai", "docs.mistral.ai"],
      declined: "mistral.ai",
    },
    {
      name: "a wildcard that would cover a reported name is declined",
      result: () => sub(["a.example.org", "b.example.org", "c.example.org"], { extra: [{ name: "db.example.org", dst_ip: "10.0.0.5" }] }),
      entries: ["a.example.org", "b.example.org", "c.example.org"],
      declined: "example.org",
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      const r = c.result();
      assert.deepEqual([...entries(r)].sort(), c.entries);
      if (c.declined) assert.ok(r.declinedWildcards.some((d) => d.suffix === c.declined), JSON.stringify(r.declinedWildcards));
      assert.deepEqual(r.problems, []);
    });
  }

  void test("a wildcard allows unseen names below it but not the apex, and only the seen ports", () => {
    const r = sub(["a.example.org", "b.example.org", "c.example.org"]);
    assert.equal(allowed(r, { name: "zzz.example.org" }), true);
    assert.equal(allowed(r, { name: "example.org" }), false);
    assert.equal(allowed(r, { name: "zzz.example.org", port: 8443 }), false);
  });
});

void describe("the proposal", () => {
  void test("a fresh proposal loads, passes lint without errors, and keeps the header comment", () => {
    const ev = makeEvents();
    const r = run([ev({ name: "api.github.com" }), ev({ name: "pypi.org" }), ev({ name: "files.pythonhosted.org" }), ev({ name: "api.openai.com" })]);
    const reloaded = load(r.text, "learned.yaml");
    assert.equal(reloaded.hash, r.policy.hash);
    assert.deepEqual(lintPolicy(reloaded).filter((d) => d.severity === "error"), []);
    assert.match(r.text, /^# Proposed by `clawfence learn` from test\.db \(4 flows/);
    assert.equal(r.policy.default, "deny");
  });

  void test("with no flows the proposal has no rules and still loads", () => {
    const r = run([]);
    assert.deepEqual(r.rules, []);
    assert.equal(r.policy.rules.length, 0);
    assert.equal(r.totalFlows, 0);
  });

  void test("with a base policy, allowed flows are not proposed again and explicit denies are kept", () => {
    const base = `version: 1
name: base
rules:
  - name: block-vendor
    deny: [tracker.example.com]
  - name: gh
    allow: [api.github.com]
    ports: [443]
    protocol: tcp
`;
    const ev = makeEvents();
    const r = run([ev({ name: "api.github.com" }), ev({ name: "tracker.example.com" }), ev({ name: "new.example.com" })], { base: { text: base, file: "base.yaml", policy: load(base, "base.yaml") } });
    assert.deepEqual(entries(r), ["new.example.com"]);
    assert.equal(category(r, "tracker.example.com"), "denied-by-rule");
    assert.deepEqual(r.alreadyAllowed, { flows: 1, destinations: 1 });
    assert.equal(allowed(r, { name: "tracker.example.com" }), false);
  });

  void test("with a preset's denies at priority 100, the new rules are ordered after them", () => {
    const base = "version: 1\nname: agent\nextends: [coding-agent]\n";
    const ev = makeEvents();
    const r = run([ev({ name: "internal-api.example.com" }), ev({ name: "transfer.sh" })], { base: { text: base, file: "agent.yaml", policy: load(base, "agent.yaml") } });
    assert.deepEqual(entries(r), ["internal-api.example.com"]);
    const names = r.policy.rules.map((x) => x.name);
    assert.ok(names.indexOf("learned-tcp-443") > names.indexOf("deny-eastwest"), names.join(" "));
    assert.equal(r.placement.priority, 101);
    assert.equal(allowed(r, { name: "internal-api.example.com" }), true);
    assert.deepEqual(r.problems, []);
  });

  void test("a rule name already taken gets a suffix", () => {
    const base = "version: 1\nname: base\nrules:\n  - name: learned-tcp-443\n    allow: [one.example.com]\n    ports: [443]\n    protocol: tcp\n";
    const ev = makeEvents();
    const r = run([ev({ name: "two.example.com" })], { base: { text: base, file: "base.yaml", policy: load(base, "base.yaml") } });
    assert.deepEqual(
      r.rules.map((x) => x.name),
      ["learned-tcp-443-2"],
    );
  });
});
