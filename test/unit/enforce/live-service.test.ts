/**
 * runtime/enforce/live (what survives a reload), service (unit and plist text), status
 * (parsing the kernel's table, the canary query) and bridge (commands; the Docker engine
 * cannot run here, so its calls are recorded by a fake `exec` — the Linux bridge path runs
 * for real in test/integration/enforce-bridge.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode } from "dns-packet";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { createNameBook, parseLiveExpiries, reprogramElements } from "../../../src/runtime/enforce/live.ts";
import { launchdInstructions, launchdPlist, systemdQuote, systemdUnit } from "../../../src/runtime/enforce/service.ts";
import { canaryQuery, parseTableCounts } from "../../../src/runtime/enforce/status.ts";
import { dockerCreateArgs, prepareInterface, type Exec } from "../../../src/runtime/enforce/bridge.ts";
import { parseTarget } from "../../../src/runtime/enforce/target.ts";
import { RuntimeError } from "../../../src/runtime/errors.ts";

const load = (text: string) => loadPolicyText(text, "p.yaml", () => {
  throw new Error("no extends");
});

const NEW = `version: 1
name: p
internal: [192.0.2.0/24]
rules:
  - name: deny-cdn
    deny: [img.cdn.example.com]
  - name: ssh
    allow: [a.example.com]
    ports: [22]
    protocol: tcp
  - name: web
    allow: [a.example.com, "*.cdn.example.com"]
    ports: [443, 8443]
    protocol: tcp
`;

const TABLE_JSON = JSON.stringify({
  nftables: [
    { metainfo: { json_schema_version: 1 } },
    { table: { family: "inet", name: "t" } },
    { set: { family: "inet", name: "s0_4", table: "t", type: "ipv4_addr", flags: ["interval"], elem: [{ prefix: { addr: "10.0.0.0", len: 8 } }] } },
    {
      set: {
        family: "inet",
        name: "d0_4",
        table: "t",
        type: ["ipv4_addr", "inet_proto", "inet_service"],
        flags: ["interval", "timeout"],
        elem: [
          { elem: { val: { concat: ["192.0.2.7", "tcp", 443] }, timeout: 60, expires: 41 } },
          { elem: { val: { concat: ["192.0.2.8", "tcp", 443] }, timeout: 60, expires: 12 } },
          { elem: { val: { concat: ["192.0.2.8", "tcp", { range: [8000, 8100] }] }, timeout: 90, expires: 70 } },
        ],
      },
    },
    { set: { family: "inet", name: "d0_6", table: "t", type: ["ipv6_addr", "inet_proto", "inet_service"], flags: ["interval", "timeout"], elem: [{ elem: { val: { concat: ["2001:db8:0:0::1", "tcp", 443] }, expires: 5 } }] } },
    { counter: { family: "inet", name: "web", table: "t", packets: 3, bytes: 180 } },
  ],
});

void test("live expiries: the longest time left per address over the dynamic sets; static sets are not live", () => {
  const live = parseLiveExpiries(TABLE_JSON);
  assert.deepEqual(Object.fromEntries(live), { "192.0.2.7": 41, "192.0.2.8": 70, "2001:db8::1": 5 });
  assert.equal(parseLiveExpiries("not json").size, 0);
});

void test("reload re-derives elements with the new policy's rules, sets and ports, for the time left", () => {
  const book = createNameBook();
  book.add("a.example.com", ["192.0.2.7"]);
  book.add("img.cdn.example.com", ["192.0.2.8"]);
  book.add("gone.cdn.example.com", ["192.0.2.99"]); // not in the kernel any more
  const policy = load(NEW);
  const live = parseLiveExpiries(TABLE_JSON);
  const r = reprogramElements(policy, compileDecider(policy), "t", book, live);
  // a.example.com: ssh (order 1) on 22 and web (order 2) on 443, 8443; img.cdn is now denied: closed
  assert.deepEqual(
    r.elements.map((e) => `${e.set} ${e.ip} ${e.protocol} ${e.portRange?.from ?? ""} ${e.timeoutSeconds}`).sort(),
    ["d1_4 192.0.2.7 tcp 22 41", "d2_4 192.0.2.7 tcp 443 41", "d2_4 192.0.2.7 tcp 8443 41"],
  );
  assert.equal(r.dropped, 1);
  assert.match(r.text, /^add element inet t d1_4 \{ 192\.0\.2\.7 \. tcp \. 22 timeout 41s \}$/m);
});

void test("the names book is bounded and forgets what the kernel no longer holds", () => {
  const book = createNameBook(5, { "x.example.com": ["192.0.2.1", "192.0.2.2"] });
  book.add("y.example.com", ["192.0.2.3", "192.0.2.4"]);
  book.add("z.example.com", ["192.0.2.5", "192.0.2.6"]);
  assert.ok(book.size() <= 5);
  assert.equal(book.toJSON()["x.example.com"], undefined, "the oldest name went first");
  book.retain(new Map([["192.0.2.5", 10]]));
  assert.deepEqual(book.toJSON(), { "z.example.com": ["192.0.2.5"] });
});

void test("status reads counters and set sizes from the table", () => {
  const c = parseTableCounts(TABLE_JSON);
  assert.equal(c.present, true);
  assert.deepEqual(c.counters["web"], { packets: 3, bytes: 180 });
  assert.deepEqual(c.sets, { s0_4: 1, d0_4: 3, d0_6: 1 });
});

void test("the health probe asks the DoH canary, which the guard answers itself", () => {
  const q = decode(canaryQuery(4242));
  assert.equal(q.id, 4242);
  assert.equal(q.questions?.[0]?.name, "use-application-dns.net");
  assert.equal(q.questions?.[0]?.type, "A");
});

const unit = systemdUnit({ exec: ["/usr/local/bin/clawfence"], policy: "/etc/clawfence/policy 1.yaml", on: "bridge:openclaw-egress", extra: ["--allow-inbound", "tcp/22"] });

void test("the systemd unit runs enforce in the foreground, reloads with SIGHUP, restarts on failure, and is hardened", () => {
  const has = (line: string): void => assert.ok(unit.split("\n").includes(line), `missing: ${line}\n${unit}`);
  has("Type=simple");
  has('ExecStart=/usr/local/bin/clawfence enforce --policy "/etc/clawfence/policy 1.yaml" --on bridge:openclaw-egress --flows /var/lib/clawfence/flows.db --allow-inbound tcp/22');
  has("ExecReload=/bin/kill -HUP $MAINPID");
  has("Restart=on-failure");
  has("RuntimeDirectoryPreserve=yes");
  has("NoNewPrivileges=yes");
  has("ProtectSystem=strict");
  has("After=network-online.target docker.service");
  assert.ok(!/^ProtectKernelTunables=/m.test(unit), "the enforcer writes sysctls of its bridge");
  for (const section of ["[Unit]", "[Service]", "[Install]"]) has(section);
});

void test("systemd quoting escapes specifiers, variables and quotes", () => {
  assert.equal(systemdQuote("/a/b.yaml"), "/a/b.yaml");
  assert.equal(systemdQuote("50%"), "50%%");
  assert.equal(systemdQuote('a "b" $X'), '"a \\"b\\" $$X"');
});

void test("systemd-analyze verify accepts the unit", { skip: spawnSync("sh", ["-c", "command -v systemd-analyze"]).status !== 0 ? "systemd-analyze is not installed (Debian package systemd)" : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-unit-"));
  try {
    const file = join(dir, "clawfence-enforce.service");
    writeFileSync(file, systemdUnit({ exec: ["/bin/true"], policy: "/etc/clawfence/policy.yaml", on: "host" }));
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", file], { encoding: "utf8" });
    // only findings about this unit count (the machine's other units are not ours)
    const ours = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.includes("clawfence-enforce.service"));
    assert.deepEqual(ours, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test("the LaunchDaemon plist loads the pf anchor at boot and every interval, with install steps beside it", () => {
  const o = { exec: ["/usr/local/bin/clawfence"], policy: "/etc/clawfence/p.yaml", anchor: "clawfence/egress", anchorFile: "/etc/pf.anchors/clawfence-egress" };
  const plist = launchdPlist(o);
  assert.match(plist, /<key>Label<\/key>\n\s+<string>ai\.clawfence\.enforce<\/string>/);
  assert.match(plist, /<key>RunAtLoad<\/key>\n\s+<true\/>/);
  assert.match(plist, /<integer>300<\/integer>/);
  assert.match(plist, /'\/usr\/local\/bin\/clawfence' 'compile' '\/etc\/clawfence\/p\.yaml' '--target' 'pf' '--resolve'/);
  assert.match(plist, /\/sbin\/pfctl -a 'clawfence\/egress' -f '\/etc\/pf\.anchors\/clawfence-egress'/);
  assert.ok(plist.includes("&amp;&amp;") && !plist.includes("&&"), "the shell line is XML-escaped");
  const steps = launchdInstructions(o);
  assert.match(steps, /anchor "clawfence\/\*"/);
  assert.match(steps, /sudo pfctl -a clawfence\/egress -sr/);
  assert.match(steps, /launchctl bootstrap system \/Library\/LaunchDaemons\/ai\.clawfence\.enforce\.plist/);
});

interface Call {
  cmd: string;
  args: readonly string[];
}
function fakeExec(o: { links: Set<string>; docker: boolean; addr?: string }): { exec: Exec; calls: Call[] } {
  const calls: Call[] = [];
  const fail = (): Promise<never> => Promise.reject(new RuntimeError("CF_RUNTIME_EXEC", "failed", "fake"));
  const exec: Exec = (cmd, args) => {
    calls.push({ cmd, args });
    const a = args.join(" ");
    if (cmd === "docker" && args[0] === "info") return o.docker ? Promise.resolve({ stdout: "28.0.0\n", stderr: "" }) : fail();
    if (cmd === "docker" && args[0] === "network" && args[1] === "inspect") return fail();
    if (cmd === "docker" && args[0] === "network" && args[1] === "create") {
      o.links.add(args.at(-1) ?? "");
      return Promise.resolve({ stdout: "id\n", stderr: "" });
    }
    if (cmd === "ip" && a.startsWith("link show dev ")) return o.links.has(args[3] ?? "") ? Promise.resolve({ stdout: "", stderr: "" }) : fail();
    if (cmd === "ip" && a.startsWith("link add ")) {
      o.links.add(args[2] ?? "");
      return Promise.resolve({ stdout: "", stderr: "" });
    }
    if (cmd === "ip" && a.startsWith("-j -4 addr show dev")) {
      return Promise.resolve({ stdout: JSON.stringify([{ addr_info: [{ family: "inet", local: o.addr ?? "10.250.0.1", prefixlen: 24 }] }]), stderr: "" });
    }
    return Promise.resolve({ stdout: "", stderr: "" });
  };
  return { exec, calls };
}
const sysctls: string[] = [];
const sysctl = (p: string, v: string): Promise<void> => {
  sysctls.push(`${p}=${v}`);
  return Promise.resolve();
};

void test("a missing bridge is created as a Docker network (IPv6 off, bridge named after it) when an engine answers", async () => {
  const f = fakeExec({ links: new Set(), docker: true });
  const r = await prepareInterface(parseTarget("bridge:openclaw-egress"), { driver: "auto", cidr: "10.250.0.1/24", sysctl }, f.exec);
  assert.deepEqual(r, { iface: "openclaw-egress", address: "10.250.0.1", network: "10.250.0.0/24", created: "docker" });
  const create = f.calls.find((c) => c.cmd === "docker" && c.args[1] === "create");
  assert.deepEqual(create?.args, dockerCreateArgs("openclaw-egress", { address: "10.250.0.1", prefix: 24 }));
  assert.ok(create?.args.includes("--ipv6=false"));
  assert.ok(create?.args.includes("com.docker.network.bridge.name=openclaw-egress"));
  assert.ok(sysctls.includes("net/ipv6/conf/openclaw-egress/disable_ipv6=1"));
  assert.ok(sysctls.includes("net/ipv4/ip_forward=1"));
});

void test("without a Docker engine a Linux bridge is created; an existing bridge is used as it is", async () => {
  const f = fakeExec({ links: new Set(), docker: false });
  const r = await prepareInterface(parseTarget("bridge:br0"), { driver: "auto", cidr: "10.251.0.1/24", sysctl }, f.exec);
  assert.equal(r.created, "linux");
  assert.ok(f.calls.some((c) => c.cmd === "ip" && c.args.join(" ") === "link add br0 type bridge"));
  assert.ok(f.calls.some((c) => c.cmd === "ip" && c.args.join(" ") === "addr add 10.251.0.1/24 dev br0"));
  const g = fakeExec({ links: new Set(["br1"]), docker: true, addr: "172.18.0.1" });
  const s = await prepareInterface(parseTarget("bridge:br1"), { driver: "auto", cidr: "10.251.0.1/24", sysctl }, g.exec);
  assert.equal(s.created, null);
  assert.equal(s.address, "172.18.0.1");
  assert.ok(!g.calls.some((c) => c.args.includes("create") || c.args.includes("add")));
});

void test("an interface target is never created", async () => {
  const f = fakeExec({ links: new Set(), docker: true });
  await assert.rejects(prepareInterface(parseTarget("interface:tap9"), { driver: "auto", cidr: "10.250.0.1/24", sysctl }, f.exec), (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_ENFORCE_IFACE");
});
