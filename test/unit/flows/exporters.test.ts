/**
 * Exporters: JSON lines (with a slow stream: back-pressure, bounded queue, drops counted),
 * RFC 5424/5425 syslog (the message format, then a real TLS server on loopback, started after
 * the exporter to exercise reconnection), Prometheus metrics scraped with a real HTTP GET,
 * and fanout. The rsyslog test is in test/integration/flows-syslog.test.ts.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { createServer as createTlsServer } from "node:tls";
import { Writable } from "node:stream";
import { createJsonlExporter } from "../../../src/flows/exporters/jsonl.ts";
import { createSyslogExporter, formatSyslog, frame, sdEscape } from "../../../src/flows/exporters/syslog.ts";
import { createMetrics } from "../../../src/flows/exporters/metrics.ts";
import { fanout } from "../../../src/flows/exporters/fanout.ts";
import type { EventSink, FlowEvent } from "../../../src/runtime/events.ts";
import { ev, tempDir } from "./store-helpers.ts";

/** A stream that accepts `highWaterMark` bytes and then holds writes until `release()`. */
class SlowSink extends Writable {
  text = "";
  private held: Array<() => void> = [];
  constructor(hwm: number) {
    super({ highWaterMark: hwm });
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    this.held.push(() => cb());
  }
  release(): void {
    const h = this.held;
    this.held = [];
    for (const f of h) f();
  }
}

void describe("the JSONL exporter", () => {
  void it("writes one record per event, in the `flows --format jsonl` shape", () => {
    const s = new SlowSink(1 << 20);
    const x = createJsonlExporter(s);
    x.emit(ev(1));
    x.emit(ev(2, { verdict: "deny", enforced: false, rule: "staged", reason: "rule-deny" }));
    s.release();
    const lines = s.text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => [l["ts"], l["verdict"], l["enforced"], l["rule"]]), [
      ["2025-01-31T12:00:01.000Z", "allow", true, "web"],
      ["2025-01-31T12:00:02.000Z", "deny", false, "staged"],
    ]);
    assert.equal(x.written, 2);
  });

  void it("queues under back-pressure up to its capacity, counts the rest as dropped, and catches up on drain", async () => {
    const s = new SlowSink(10);
    const x = createJsonlExporter(s, { capacity: 5 });
    for (let i = 0; i < 20; i++) x.emit(ev(i));
    // the first write filled the stream; 5 queued; 14 dropped
    assert.equal(x.dropped, 14);
    const closed = x.close();
    for (let k = 0; k < 10; k++) {
      s.release();
      await new Promise((r) => setImmediate(r));
    }
    await closed;
    assert.equal(s.text.trim().split("\n").length, 6);
    assert.equal(x.written, 6);
  });

  void it("stops on a stream error, reports it once, and counts later events as dropped", () => {
    const s = new Writable({
      write(_c, _e, cb): void {
        cb(new Error("disk full"));
      },
    });
    const errors: string[] = [];
    const x = createJsonlExporter(s, { onError: (e) => errors.push(e.message) });
    x.emit(ev(1));
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        x.emit(ev(2));
        assert.deepEqual(errors, ["disk full"]);
        assert.equal(x.dropped, 1);
        resolve();
      });
    });
  });
});

const FMT = { appName: "clawfence", hostname: "agent-host", facility: 13, sdId: "flow@32473", procId: "42" };

void describe("the syslog message", () => {
  void it("is RFC 5424 with the rule, verdict and reason as structured data", () => {
    const m = formatSyslog(ev(1, { verdict: "deny", rule: "default", reason: "default-deny" }), FMT);
    assert.equal(
      m,
      '<108>1 2025-01-31T12:00:01.000Z agent-host clawfence 42 connect [flow@32473 verdict="deny" enforced="true" rule="default" reason="default-deny" kind="connect" name="host1.example.com" dst_ip="203.0.113.1" dst_port="443" proto="tcp" sandbox="sbx-1" policy_hash="' +
        "ab".repeat(32) +
        '"] deny connect host1.example.com 203.0.113.1:443/tcp rule=default reason=default-deny',
    );
  });

  const sev: Array<[string, Partial<FlowEvent>, number]> = [
    ["an allow is informational (6)", { verdict: "allow" }, 13 * 8 + 6],
    ["a deny is a warning (4)", { verdict: "deny" }, 13 * 8 + 4],
    ["a monitor-mode deny is a notice (5)", { verdict: "deny", enforced: false }, 13 * 8 + 5],
  ];
  for (const [name, o, pri] of sev) void it(name, () => assert.ok(formatSyslog(ev(1, o), FMT).startsWith(`<${pri}>1 `)));

  void it("escapes quote, backslash and ] in values, and keeps header fields printable", () => {
    assert.equal(sdEscape('a"b\\c]d'), 'a\\"b\\\\c\\]d');
    const m = formatSyslog(ev(1, { rule: 'we"ird]' }), { ...FMT, hostname: "host with spaces" });
    assert.ok(m.includes('rule="we\\"ird\\]"'));
    assert.ok(m.includes(" host_with_spaces clawfence "));
  });

  void it("is framed by its length in bytes, not characters", () => {
    assert.equal(frame("é"), "2 é");
  });
});

function makeCert(dir: string): { key: string; cert: string } {
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`, "-days", "1", "-subj", "/CN=collector.test", "-addext", "subjectAltName=DNS:collector.test,IP:127.0.0.1"], { stdio: "ignore" });
  return { key: readFileSync(`${dir}/key.pem`, "utf8"), cert: readFileSync(`${dir}/cert.pem`, "utf8") };
}

/** Split an RFC 5425 stream into messages. */
function unframe(data: string): string[] {
  const out: string[] = [];
  let buf = Buffer.from(data);
  while (buf.length > 0) {
    const sp = buf.indexOf(0x20);
    const len = Number(buf.subarray(0, sp).toString());
    out.push(buf.subarray(sp + 1, sp + 1 + len).toString());
    buf = buf.subarray(sp + 1 + len);
  }
  return out;
}

void describe("the syslog exporter over TLS (a real TLS server on loopback)", () => {
  void it("queues while the collector is down, connects with backoff, and delivers every framed message", async () => {
    const t = tempDir("cf-syslog-");
    const { key, cert } = makeCert(t.dir);
    let received = "";
    const server = createTlsServer({ key, cert }, (sock) => {
      sock.on("data", (d: Buffer) => {
        received += d.toString();
      });
    });
    // pick a free port, then close it so the exporter's first attempts fail
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const errors: string[] = [];
    const x = createSyslogExporter({ host: "127.0.0.1", port, ca: cert, servername: "collector.test", hostname: "agent-host", minBackoffMs: 50, maxBackoffMs: 200, onError: (e) => errors.push(e.message) });
    try {
      x.emit(ev(1));
      x.emit(ev(2, { verdict: "deny", rule: "default", reason: "default-deny" }));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(x.stats().connected, false);
      assert.ok(errors.some((m) => m.includes("ECONNREFUSED")));
      await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
      const end = Date.now() + 5000;
      while (unframe(received).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      x.emit(ev(3, { rule: "last" }));
      await x.close();
      await new Promise((r) => setTimeout(r, 100));
      const msgs = unframe(received);
      assert.equal(msgs.length, 3);
      assert.match(msgs[1] ?? "", /^<108>1 2025-01-31T12:00:02.000Z agent-host clawfence \d+ connect \[flow@32473 verdict="deny" enforced="true" rule="default" reason="default-deny"/);
      assert.ok((msgs[2] ?? "").includes('rule="last"'));
      assert.equal(x.stats().dropped, 0);
      assert.ok(x.stats().connects >= 1);
    } finally {
      await x.close();
      server.close();
      t.done();
    }
  });

  void it("refuses a collector whose certificate it does not trust, and keeps the messages queued", async () => {
    const t = tempDir("cf-syslog-");
    const { key, cert } = makeCert(t.dir);
    const server = createTlsServer({ key, cert }, () => {});
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const errors: string[] = [];
    const x = createSyslogExporter({ host: "127.0.0.1", port, minBackoffMs: 50, maxBackoffMs: 100, onError: (e) => errors.push(String((e as NodeJS.ErrnoException).code ?? e.message)) });
    try {
      x.emit(ev(1));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(x.stats().connected, false);
      assert.equal(x.stats().queued, 1);
      assert.ok(errors.some((c) => /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/.test(c)), errors.join(","));
    } finally {
      await x.close(100);
      server.close();
      t.done();
    }
  });

  void it("drops and counts beyond its capacity while disconnected", async () => {
    const x = createSyslogExporter({ host: "127.0.0.1", port: 1, capacity: 3, minBackoffMs: 1000 });
    for (let i = 0; i < 10; i++) x.emit(ev(i));
    assert.equal(x.stats().queued, 3);
    assert.equal(x.stats().dropped, 7);
    await x.close(10);
    assert.equal(x.stats().dropped, 10);
  });
});

function scrape(port: number, path = "/metrics"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    }).on("error", reject);
  });
}

void describe("the Prometheus endpoint (a real HTTP GET)", () => {
  void it("counts decisions by kind, rule, verdict and enforcement, latencies as histograms, and drops per sink", async () => {
    const m = createMetrics();
    m.emit(ev(1, { kind: "dns", latency_ms: 0.3 }));
    m.emit(ev(2, { kind: "dns", latency_ms: 3 }));
    m.emit(ev(3, { kind: "proxy", latency_ms: 40 }));
    m.emit(ev(4, { verdict: "deny", rule: "default", reason: "default-deny" }));
    m.emit(ev(5, { verdict: "deny", enforced: false, rule: 'odd"rule', reason: "rule-deny" }));
    m.addDropSource("store", () => 7);
    const { port } = await m.listen("127.0.0.1", 0);
    try {
      const r = await scrape(port);
      assert.equal(r.status, 200);
      assert.equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
      const lines = r.body.split("\n");
      for (const want of [
        "# TYPE clawfence_decisions_total counter",
        'clawfence_decisions_total{kind="dns",rule="web",verdict="allow",enforced="true"} 2',
        'clawfence_decisions_total{kind="proxy",rule="web",verdict="allow",enforced="true"} 1',
        'clawfence_decisions_total{kind="connect",rule="default",verdict="deny",enforced="true"} 1',
        'clawfence_decisions_total{kind="connect",rule="odd\\"rule",verdict="deny",enforced="false"} 1',
        "# TYPE clawfence_dns_latency_seconds histogram",
        'clawfence_dns_latency_seconds_bucket{le="0.0005"} 1',
        'clawfence_dns_latency_seconds_bucket{le="0.005"} 2',
        'clawfence_dns_latency_seconds_bucket{le="+Inf"} 2',
        "clawfence_dns_latency_seconds_count 2",
        'clawfence_proxy_connect_seconds_bucket{le="0.025"} 0',
        'clawfence_proxy_connect_seconds_bucket{le="0.05"} 1',
        "clawfence_proxy_connect_seconds_count 1",
        "# TYPE clawfence_flow_events_dropped_total counter",
        'clawfence_flow_events_dropped_total{sink="store"} 7',
      ]) {
        assert.ok(lines.includes(want), `missing line: ${want}`);
      }
      // every sample line is NAME{LABELS} VALUE or NAME VALUE
      for (const l of lines.filter((x) => x && !x.startsWith("#"))) assert.match(l, /^[a-z_]+(\{.*\})? [0-9.e+-]+$/);
      assert.equal((await scrape(port, "/")).status, 404);
    } finally {
      await m.close();
    }
  });
});

void describe("fanout", () => {
  void it("hands every event to every sink, and a throwing sink neither stops the others nor reaches the caller", () => {
    const got: string[] = [];
    const a: EventSink = { emit: (e) => got.push(`a:${e.name}`) };
    const bad: EventSink = {
      emit: () => {
        throw new Error("bug");
      },
    };
    const b: EventSink = { emit: (e) => got.push(`b:${e.name}`) };
    const f = fanout(a, bad, b);
    assert.doesNotThrow(() => f.emit(ev(1)));
    assert.deepEqual(got, ["a:host1.example.com", "b:host1.example.com"]);
    assert.equal(f.errors, 1);
  });
});
