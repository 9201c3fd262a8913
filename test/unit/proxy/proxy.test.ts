/**
 * Tests for runtime/proxy/proxy on loopback: every listener, every denial path, limits and
 * fuzzed input, against real origin servers on 127.0.0.2. Names resolve through an in-memory
 * table (see harness.ts); the namespace tests with curl, git, openssl and dnsmasq are in
 * test/integration/proxy-clients.test.ts.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import * as dgram from "node:dgram";
import fc from "fast-check";
import { allow, deny, type PolicySpec } from "../match/ir-builder.ts";
import { ORIGIN, exchange, startOrigins, startRig, stepper, tableResolver, until, type Origins, type Rig } from "./harness.ts";
import { buildHello } from "./hello-builder.ts";
import type { FlowEvent } from "../../../src/runtime/events.ts";

const SPEC: PolicySpec = {
  default: "deny",
  internal: ["127.0.0.0/8"],
  rules: [
    deny("no-evil", ["evil.test"]),
    allow("web", ["allowed.test", "*.allowed.test", "other.test", "rebind.test", "dead.test"], { protocol: "tcp" }),
    allow("literal", ["127.0.0.2"], { protocol: "tcp" }),
    allow("dns-udp", ["udp.test"], { protocol: "udp" }),
    deny("staged", ["staged.test"], { mode: "monitor" }),
  ],
};
const TABLE = {
  "allowed.test": [ORIGIN],
  "a.allowed.test": [ORIGIN],
  "other.test": [ORIGIN],
  "evil.test": [ORIGIN],
  "staged.test": [ORIGIN],
  "udp.test": [ORIGIN],
  "rebind.test": ["169.254.169.254"],
  "dead.test": ["127.0.0.3"],
};

let o: Origins;
let rig: Rig;
let resolver: ReturnType<typeof tableResolver>;

before(async () => {
  o = await startOrigins();
  resolver = tableResolver(TABLE);
  rig = await startRig(SPEC, resolver, { limits: { handshakeTimeoutMs: 400, connectTimeoutMs: 1000 }, targetPort: { tls: o.echo, http: o.http }, requireSni: [443, o.echo] });
});
after(async () => {
  await rig.close();
  await o.close();
});

function lastEvent(pred: (e: FlowEvent) => boolean): FlowEvent | undefined {
  return rig.events.filter(pred).at(-1);
}

function viaProxy(url: string, opts: { method?: string; body?: string; agent?: http.Agent; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: rig.port("http"), method: opts.method ?? "GET", path: url, headers: opts.headers ?? {}, ...(opts.agent ? { agent: opts.agent } : {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

// ---------------------------------------------------------------- HTTP forward

void test("a forward request to an allowed name reaches the origin at the checked address", async () => {
  const r = await viaProxy(`http://allowed.test:${o.http}/x?y=1`, { method: "POST", body: "hello", headers: { "proxy-connection": "keep-alive" } });
  assert.equal(r.status, 200);
  assert.equal(r.body, `origin allowed.test:${o.http} POST /x?y=1 body=5 pc=-\n`);
  await until(() => lastEvent((e) => e.name === "allowed.test" && e.detail === "http POST") !== undefined);
  const e = lastEvent((x) => x.name === "allowed.test" && x.detail === "http POST");
  assert.ok(e);
  assert.equal(e.verdict, "allow");
  assert.equal(e.rule, "web");
  assert.equal(e.reason, "rule-allow");
  assert.equal(e.dst_ip, ORIGIN);
  assert.equal(e.dst_port, o.http);
  assert.ok((e.bytes_up ?? 0) > 5 && (e.bytes_down ?? 0) > 40, "bytes each way are counted");
  assert.equal(e.kind, "proxy");
});

void test("keep-alive requests on one connection are decided one by one", async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const a = await viaProxy(`http://allowed.test:${o.http}/1`, { agent });
  const b = await viaProxy(`http://evil.test:${o.http}/2`, { agent });
  const c = await viaProxy(`http://other.test:${o.http}/3`, { agent });
  agent.destroy();
  assert.deepEqual([a.status, b.status, c.status], [200, 403, 200]);
  assert.ok(b.reused && c.reused, "the client connection was kept alive");
  assert.match(c.body, /^origin other\.test/);
});

void test("a denied name answers 403 with the rule and reason, and is never resolved", async () => {
  resolver.asked.length = 0;
  const r = await viaProxy(`http://evil.test:${o.http}/`);
  assert.equal(r.status, 403);
  assert.equal(r.headers["x-clawfence-rule"], "no-evil");
  assert.equal(r.headers["x-clawfence-reason"], "rule-deny");
  assert.match(r.body, /denied by rule 'no-evil' \(rule-deny\)/);
  assert.deepEqual(resolver.asked, []);
});

void test("an unlisted name answers 403 by the default", async () => {
  const r = await viaProxy(`http://unlisted.test:${o.http}/`);
  assert.equal(r.status, 403);
  assert.equal(r.headers["x-clawfence-rule"], "default");
  assert.equal(r.headers["x-clawfence-reason"], "default-deny");
});

void test("an allowed name resolving to a metadata address is refused as special-range", async () => {
  const r = await viaProxy(`http://rebind.test:${o.http}/`);
  assert.equal(r.status, 403);
  assert.equal(r.headers["x-clawfence-reason"], "special-range");
  assert.equal(r.headers["x-clawfence-rule"], "web");
  const e = lastEvent((x) => x.name === "rebind.test");
  assert.equal(e?.dst_ip, "169.254.169.254");
  assert.match(e?.detail ?? "", /169\.254\.169\.254\/32 \(cloud metadata/);
});

const literals: Array<[string, string, number, string]> = [
  ["a dotted quad listed literally is allowed", "127.0.0.2", 200, "literal"],
  ["a hex short form of a listed address is the same address", "0x7f.0.0.2", 200, "literal"],
  ["a decimal integer of a listed address is the same address", "2130706434", 200, "literal"],
  ["octal parts of a listed address are the same address", "0177.0.0.02", 200, "literal"],
  ["an IPv4-mapped IPv6 form of a listed address is the same address", "[::ffff:127.0.0.2]", 200, "literal"],
  ["a short form of an unlisted address is decided as that address", "127.1", 403, "default"],
  ["IPv6 loopback is special-purpose outside internal", "[::1]", 403, "default"],
];
for (const [title, host, status, rule] of literals) {
  void test(`literal address: ${title}`, async () => {
    const r = await viaProxy(`http://${host}:${o.http}/lit`);
    assert.equal(r.status, status);
    if (status === 403) assert.equal(r.headers["x-clawfence-rule"], rule);
    else assert.match(r.body, /GET \/lit/);
  });
}

void test("a rule in monitor mode lets the request through and logs a would-deny", async () => {
  const r = await viaProxy(`http://staged.test:${o.http}/`);
  assert.equal(r.status, 200);
  await until(() => lastEvent((e) => e.name === "staged.test") !== undefined);
  const e = lastEvent((x) => x.name === "staged.test");
  assert.deepEqual([e?.verdict, e?.enforced, e?.rule, e?.reason], ["deny", false, "staged", "rule-deny"]);
});

void test("a name without an address answers 502", async () => {
  const r = await viaProxy(`http://nx.allowed.test:${o.http}/`);
  assert.equal(r.status, 502);
  assert.equal(r.headers["x-clawfence-error"], "CF_PROXY_NXDOMAIN");
});

void test("an allowed destination that refuses the connection answers 502", async () => {
  const r = await viaProxy(`http://dead.test:9/`);
  assert.equal(r.status, 502);
  await until(() => lastEvent((e) => e.name === "dead.test") !== undefined);
  assert.match(lastEvent((e) => e.name === "dead.test")?.detail ?? "", /connect failed: ECONNREFUSED/);
});

const malformed: Array<[string, string, number]> = [
  ["an origin-form request to the forward proxy is malformed", "GET /index.html HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 400],
  ["an https URL in a plain request is malformed", "GET https://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 400],
  ["credentials in the URL are malformed", "GET http://u:p@allowed.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["a broken request line is malformed", "GET\r\n\r\n", 400],
  ["a CONNECT without a port is malformed", "CONNECT allowed.test HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 400],
  ["a header block over 16 KiB is refused", `GET http://allowed.test/ HTTP/1.1\r\nX: ${"a".repeat(17000)}\r\n\r\n`, 431],
];
for (const [title, raw, status] of malformed) {
  void test(title, async () => {
    const r = await exchange(rig.port("http"), raw);
    assert.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `));
  });
}

// ---------------------------------------------------------------- CONNECT

async function connectTunnel(authority: string): Promise<{ st: Awaited<ReturnType<typeof stepper>>; head: string }> {
  const st = await stepper(rig.port("http"));
  st.s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  let head = "";
  while (!head.includes("\r\n\r\n")) head += (await st.read(1)).toString("latin1");
  return { st, head };
}

void test("CONNECT with a ClientHello for the allowed name is spliced through", async () => {
  const { st, head } = await connectTunnel(`allowed.test:${o.echo}`);
  assert.match(head, /^HTTP\/1\.1 200 /);
  const hello = buildHello({ names: ["allowed.test"] });
  st.s.write(hello);
  assert.deepEqual(await st.read(hello.length), hello, "the echo server got the hello unchanged");
  st.s.write("more bytes");
  assert.equal((await st.read(10)).toString(), "more bytes");
  st.s.end();
  await st.closed;
  await until(() => lastEvent((e) => e.detail === "http CONNECT" && e.name === "allowed.test") !== undefined);
  const e = lastEvent((x) => x.detail === "http CONNECT" && x.name === "allowed.test");
  assert.equal(e?.bytes_up, hello.length + 10);
  assert.equal(e?.bytes_down, hello.length + 10);
  assert.equal(e?.verdict, "allow");
});

void test("CONNECT whose ClientHello names another host is refused as sni-mismatch", async () => {
  const { st, head } = await connectTunnel(`allowed.test:${o.echo}`);
  assert.match(head, /^HTTP\/1\.1 200 /);
  st.s.write(buildHello({ names: ["other.test"] }));
  const alert = await st.read(7);
  assert.deepEqual([...alert], [0x15, 3, 3, 0, 2, 2, 0x31], "a TLS access_denied alert");
  await st.closed;
  await until(() => lastEvent((e) => e.reason === "sni-mismatch" && e.name === "allowed.test") !== undefined);
  const e = lastEvent((x) => x.reason === "sni-mismatch" && x.name === "allowed.test");
  assert.equal(e?.rule, "web");
  assert.equal(e?.bytes_up, 0, "nothing reached the server");
});

void test("CONNECT to a port that requires SNI refuses plain text as no-sni", async () => {
  const { st } = await connectTunnel(`allowed.test:${o.echo}`);
  st.s.write("GET / HTTP/1.1\r\n\r\n");
  await st.closed;
  await until(() => lastEvent((e) => e.reason === "no-sni") !== undefined);
});

void test("CONNECT to a port without the SNI requirement carries plain text", async () => {
  const { st, head } = await connectTunnel(`allowed.test:${o.http}`);
  assert.match(head, /^HTTP\/1\.1 200 /);
  st.s.write("GET /plain HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n");
  const resp = (await st.read(17)).toString();
  assert.equal(resp, "HTTP/1.1 200 OK\r\n");
  st.s.destroy();
});

void test("CONNECT to a literal address accepts a ClientHello naming an allowed host, refuses a denied one", async () => {
  const ok = await connectTunnel(`127.0.0.2:${o.echo}`);
  const hello = buildHello({ names: ["allowed.test"] });
  ok.st.s.write(hello);
  assert.deepEqual(await ok.st.read(hello.length), hello);
  ok.st.s.destroy();
  const bad = await connectTunnel(`127.0.0.2:${o.echo}`);
  bad.st.s.write(buildHello({ names: ["evil.test"] }));
  await bad.st.closed;
  await until(() => lastEvent((e) => e.reason === "sni-mismatch" && e.rule === "no-evil") !== undefined);
});

void test("CONNECT to a denied name answers 403 with the rule", async () => {
  const { st, head } = await connectTunnel(`evil.test:443`);
  assert.match(head, /^HTTP\/1\.1 403 /);
  assert.match(head, /X-Clawfence-Rule: no-evil/);
  assert.match(head, /X-Clawfence-Reason: rule-deny/);
  st.s.destroy();
});

void test("CONNECT to an allowed name on a port no rule allows answers 403", async () => {
  // dns-udp allows udp.test for udp only; a TCP CONNECT to it is not allowed
  const { st, head } = await connectTunnel(`udp.test:53`);
  assert.match(head, /^HTTP\/1\.1 403 /);
  st.s.destroy();
});

// ---------------------------------------------------------------- SOCKS5

function socksConnect(name: string, port: number): Buffer {
  return Buffer.from([5, 1, 0, 3, name.length, ...Buffer.from(name), port >> 8, port & 255]);
}

void test("SOCKS5 CONNECT to an allowed name by domain splices through", async () => {
  const st = await stepper(rig.port("socks5"));
  st.s.write(Buffer.from([5, 1, 0]));
  assert.deepEqual([...(await st.read(2))], [5, 0]);
  st.s.write(socksConnect("allowed.test", o.http));
  const rep = await st.read(10);
  assert.equal(rep[1], 0, "succeeded");
  st.s.write("GET /s HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n");
  assert.equal((await st.read(17)).toString(), "HTTP/1.1 200 OK\r\n");
  st.s.destroy();
  await until(() => lastEvent((e) => e.detail === "socks5 CONNECT" && e.name === "allowed.test") !== undefined);
});

const socksCases: Array<[string, Buffer, Buffer, number]> = [
  ["SOCKS5 CONNECT to a denied name answers 0x02", Buffer.from([5, 1, 0]), socksConnect("evil.test", 443), 2],
  ["SOCKS5 CONNECT to an unlisted address answers 0x02", Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 80]), 2],
  ["SOCKS5 BIND answers 0x07", Buffer.from([5, 1, 0]), Buffer.from([5, 2, 0, 1, 127, 0, 0, 2, 0, 80]), 7],
  ["SOCKS5 with an unknown address type answers 0x08", Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 7, 127, 0, 0, 2, 0, 80]), 8],
  ["SOCKS5 CONNECT to an allowed name without an address answers 0x04", Buffer.from([5, 1, 0]), socksConnect("nx.allowed.test", 80), 4],
];
for (const [title, greet, req, rep] of socksCases) {
  void test(title, async () => {
    const st = await stepper(rig.port("socks5"));
    st.s.write(greet);
    assert.deepEqual([...(await st.read(2))], [5, 0]);
    st.s.write(req);
    const r = await st.read(10);
    assert.equal(r[1], rep);
    await st.closed;
  });
}

void test("SOCKS5 without the no-auth method is refused with 0xFF", async () => {
  const r = await exchange(rig.port("socks5"), Buffer.from([5, 1, 2]));
  assert.deepEqual([...r.buf], [5, 0xff]);
});

void test("SOCKS5 UDP ASSOCIATE relays to a name a udp rule allows and drops the rest", async () => {
  const st = await stepper(rig.port("socks5"));
  st.s.write(Buffer.from([5, 1, 0]));
  await st.read(2);
  st.s.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
  const rep = await st.read(10);
  assert.equal(rep[1], 0);
  const relayPort = rep.readUInt16BE(8);
  const u = dgram.createSocket("udp4");
  await new Promise<void>((r) => u.bind(0, "127.0.0.1", r));
  const got: Buffer[] = [];
  u.on("message", (m) => got.push(m));
  const dgramTo = (name: string, payload: string): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 3, name.length]), Buffer.from(name), Buffer.from([o.udp >> 8, o.udp & 255]), Buffer.from(payload)]);
  u.send(dgramTo("udp.test", "ping"), relayPort, "127.0.0.1");
  await until(() => got.length === 1);
  const reply = got[0] as Buffer;
  assert.equal(reply.subarray(10).toString(), "echo:ping", "the reply carries a SOCKS UDP header then the data");
  u.send(dgramTo("other.test", "nope"), relayPort, "127.0.0.1");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(got.length, 1, "a destination without a udp rule gets nothing");
  u.close();
  st.s.destroy();
  await until(() => rig.events.some((e) => e.detail === "socks5 UDP" && e.name === "other.test"));
  const ok = lastEvent((e) => e.detail === "socks5 UDP" && e.name === "udp.test");
  const no = lastEvent((e) => e.detail === "socks5 UDP" && e.name === "other.test");
  assert.deepEqual([ok?.verdict, ok?.rule, ok?.bytes_up, ok?.bytes_down], ["allow", "dns-udp", 4, 9]);
  assert.deepEqual([no?.verdict, no?.rule], ["deny", "default"]);
});

// ---------------------------------------------------------------- transparent

void test("transparent TLS: a ClientHello for an allowed name goes to that name's checked address", async () => {
  const hello = buildHello({ names: ["a.allowed.test"] });
  const st = await stepper(rig.port("transparent-tls"));
  st.s.write(hello);
  assert.deepEqual(await st.read(hello.length), hello);
  st.s.destroy();
  await until(() => lastEvent((e) => e.detail === "transparent-tls" && e.name === "a.allowed.test") !== undefined);
  const e = lastEvent((x) => x.detail === "transparent-tls" && x.name === "a.allowed.test");
  assert.deepEqual([e?.verdict, e?.dst_ip, e?.dst_port], ["allow", ORIGIN, o.echo]);
});

const transparentRefusals: Array<[string, Buffer, string]> = [
  ["transparent TLS: a denied name gets an alert", buildHello({ names: ["evil.test"] }), "rule-deny"],
  ["transparent TLS: no server name is refused as no-sni", buildHello({}), "no-sni"],
  ["transparent TLS: an address as server name is malformed", buildHello({ names: ["127.0.0.2"] }), "malformed"],
  ["transparent TLS: plain text is malformed", Buffer.from("GET / HTTP/1.1\r\n\r\n"), "malformed"],
];
for (const [title, bytes, reason] of transparentRefusals) {
  void test(title, async () => {
    const before = rig.events.length;
    const r = await exchange(rig.port("transparent-tls"), bytes);
    assert.ok(r.closed);
    await until(() => rig.events.slice(before).some((e) => e.detail?.startsWith("transparent-tls") === true && e.reason === reason));
  });
}

void test("transparent HTTP: the Host header names the destination", async () => {
  const ok = await exchange(rig.port("transparent-http"), "GET /t HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n");
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  assert.match(ok.text, /origin allowed\.test GET \/t/);
  const no = await exchange(rig.port("transparent-http"), "GET /t HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n");
  assert.match(no.text, /^HTTP\/1\.1 403 /);
  const none = await exchange(rig.port("transparent-http"), "GET /t HTTP/1.0\r\n\r\n");
  assert.match(none.text, /^HTTP\/1\.1 400 /);
});

/** Read one response with a Content-Length body from a stepper; returns head and body. */
async function readResponse(st: Awaited<ReturnType<typeof stepper>>): Promise<{ head: string; body: string }> {
  let head = "";
  while (!head.endsWith("\r\n\r\n")) head += (await st.read(1)).toString("latin1");
  const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0");
  return { head, body: (await st.read(len)).toString("latin1") };
}

void test("transparent HTTP: a keep-alive connection is decided once and later requests are relayed to the same server", async () => {
  const before = rig.events.length;
  const st = await stepper(rig.port("transparent-http"));
  st.s.write("GET /one HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
  const one = await readResponse(st);
  assert.match(one.head, /^HTTP\/1\.1 200 /);
  assert.equal(one.body, "origin allowed.test GET /one body=0 pc=-\n");
  // the second request names another host: it is not parsed, so it reaches the server the
  // connection was dialed to (allowed for allowed.test), with its bytes unchanged
  st.s.write("POST /two HTTP/1.1\r\nHost: evil.test\r\nContent-Length: 5\r\n\r\nhello");
  const two = await readResponse(st);
  assert.match(two.head, /^HTTP\/1\.1 200 /);
  assert.equal(two.body, "origin evil.test POST /two body=5 pc=-\n");
  st.s.end();
  await until(() => rig.events.slice(before).some((e) => e.detail?.startsWith("transparent-http") === true));
  const events = rig.events.slice(before).filter((e) => e.detail?.startsWith("transparent-http") === true);
  assert.equal(events.length, 1, "one decision and one event for the connection");
  const e = events[0];
  assert.deepEqual([e?.detail, e?.name, e?.verdict, e?.dst_ip, e?.dst_port], ["transparent-http GET", "allowed.test", "allow", ORIGIN, o.http]);
  assert.ok((e?.bytes_up ?? 0) > 90, `both requests counted upstream (${e?.bytes_up})`);
});

const transparentMalformed: Array<[string, string, number, RegExp]> = [
  ["transparent HTTP: a request without Host is refused with 400", "GET /t HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, /CF_PROXY_NO_HOST/],
  ["transparent HTTP: two Host headers are refused with 400", "GET /t HTTP/1.1\r\nHost: allowed.test\r\nHost: evil.test\r\n\r\n", 400, /CF_PROXY_DUP_HOST/],
  ["transparent HTTP: a Host that is neither name nor address is refused with 400", "GET /t HTTP/1.1\r\nHost: a b\r\n\r\n", 400, /CF_PROXY_BAD_NAME/],
  ["transparent HTTP: a request head over 16 KiB is refused with 431", `GET /t HTTP/1.1\r\nHost: allowed.test\r\nX: ${"a".repeat(17000)}\r\n\r\n`, 431, /over 16384 bytes/],
  ["transparent HTTP: CONNECT is refused with 400", "CONNECT allowed.test:80 HTTP/1.1\r\nHost: allowed.test:80\r\n\r\n", 400, /CF_PROXY_CONNECT_TRANSPARENT/],
  ["transparent HTTP: a folded header line is refused with 400", "GET /t HTTP/1.1\r\nHost: allowed.test\r\nX: a\r\n b\r\n\r\n", 400, /CF_PROXY_BAD_HEADER/],
];
for (const [title, raw, status, detail] of transparentMalformed) {
  void test(title, async () => {
    const before = rig.events.length;
    const r = await exchange(rig.port("transparent-http"), raw);
    assert.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `));
    assert.match(r.text, /X-Clawfence-Reason: malformed/);
    await until(() => rig.events.slice(before).some((e) => e.detail?.startsWith("transparent-http") === true));
    const e = rig.events.slice(before).find((x) => x.detail?.startsWith("transparent-http") === true);
    assert.deepEqual([e?.verdict, e?.reason], ["deny", "malformed"]);
    assert.match(e?.detail ?? "", detail);
  });
}

void test("transparent HTTP: a denied Host gets 403 with the rule and reason", async () => {
  const r = await exchange(rig.port("transparent-http"), "GET /t HTTP/1.1\r\nHost: evil.test\r\n\r\n");
  assert.match(r.text, /^HTTP\/1\.1 403 /);
  assert.match(r.text, /X-Clawfence-Rule: no-evil\r\n/);
  assert.match(r.text, /X-Clawfence-Reason: rule-deny\r\n/);
});

void test("transparent HTTP: an absolute-form target is decided by its URL", async () => {
  const r = await exchange(rig.port("transparent-http"), `GET http://allowed.test:${o.http}/abs HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n`);
  assert.match(r.text, /^HTTP\/1\.1 200 /);
  assert.match(r.text, /origin allowed\.test GET http:\/\/allowed\.test:\d+\/abs/);
  const no = await exchange(rig.port("transparent-http"), `GET http://evil.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
  assert.match(no.text, /^HTTP\/1\.1 403 /);
});

void test("transparent HTTP: an allowed name whose server refuses answers 502", async () => {
  const r = await exchange(rig.port("transparent-http"), "GET / HTTP/1.1\r\nHost: dead.test:9\r\n\r\n");
  assert.match(r.text, /^HTTP\/1\.1 502 /);
  assert.match(r.text, /X-Clawfence-Error: ECONNREFUSED/);
});

void test("slowloris: a transparent HTTP head dribbled byte by byte is cut at the handshake timeout", async () => {
  const ms = await dribble(rig.port("transparent-http"), Buffer.from(`GET / HTTP/1.1\r\nHost: allowed.test\r\nX-Slow: ${"a".repeat(200)}\r\n\r\n`), 50);
  assert.ok(ms < 3000, `closed after ${ms} ms`);
});

// ---------------------------------------------------------------- limits

async function dribble(port: number, bytes: Buffer, everyMs: number): Promise<number> {
  const t0 = Date.now();
  const s = net.connect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  let i = 0;
  const timer = setInterval(() => {
    if (i < bytes.length && !s.destroyed) s.write(bytes.subarray(i, ++i));
  }, everyMs);
  await new Promise<void>((r) => s.once("close", () => r()));
  clearInterval(timer);
  return Date.now() - t0;
}

void test("slowloris: a request head dribbled byte by byte is cut at the handshake timeout", async () => {
  const ms = await dribble(rig.port("http"), Buffer.from(`GET http://allowed.test:${o.http}/ HTTP/1.1\r\nHost: allowed.test\r\nX-Slow: ${"a".repeat(200)}\r\n\r\n`), 50);
  assert.ok(ms < 3000, `closed after ${ms} ms`);
});
void test("slowloris: a SOCKS greeting dribbled byte by byte is cut at the handshake timeout", async () => {
  const ms = await dribble(rig.port("socks5"), Buffer.concat([Buffer.from([5, 1, 0]), socksConnect("allowed.test", o.http)]).subarray(0, 5), 400);
  assert.ok(ms < 3000, `closed after ${ms} ms`);
});
void test("slowloris: a ClientHello dribbled byte by byte is cut at the handshake timeout", async () => {
  const ms = await dribble(rig.port("transparent-tls"), buildHello({ names: ["allowed.test"] }), 50);
  assert.ok(ms < 3000, `closed after ${ms} ms`);
});
void test("slowloris: a CONNECT tunnel that never sends its ClientHello is cut", async () => {
  const { st } = await connectTunnel(`allowed.test:${o.echo}`);
  const t0 = Date.now();
  await st.closed;
  assert.ok(Date.now() - t0 < 3000);
});

void test("a client over its connection limit is closed at accept", async () => {
  const small = await startRig(SPEC, resolver, { limits: { maxConnsPerClient: 3, handshakeTimeoutMs: 5000 } });
  try {
    const held = await Promise.all([0, 1, 2].map(() => stepper(small.port("socks5"))));
    const fourth = await stepper(small.port("socks5"));
    await fourth.closed;
    await until(() => small.proxy.stats().refusedOverLimit === 1);
    for (const h of held) h.s.destroy();
    await until(() => small.proxy.stats().active === 0);
    const again = await stepper(small.port("socks5"));
    again.s.write(Buffer.from([5, 1, 0]));
    assert.deepEqual([...(await again.read(2))], [5, 0], "a slot frees when a connection closes");
    again.s.destroy();
  } finally {
    await small.close();
  }
});

// ---------------------------------------------------------------- fuzz
// Inputs come from fast-check generators and are sent 50 connections at a time (a listener
// waits up to the handshake timeout for the rest of an incomplete request, so one by one
// would take minutes). The property is checked per answer; the listener must still serve a
// good request afterwards.

async function inBatches<T>(inputs: readonly T[], run: (x: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < inputs.length; i += 50) await Promise.all(inputs.slice(i, i + 50).map(run));
}

void test("fuzzed request heads never crash the HTTP listener", async () => {
  const tokens = fc.constantFrom("GET", "CONNECT", "POST", " ", "http://", "allowed.test", ":", "443", "/", "\r\n", "HTTP/1.1", "Host:", "[", "]", "%", "0x7f.1", "\u0000", "é", "Transfer-Encoding: chunked", "Content-Length: 5");
  await inBatches(fc.sample(fc.array(tokens, { maxLength: 30 }), { numRuns: 300, seed: 42 }), async (parts) => {
    const r = await exchange(rig.port("http"), `${parts.join("")}\r\n\r\n`, 1500, true);
    assert.ok(r.text === "" || /^HTTP\/1\.1 \d{3} /.test(r.text), JSON.stringify(r.text.slice(0, 60)));
  });
  const ok = await viaProxy(`http://allowed.test:${o.http}/after-fuzz`);
  assert.equal(ok.status, 200);
});

void test("fuzzed SOCKS greetings and requests never crash the SOCKS listener", async () => {
  const raw = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 40 }).map((r) => Uint8Array.from([1, 0, 5, ...r])));
  await inBatches(fc.sample(raw, { numRuns: 300, seed: 7 }), async (r) => {
    const got = await exchange(rig.port("socks5"), Buffer.concat([Buffer.from([5]), r]), 1500, true);
    assert.ok(got.buf.length === 0 || got.buf[0] === 5);
  });
  const st = await stepper(rig.port("socks5"));
  st.s.write(Buffer.from([5, 1, 0]));
  assert.deepEqual([...(await st.read(2))], [5, 0]);
  st.s.destroy();
});

void test("fuzzed ClientHellos never crash the transparent TLS listener", async () => {
  const base = buildHello({ names: ["allowed.test"] });
  const flips = fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 });
  await inBatches(fc.sample(flips, { numRuns: 200, seed: 3 }), async (fl) => {
    const m = Buffer.from(base);
    for (const [i, v] of fl) m[i] = v;
    const got = await exchange(rig.port("transparent-tls"), m, 1500, true);
    // either nothing (closed), an alert, or the echo of exactly what was sent
    assert.ok(got.buf.length === 0 || got.buf[0] === 0x15 || m.subarray(0, got.buf.length).equals(got.buf));
  });
  const hello = buildHello({ names: ["allowed.test"] });
  const st = await stepper(rig.port("transparent-tls"));
  st.s.write(hello);
  assert.deepEqual(await st.read(hello.length), hello);
  st.s.destroy();
});

// ---------------------------------------------------------------- data path

void test("a tunnel carries 24 MiB of random bytes each way unchanged", async () => {
  const { createHash, randomBytes } = await import("node:crypto");
  const payload = randomBytes(24 << 20);
  const want = createHash("sha256").update(payload).digest("hex");
  const { st, head } = await connectTunnel(`127.0.0.2:${o.echo}`);
  assert.match(head, /^HTTP\/1\.1 200 /);
  // the echo port requires SNI in this rig: open the tunnel with a hello, then send the payload
  const hello = buildHello({ names: ["allowed.test"] });
  st.s.write(hello);
  await st.read(hello.length);
  const h = createHash("sha256");
  let got = 0;
  const done = new Promise<void>((resolve) => {
    st.s.removeAllListeners("data");
    st.s.on("data", (d: Buffer) => {
      h.update(d);
      got += d.length;
      if (got >= payload.length) resolve();
    });
  });
  for (let i = 0; i < payload.length; i += 1 << 20) st.s.write(payload.subarray(i, i + (1 << 20)));
  await done;
  assert.equal(got, payload.length);
  assert.equal(h.digest("hex"), want);
  st.s.end();
  const big = (x: FlowEvent): boolean => x.detail?.startsWith("http CONNECT") === true && (x.bytes_up ?? 0) > payload.length;
  await until(() => lastEvent(big) !== undefined);
  const e = lastEvent(big);
  assert.equal(e?.rule, "literal", "a tunnel to a literal address is decided by the address");
  assert.equal(e?.bytes_up, payload.length + hello.length);
  assert.equal(e?.bytes_down, payload.length + hello.length);
});
