/**
 * runtime/enforce/target and frame: what `--on` accepts, the names derived from it, and the
 * statements the enforcer adds to the compiled table (pure text; the integration tests load
 * them into the kernel: test/integration/enforce-*.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseTarget, tableFor, targetId, targetText } from "../../../src/runtime/enforce/target.ts";
import { hostFrame, ifaceFrame } from "../../../src/runtime/enforce/frame.ts";
import { RuntimeError } from "../../../src/runtime/errors.ts";

const targets: Array<[string, string, string, string]> = [
  ["host", "host", "host", "cfe_host"],
  ["bridge:openclaw-egress", "bridge:openclaw-egress", "bridge-openclaw-egress", "cfe_br_openclaw_egress"],
  ["interface:tap0", "interface:tap0", "interface-tap0", "cfe_if_tap0"],
  ["bridge:br.v1_x", "bridge:br.v1_x", "bridge-br.v1_x", "cfe_br_br_v1_x"],
];
for (const [text, shown, id, table] of targets) {
  void test(`--on ${text} names target ${shown}, id ${id}, table ${table}`, () => {
    const t = parseTarget(text);
    assert.equal(targetText(t), shown);
    assert.equal(targetId(t), id);
    assert.equal(tableFor(t), table);
  });
}

for (const bad of ["", "hosts", "bridge:", "bridge:a-name-longer-than-15", "interface:eth 0", "bridge:a/b", "docker:x"]) {
  void test(`--on '${bad}' is refused with a fix`, () => {
    assert.throws(() => parseTarget(bad), (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_ENFORCE_TARGET" && e.fix.length > 0 && e.exit === 2);
  });
}

const ups = [
  { address: "10.0.0.2", family: 4 as const, port: 53 },
  { address: "10.0.0.3", family: 4 as const, port: 5353 },
  { address: "2001:db8::53", family: 6 as const, port: 53 },
];
const base = { table: "cfe_host", guard: { address: "127.0.0.153", port: 53 }, guardUid: 0, upstreams: ups, logGroup: 7, monitor: false, inbound: [] };

void test("host frame by user: other uids pass, the agent's DNS goes to the guard only, then the policy", () => {
  const t = hostFrame({ ...base, users: [1001, 1000, 1001] });
  const lines = t.split("\n");
  const at = (s: string): number => lines.findIndex((l) => l.includes(s));
  assert.ok(t.includes("flush chain inet cfe_host output"));
  assert.ok(t.includes("policy accept;"), "only the agent's traffic is ours");
  assert.ok(t.includes("meta skuid != { 1000, 1001 } accept"));
  assert.ok(t.includes("ip daddr 127.0.0.153 meta l4proto . th dport { udp . 53, tcp . 53 } accept"));
  // the upstreams on any port, and DNS/DoT anywhere (loopback too), are rejected for the agent
  assert.ok(t.includes('ip daddr . meta l4proto . th dport { 10.0.0.2 . udp . 53, 10.0.0.2 . tcp . 53, 10.0.0.3 . udp . 5353, 10.0.0.3 . tcp . 5353 } counter name "dns" log prefix "dns" group 7 jump deny'));
  assert.ok(t.includes("ip6 daddr . meta l4proto . th dport { 2001:db8::53 . udp . 53, 2001:db8::53 . tcp . 53 }"));
  assert.ok(at("tcp . 853 }") < at('oifname "lo" accept'), "DNS on loopback is rejected before loopback is accepted");
  assert.ok(at('oifname "lo" accept') < at("jump egress"));
  assert.ok(t.includes("meta skuid { 1000, 1001 } ip daddr != 127.0.0.153 meta l4proto { udp, tcp } th dport 53 dnat ip to 127.0.0.153:53"));
  assert.ok(!t.includes("chain inet cfe_host input"), "a shared host's inbound traffic is not the policy's");
  assert.ok(!t.includes("meta skuid 0 ip daddr"), "no upstream exemption needed when the enforcer's uid is not selected");
});

void test("host frame for the whole host: drop policy, only the guard's uid asks the upstreams, inbound management only", () => {
  const t = hostFrame({ ...base, users: null, inbound: [{ protocol: "tcp", port: 22, from: "10.0.0.0/8", family: 4 }, { protocol: "udp", port: 51820, from: null, family: null }] });
  assert.ok(t.includes("type filter hook output priority filter; policy drop;"));
  assert.ok(t.includes("meta skuid 0 ip daddr . meta l4proto . th dport { 10.0.0.2 . udp . 53"));
  assert.ok(t.includes("meta skuid != 0 ip daddr != 127.0.0.153"));
  assert.ok(t.includes("add chain inet cfe_host input { type filter hook input priority filter; policy accept; }"));
  assert.ok(t.includes("ip saddr 10.0.0.0/8 tcp dport 22 accept"));
  assert.ok(t.includes("add rule inet cfe_host input udp dport 51820 accept"));
  assert.ok(t.includes('counter name "inbound" log prefix "inbound" group 7 drop'));
});

void test("host frame in monitor mode logs and accepts what it would reject", () => {
  const t = hostFrame({ ...base, users: null, monitor: true });
  assert.ok(t.includes("policy accept;"));
  assert.ok(!t.includes("jump deny"));
  assert.ok(t.includes('counter name "inbound" log prefix "inbound" group 7 accept'));
});

void test("interface frame: IPv6 dropped both ways, the host reachable only at the guard, DNS redirected, masquerade when asked", () => {
  const t = ifaceFrame({ table: "cfe_br_x", iface: "openclaw-egress", guard: { address: "10.250.0.1", port: 53 }, logGroup: 9, masquerade: "10.250.0.0/24" });
  assert.ok(t.includes('iifname "openclaw-egress" meta nfproto ipv6 counter name "ipv6"'));
  assert.ok(t.includes('oifname "openclaw-egress" meta nfproto ipv6 drop'));
  assert.ok(t.includes('iifname "openclaw-egress" ip daddr 10.250.0.1 meta l4proto . th dport { udp . 53, tcp . 53 } accept'));
  assert.ok(t.includes('iifname "openclaw-egress" counter name "host_side" log prefix "host-side" group 9 drop'));
  assert.ok(t.includes("dnat ip to 10.250.0.1:53"));
  assert.ok(t.includes('ip saddr 10.250.0.0/24 oifname != "openclaw-egress" masquerade'));
  assert.ok(!ifaceFrame({ table: "t", iface: "tap0", guard: { address: "10.0.0.1", port: 53 }, logGroup: 9, masquerade: null }).includes("masquerade"));
});
