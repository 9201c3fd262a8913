/**
 * The NFLOG reader's process handling (src/runtime/nflog/reader.ts) without the kernel: a
 * small Node program stands in for tcpdump (a real child process, not a mock; the kernel's
 * NFLOG needs root and a namespace, which test/integration/nflog-capture.test.ts covers). It
 * prints tcpdump's "listening on" line, writes the bytes it is given, and prints tcpdump's
 * counters when it is stopped. Checks: events arrive, garbage and tcpdump exiting are
 * reported and counted, the host process never sees an exception.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createMemorySink, type EventSink, type FlowEvent } from "../../../src/runtime/events.ts";
import { createNflogReader, tcpdumpCommand, type NflogReaderOptions } from "../../../src/runtime/nflog/reader.ts";
import type { RuntimeError } from "../../../src/runtime/errors.ts";
import { ipv4, ipv6, l4, loggedPacket, pcapHeader, pcapRecord } from "./build.ts";

/** argv of a stand-in capture tool: optional stderr lines, then stdout bytes, then `after` */
function standIn(o: { listen?: boolean; stdout?: Buffer; after?: "stay" | "exit" | "crash"; stderr?: string; dropped?: number }): string[] {
  const script = `
    const [listen, hex, after, extra, dropped] = process.argv.slice(1);
    if (extra) process.stderr.write(extra + "\\n");
    if (listen === "1") process.stderr.write("tcpdump: listening on nflog:5, link-type NFLOG (Linux netfilter log messages), snapshot length 1024 bytes\\n");
    const stop = () => { process.stderr.write("\\n7 packets captured\\n7 packets received by filter\\n" + dropped + " packets dropped by kernel\\n"); process.exit(0); };
    process.on("SIGTERM", stop);
    process.stdout.write(Buffer.from(hex, "hex"), () => {
      if (after === "exit") process.exit(0);
      if (after === "crash") { process.stderr.write("tcpdump: pcap_loop: nflog: Cannot allocate memory\\n"); process.exit(1); }
      setInterval(() => {}, 1000);
    });
  `;
  return [process.execPath, "-e", script, o.listen === false ? "0" : "1", (o.stdout ?? Buffer.alloc(0)).toString("hex"), o.after ?? "stay", o.stderr ?? "", String(o.dropped ?? 0)];
}

function options(command: string[], extra: Partial<Omit<NflogReaderOptions, "sink">> = {}): NflogReaderOptions & { errors: RuntimeError[]; sink: EventSink & { readonly events: FlowEvent[] } } {
  const errors: RuntimeError[] = [];
  const sink: EventSink & { readonly events: FlowEvent[] } = createMemorySink();
  return {
    group: 5,
    mapPrefix: (p) => (p === "blocked-rule" ? { rule: "blocked-rule", enforced: true } : null),
    sink,
    clock: { now: () => 0 },
    onError: (e) => errors.push(e),
    command,
    startTimeoutMs: 5000,
    ...extra,
    errors,
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const UDP4 = ipv4({ src: "10.0.0.2", dst: "203.0.113.9", protocol: 17, body: l4("udp", 40000, 4433) });
const TCP6 = ipv6({ src: "2001:db8::2", dst: "2001:db8::99", protocol: 6, body: l4("tcp", 50000, 443) });

function stream(...records: Buffer[]): Buffer {
  return Buffer.concat([pcapHeader(), ...records.map((r, i) => pcapRecord(r, { sec: 1_700_000_000 + i }))]);
}

void describe("NFLOG reader", () => {
  void it("builds the tcpdump command, inside ip netns exec when a namespace is given", () => {
    assert.deepEqual(tcpdumpCommand({ group: 9 }).slice(0, 6), ["tcpdump", "-i", "nflog:9", "-U", "-w", "-"]);
    assert.deepEqual(tcpdumpCommand({ group: 9, netns: "cfx" }).slice(0, 5), ["ip", "netns", "exec", "cfx", "tcpdump"]);
  });

  void it("refuses a group outside 0..65535", () => {
    assert.throws(() => createNflogReader(options(standIn({}), { group: 70000 })), { code: "CF_RUNTIME_NFLOG_GROUP" });
  });

  void it("turns each record into one event and reads the kernel drop count when stopped", async () => {
    const o = options(standIn({ stdout: stream(loggedPacket("blocked-rule", UDP4), loggedPacket("blocked-rule", TCP6)), dropped: 3 }), { sandbox: "s1", policyHash: "h1" });
    const r = createNflogReader(o);
    await r.start();
    await until(() => o.sink.events.length === 2);
    await r.close();
    assert.deepEqual(
      o.sink.events.map((e) => [e.rule, e.proto, e.dst_ip, e.dst_port, e.reason, e.enforced, e.sandbox, e.policy_hash, e.ts]),
      [
        ["blocked-rule", "udp", "203.0.113.9", 4433, "rule-deny", true, "s1", "h1", "2023-11-14T22:13:20.000Z"],
        ["blocked-rule", "tcp", "2001:db8::99", 443, "rule-deny", true, "s1", "h1", "2023-11-14T22:13:21.000Z"],
      ],
    );
    assert.deepEqual(r.stats(), { packets: 2, events: 2, parseErrors: 0, unmapped: 0, dropped: 3, running: false });
    assert.deepEqual(o.errors, []);
  });

  void it("counts a bad record, reports it once, and goes on with the next ones", async () => {
    const bad = Buffer.from([2, 0, 0, 5, 2, 0, 10, 0]); // a TLV of length 2
    const o = options(standIn({ stdout: stream(bad, loggedPacket("blocked-rule", UDP4), bad, loggedPacket("blocked-rule", Buffer.from([0x50, 0]))) }));
    const r = createNflogReader(o);
    await r.start();
    await until(() => r.stats().packets === 4);
    await r.close();
    assert.equal(o.sink.events.length, 2);
    assert.equal(o.sink.events[1]?.dst_ip, null, "an unreadable payload still gives an event with the rule");
    assert.equal(o.sink.events[1]?.rule, "blocked-rule");
    assert.equal(r.stats().parseErrors, 3);
    assert.deepEqual(o.errors.map((e) => e.code), ["CF_RUNTIME_NFLOG_RECORD"]);
  });

  void it("garbage instead of a pcap stream stops the reader with CF_RUNTIME_NFLOG_STREAM", async () => {
    const o = options(standIn({ stdout: Buffer.from("this is not pcap at all, just text that keeps going ".repeat(20)) }));
    const r = createNflogReader(o);
    await r.start();
    await until(() => !r.stats().running);
    assert.deepEqual(o.errors.map((e) => e.code), ["CF_RUNTIME_NFLOG_STREAM"]);
    assert.match(o.errors[0]?.message ?? "", /not a pcap stream/);
    assert.equal(r.stats().parseErrors, 1);
    assert.equal(o.sink.events.length, 0);
    await r.close();
  });

  void it("tcpdump exiting on its own is reported with its message, after the records it wrote", async () => {
    const o = options(standIn({ stdout: stream(loggedPacket("blocked-rule", UDP4)), after: "crash" }));
    const r = createNflogReader(o);
    await r.start();
    await until(() => !r.stats().running);
    assert.equal(o.sink.events.length, 1);
    assert.deepEqual(o.errors.map((e) => e.code), ["CF_RUNTIME_NFLOG_EXIT"]);
    assert.match(o.errors[0]?.message ?? "", /Cannot allocate memory/);
    await r.close();
    await r.close();
  });

  void it("an unknown prefix is counted and still gives an event", async () => {
    const o = options(standIn({ stdout: stream(loggedPacket("somebody-else", UDP4)) }));
    const r = createNflogReader(o);
    await r.start();
    await until(() => o.sink.events.length === 1);
    await r.close();
    assert.equal(o.sink.events[0]?.rule, "somebody-else");
    assert.equal(r.stats().unmapped, 1);
  });

  void it("a throwing sink, mapPrefix and onError do not stop the reader", async () => {
    let seen = 0;
    const sink: EventSink = {
      emit() {
        seen++;
        throw new Error("sink bug");
      },
    };
    const o = options(standIn({ stdout: Buffer.concat([stream(loggedPacket("blocked-rule", UDP4), loggedPacket("x", UDP4)), Buffer.from("garbage!garbage!garbage!")]) }), {
      mapPrefix: () => {
        throw new Error("mapper bug");
      },
      onError: () => {
        throw new Error("callback bug");
      },
    });
    const r = createNflogReader({ ...o, sink });
    await r.start();
    await until(() => !r.stats().running);
    assert.equal(seen, 2);
    assert.equal(r.stats().unmapped, 2);
    assert.equal(r.stats().parseErrors, 1);
  });

  void it("a tool that exits before capturing rejects start() with its message", async () => {
    const r = createNflogReader(options(standIn({ listen: false, after: "crash", stderr: "tcpdump: Can't listen on group index: Operation not permitted" })));
    await assert.rejects(r.start(), (e: RuntimeError) => {
      assert.equal(e.code, "CF_RUNTIME_NFLOG_START");
      assert.match(e.message, /Can't listen on group index/);
      assert.match(e.fix, /another process reads NFLOG group 5/);
      return true;
    });
    await r.close();
  });

  void it("a tool that never says it is listening times out", async () => {
    const o = options(standIn({ listen: false }), { startTimeoutMs: 300 });
    const r = createNflogReader(o);
    await assert.rejects(r.start(), { code: "CF_RUNTIME_NFLOG_START" });
    await r.close();
    assert.equal(r.stats().running, false);
    assert.deepEqual(o.errors, [], "a failed start is the caller's rejection, not an onError report");
  });

  void it("a missing tool is CF_RUNTIME_TOOL_MISSING with the package to install", async () => {
    const r = createNflogReader(options(["/nonexistent/tcpdump-cf", "-i", "nflog:5"]));
    await assert.rejects(r.start(), (e: RuntimeError) => e.code === "CF_RUNTIME_TOOL_MISSING" && /apt-get install tcpdump/.test(e.fix));
    await r.close();
  });

  void it("close() before start() and twice is harmless", async () => {
    const r = createNflogReader(options(standIn({})));
    await r.close();
    await r.close();
    assert.equal(r.stats().running, false);
  });
});
