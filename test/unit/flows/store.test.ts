/**
 * The flow store with a real SQLite file (node:sqlite): what goes in comes out, in both writer
 * modes; drops are counted and persisted; filters; grouped counts; schema refusal; and two
 * writers on one file still build one valid chain.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { openFlowReader, openFlowStore, FlowStoreError } from "../../../src/flows/store.ts";
import { SCHEMA_VERSION } from "../../../src/flows/schema.ts";
import type { FlowEvent } from "../../../src/runtime/events.ts";
import { T0, ev, tempDir } from "./store-helpers.ts";

function write(path: string, events: readonly FlowEvent[], thread: "worker" | "inline", o: { queueCapacity?: number } = {}): ReturnType<ReturnType<typeof openFlowStore>["stats"]> {
  const s = openFlowStore(path, { thread, ...o });
  for (const e of events) s.emit(e);
  s.close();
  return s.stats();
}

for (const thread of ["inline", "worker"] as const) {
  void describe(`a store with the ${thread} writer`, () => {
    void it("stores every event with all its fields and reads them back oldest first", () => {
      const t = tempDir();
      try {
        const events = [
          ev(1),
          ev(2, { kind: "dns", dst_ip: null, dst_port: null, proto: "udp", qtype: "A", rcode: "NOERROR", answers: ["203.0.113.7"], latency_ms: 0.25, client: "10.200.0.2:5353" }),
          ev(3, { verdict: "deny", rule: "default", reason: "default-deny", detail: "no rule matched", removed: ["10.0.0.1"] }),
          ev(4, { verdict: "deny", enforced: false, rule: "staged", reason: "rule-deny", bytes_up: 10, bytes_down: 20, duration_ms: 1.5 }),
        ];
        const st = write(t.file("f.db"), events, thread);
        assert.equal(st.written, 4);
        assert.equal(st.dropped, 0);
        const r = openFlowReader(t.file("f.db"));
        const recs = r.query();
        r.close();
        assert.deepEqual(
          recs.map((x) => [x.id, x.ts, x.kind, x.verdict, x.enforced, x.rule, x.reason]),
          [
            [1, "2025-01-31T12:00:01.000Z", "connect", "allow", true, "web", "rule-allow"],
            [2, "2025-01-31T12:00:02.000Z", "dns", "allow", true, "web", "rule-allow"],
            [3, "2025-01-31T12:00:03.000Z", "connect", "deny", true, "default", "default-deny"],
            [4, "2025-01-31T12:00:04.000Z", "connect", "deny", false, "staged", "rule-deny"],
          ],
        );
        assert.deepEqual(recs[1], {
          id: 2,
          ts: "2025-01-31T12:00:02.000Z",
          kind: "dns",
          name: "host2.example.com",
          dst_ip: null,
          dst_port: null,
          proto: "udp",
          verdict: "allow",
          enforced: true,
          rule: "web",
          reason: "rule-allow",
          qtype: "A",
          rcode: "NOERROR",
          client: "10.200.0.2:5353",
          answers: ["203.0.113.7"],
          latency_ms: 0.25,
          sandbox: "sbx-1",
          policy_hash: "ab".repeat(32),
        });
        assert.equal(recs[2]?.detail, "no rule matched");
        assert.deepEqual(recs[2]?.removed, ["10.0.0.1"]);
        assert.deepEqual([recs[3]?.bytes_up, recs[3]?.bytes_down, recs[3]?.duration_ms], [10, 20, 1.5]);
      } finally {
        t.done();
      }
    });

    void it("drops events beyond the memory bound, counts them, and stores the count", () => {
      const t = tempDir();
      try {
        const st = write(t.file("f.db"), Array.from({ length: 25 }, (_, i) => ev(i)), thread, { queueCapacity: 10 });
        assert.equal(st.written, 10);
        assert.equal(st.dropped, 15);
        const r = openFlowReader(t.file("f.db"));
        assert.equal(r.droppedTotal(), 15);
        assert.equal(r.summary().dropped, 15);
        assert.deepEqual([...new Set([...r.rows()].map((x) => x.dropped_total))], [15]);
        assert.equal(r.verify().ok, true);
        r.close();
      } finally {
        t.done();
      }
    });

    void it("never throws from emit, even for events of the wrong shape, and keeps unknown fields", () => {
      const t = tempDir();
      try {
        const s = openFlowStore(t.file("f.db"), { thread });
        const odd = { ...ev(1), ts: "yesterday", dst_port: "443", colour: "blue", big: 12n } as unknown as FlowEvent;
        assert.doesNotThrow(() => s.emit(odd));
        assert.doesNotThrow(() => s.emit(null as unknown as FlowEvent));
        s.close();
        const r = openFlowReader(t.file("f.db"));
        const recs = r.query();
        r.close();
        const first = recs[0];
        assert.ok(first);
        assert.equal(first.dst_port, null);
        assert.deepEqual(first.extra, { ts_raw: "yesterday", colour: "blue", big: "12" });
        // the null event was stored as what could be read of it, or dropped and counted: never lost silently
        assert.equal(recs.length + s.stats().dropped, 2);
      } finally {
        t.done();
      }
    });

    void it("counts events emitted after close as dropped", () => {
      const t = tempDir();
      try {
        const s = openFlowStore(t.file("f.db"), { thread });
        s.emit(ev(1));
        s.close();
        s.emit(ev(2));
        assert.equal(s.stats().dropped, 1);
        assert.equal(s.stats().written, 1);
      } finally {
        t.done();
      }
    });
  });
}

void describe("reading a store", () => {
  const t = tempDir();
  const events = [
    ev(0, { name: "api.example.com", verdict: "allow", rule: "web" }),
    ev(10, { name: "API.Example.com.cdn.net", verdict: "allow", rule: "web", sandbox: "sbx-2" }),
    ev(20, { name: "evil.example.org", verdict: "deny", rule: "default", reason: "default-deny" }),
    ev(30, { name: "dns.google", verdict: "deny", enforced: false, rule: "staged", reason: "rule-deny", kind: "dns" }),
    ev(40, { name: null, dst_ip: "169.254.169.254", verdict: "deny", rule: "default", reason: "special-range" }),
  ];
  write(t.file("r.db"), events, "inline");
  const r = openFlowReader(t.file("r.db"));
  const ids = (f: Parameters<typeof r.query>[0]): number[] => r.query(f).map((x) => x.id ?? 0);

  const cases: Array<[string, Parameters<typeof r.query>[0], number[]]> = [
    ["no filter returns everything", {}, [1, 2, 3, 4, 5]],
    ["verdict allow", { verdict: "allow" }, [1, 2]],
    ["verdict deny includes monitor-mode denies", { verdict: "deny" }, [3, 4, 5]],
    ["verdict would-deny is only the monitor-mode denies", { verdict: "would-deny" }, [4]],
    ["rule matches exactly", { rule: "default" }, [3, 5]],
    ["name glob with a leading star, any case", { name: "*.EXAMPLE.com" }, [1]],
    ["name glob matches the middle with two stars", { name: "*example*" }, [1, 2, 3]],
    ["name glob with ? matches one character", { name: "dns.googl?" }, [4]],
    ["a '[' in a glob is literal", { name: "[a]*" }, []],
    ["sandbox", { sandbox: "sbx-2" }, [2]],
    ["kind", { kind: "dns" }, [4]],
    ["since is inclusive", { sinceMs: T0 + 20_000 }, [3, 4, 5]],
    ["until is exclusive", { untilMs: T0 + 20_000 }, [1, 2]],
    ["afterId and throughId bound ids", { afterId: 1, throughId: 3 }, [2, 3]],
    ["filters combine with AND", { verdict: "deny", rule: "default", sinceMs: T0 + 30_000 }, [5]],
  ];
  for (const [name, f, want] of cases) void it(name, () => assert.deepEqual(ids(f), want));

  void it("limits and orders", () => {
    assert.deepEqual(r.query({}, { order: "desc", limit: 2 }).map((x) => x.id), [5, 4]);
    assert.equal(r.count({ verdict: "deny" }), 3);
    assert.equal(r.maxId(), 5);
  });

  void it("counts by columns, most frequent first", () => {
    assert.deepEqual(
      r.countBy(["rule", "verdict"]).map((g) => [g.rule, g.verdict, g.count]),
      [
        ["default", "deny", 2],
        ["web", "allow", 2],
        ["staged", "deny", 1],
      ],
    );
    assert.throws(() => r.countBy(["row_hash" as "rule"]), (e: unknown) => e instanceof FlowStoreError && e.code === "CF_FLOWS_FILTER");
  });

  void it("summarizes verdicts and the time range", () => {
    assert.deepEqual(r.summary(), { total: 5, first: "2025-01-31T12:00:00.000Z", last: "2025-01-31T12:00:40.000Z", allow: 2, deny: 2, wouldDeny: 1, dropped: 0 });
    assert.equal(r.meta().schemaVersion, SCHEMA_VERSION);
    assert.equal(r.meta().headId, 5);
  });

  void it("closes", () => {
    r.close();
    t.done();
  });
});

void describe("opening files that are not usable stores", () => {
  void it("refuses a missing file with CF_FLOWS_NO_DB", () => {
    assert.throws(() => openFlowReader("/nonexistent/flows.db"), (e: unknown) => e instanceof FlowStoreError && e.code === "CF_FLOWS_NO_DB" && e.fix.length > 0);
  });

  void it("refuses another SQLite database with CF_FLOWS_NOT_A_STORE, for reading and writing", () => {
    const t = tempDir();
    try {
      const db = new DatabaseSync(t.file("other.db"));
      db.exec("CREATE TABLE t (x)");
      db.close();
      assert.throws(() => openFlowReader(t.file("other.db")), (e: unknown) => e instanceof FlowStoreError && e.code === "CF_FLOWS_NOT_A_STORE");
      assert.throws(() => openFlowStore(t.file("other.db")), (e: unknown) => e instanceof FlowStoreError && e.code === "CF_FLOWS_NOT_A_STORE");
    } finally {
      t.done();
    }
  });

  void it("refuses a file that is not SQLite at all", () => {
    const t = tempDir();
    try {
      writeFileSync(t.file("junk.db"), "this is not a database, just text long enough to have a header".repeat(20));
      assert.throws(() => openFlowReader(t.file("junk.db")), (e: unknown) => e instanceof FlowStoreError && /CF_FLOWS_(OPEN|NOT_A_STORE)/.test(e.code));
    } finally {
      t.done();
    }
  });

  void it("refuses a store written by a newer schema, saying which versions", () => {
    const t = tempDir();
    try {
      write(t.file("f.db"), [ev(1)], "inline");
      const db = new DatabaseSync(t.file("f.db"));
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
      db.close();
      assert.throws(
        () => openFlowReader(t.file("f.db")),
        (e: unknown) => e instanceof FlowStoreError && e.code === "CF_FLOWS_SCHEMA_NEWER" && e.message.includes(`version ${SCHEMA_VERSION + 1}`) && e.message.includes(`up to ${SCHEMA_VERSION}`),
      );
      assert.throws(() => openFlowStore(t.file("f.db"), { thread: "inline" }), (e: unknown) => e instanceof FlowStoreError && e.code === "CF_FLOWS_SCHEMA_NEWER");
    } finally {
      t.done();
    }
  });
});

void describe("several writers", () => {
  void it("two stores appending to one file in turns build one chain that verifies", () => {
    const t = tempDir();
    try {
      const a = openFlowStore(t.file("f.db"), { thread: "inline" });
      const b = openFlowStore(t.file("f.db"), { thread: "inline" });
      for (let i = 0; i < 6; i++) {
        (i % 2 === 0 ? a : b).emit(ev(i, { sandbox: i % 2 === 0 ? "a" : "b" }));
        (i % 2 === 0 ? a : b).flush();
      }
      a.close();
      b.close();
      const r = openFlowReader(t.file("f.db"));
      assert.deepEqual(r.query().map((x) => x.sandbox), ["a", "b", "a", "b", "a", "b"]);
      assert.deepEqual(r.verify(), { ok: true, rows: 6, head: r.meta().headHash });
      r.close();
    } finally {
      t.done();
    }
  });

  void it("a store reopened later continues the same chain", () => {
    const t = tempDir();
    try {
      write(t.file("f.db"), [ev(1), ev(2)], "inline");
      write(t.file("f.db"), [ev(3)], "worker");
      const r = openFlowReader(t.file("f.db"));
      const v = r.verify();
      assert.equal(v.ok, true);
      assert.equal(v.rows, 3);
      r.close();
    } finally {
      t.done();
    }
  });
});
