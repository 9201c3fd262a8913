/**
 * Tamper evidence: a store is written, then changed behind its back with plain SQL, and
 * `verify()` must name the first row that no longer fits, and why.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openFlowReader, openFlowStore } from "../../../src/flows/store.ts";
import fc from "fast-check";
import { bodyText, canonicalRow, chainHash, rowBodyValues, rowHash, type VerifyResult } from "../../../src/flows/chain.ts";
import { eventToRow } from "../../../src/flows/record.ts";
import { HASHED_COLUMNS } from "../../../src/flows/schema.ts";
import { prepareEvents } from "../../../src/flows/writer.ts";
import type { FlowEvent } from "../../../src/runtime/events.ts";
import { ev, tempDir } from "./store-helpers.ts";

function withStore(n: number, tamper: (db: DatabaseSync) => void): VerifyResult {
  const t = tempDir("cf-chain-");
  try {
    const s = openFlowStore(t.file("f.db"), { thread: "inline", batchRows: 3 });
    for (let i = 1; i <= n; i++) s.emit(ev(i));
    s.close();
    const db = new DatabaseSync(t.file("f.db"));
    tamper(db);
    db.close();
    const r = openFlowReader(t.file("f.db"));
    try {
      return r.verify();
    } finally {
      r.close();
    }
  } finally {
    t.done();
  }
}

const broken = (v: VerifyResult): { id: number; problem: string; rows: number } => {
  assert.equal(v.ok, false, "the change went unnoticed");
  if (v.ok) throw new Error("unreachable");
  return { id: v.id, problem: v.problem, rows: v.rows };
};

void describe("verify", () => {
  void it("an untouched store verifies, across several batches", () => {
    const v = withStore(10, () => {});
    assert.equal(v.ok, true);
    assert.equal(v.rows, 10);
  });

  void it("an empty store verifies with zero rows", () => {
    assert.equal(withStore(0, () => {}).rows, 0);
  });

  const cases: Array<[string, (db: DatabaseSync) => void, { id: number; problem: string; rows: number }]> = [
    ["a verdict edited from allow to deny is found at that row", (db) => db.exec("UPDATE flows SET verdict = 'deny' WHERE id = 6"), { id: 6, problem: "row-hash", rows: 5 }],
    ["a rule renamed is found at that row", (db) => db.exec("UPDATE flows SET rule = 'other' WHERE id = 2"), { id: 2, problem: "row-hash", rows: 1 }],
    ["a timestamp moved by one millisecond is found", (db) => db.exec("UPDATE flows SET ts_ms = ts_ms + 1 WHERE id = 9"), { id: 9, problem: "row-hash", rows: 8 }],
    ["a null field filled in is found", (db) => db.exec("UPDATE flows SET detail = 'fine' WHERE id = 1"), { id: 1, problem: "row-hash", rows: 0 }],
    ["a deleted row is found at the row after it", (db) => db.exec("DELETE FROM flows WHERE id = 4"), { id: 5, problem: "prev-hash", rows: 3 }],
    ["the first row deleted is found at the new first row", (db) => db.exec("DELETE FROM flows WHERE id = 1"), { id: 2, problem: "prev-hash", rows: 0 }],
    ["rows cut off the end are found by the recorded head", (db) => db.exec("DELETE FROM flows WHERE id >= 9"), { id: 8, problem: "head", rows: 8 }],
    ["every row deleted is found by the recorded head", (db) => db.exec("DELETE FROM flows"), { id: 0, problem: "head", rows: 0 }],
    [
      "two rows swapped (ids exchanged) are found at the first of them",
      (db) => {
        db.exec("UPDATE flows SET id = -3 WHERE id = 3");
        db.exec("UPDATE flows SET id = 3 WHERE id = 7");
        db.exec("UPDATE flows SET id = 7 WHERE id = -3");
      },
      { id: 3, problem: "prev-hash", rows: 2 },
    ],
    [
      "a row edited and its own hash recomputed is found at the next row",
      (db) => {
        const row = db.prepare("SELECT * FROM flows WHERE id = 5").get() as Parameters<typeof rowHash>[1] & { prev_hash: string };
        const edited = { ...row, verdict: "deny" };
        db.prepare("UPDATE flows SET verdict = 'deny', row_hash = ? WHERE id = 5").run(rowHash(row.prev_hash, edited));
      },
      { id: 6, problem: "prev-hash", rows: 5 },
    ],
    [
      "an inserted row is found",
      (db) => {
        db.exec("UPDATE flows SET id = id + 100 WHERE id > 5");
        db.exec("INSERT INTO flows SELECT 6, ts_ms, kind, sandbox, policy_hash, name, qtype, rcode, client, dst_ip, dst_port, proto, verdict, enforced, rule, reason, detail, answers, removed, latency_ms, bytes_up, bytes_down, duration_ms, extra, dropped_total, prev_hash, row_hash FROM flows WHERE id = 5");
      },
      { id: 6, problem: "prev-hash", rows: 5 },
    ],
    [
      "a drop counter lowered and rehashed is found",
      (db) => {
        db.exec("UPDATE flows SET dropped_total = 5");
        // rehash the whole chain with the inflated counter, then lower it on the last row only
        let prev = (db.prepare("SELECT value FROM meta WHERE key = 'genesis'").get() as { value: string }).value;
        const rows = db.prepare("SELECT * FROM flows ORDER BY id").all() as Array<Parameters<typeof rowHash>[1] & { id: number }>;
        for (const r of rows) {
          const dropped = r.id === 10 ? 1 : r.dropped_total;
          const h = rowHash(prev, { ...r, dropped_total: dropped });
          db.prepare("UPDATE flows SET dropped_total = ?, prev_hash = ?, row_hash = ? WHERE id = ?").run(dropped, prev, h, r.id);
          prev = h;
        }
        db.prepare("UPDATE meta SET value = ? WHERE key = 'head_hash'").run(prev);
      },
      { id: 10, problem: "dropped-total", rows: 9 },
    ],
  ];
  for (const [name, tamper, want] of cases) void it(name, () => assert.deepEqual(broken(withStore(10, tamper)), want));
});

void describe("the canonical form of a row", () => {
  void it("keeps null, numbers and text apart, so a string '1' and the number 1 hash differently", () => {
    const base = JSON.parse(canonicalRow({ id: 1 } as Parameters<typeof canonicalRow>[0])) as unknown[];
    assert.equal(base.length, 25);
    const a = { id: 1, dst_port: 1 } as unknown as Parameters<typeof rowHash>[1];
    const b = { id: 1, dst_port: "1" } as unknown as Parameters<typeof rowHash>[1];
    assert.notEqual(rowHash("g", a), rowHash("g", b));
  });

  void it("depends on the previous hash", () => {
    const r = { id: 1 } as Parameters<typeof rowHash>[1];
    assert.notEqual(rowHash("a", r), rowHash("b", r));
  });
});

void describe("the writers' fast path (body text made once, id and counter added in the transaction)", () => {
  const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom("a\nb", 'q"u\\o', "\u2028", "\u0000", "é", "a\ud800b", "\udc00", "\ud83d\ude00"));
  const number = fc.oneof(fc.double(), fc.integer(), fc.constant(-0), fc.constant(2 ** 53 + 2), fc.constant(1e21));
  const value = fc.oneof(text, number, fc.constant(null), fc.constant(undefined), fc.boolean(), fc.array(text, { maxLength: 3 }));
  const event = fc.record(
    {
      ts: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), text),
      kind: value,
      name: value,
      dst_ip: value,
      dst_port: value,
      proto: value,
      verdict: value,
      enforced: value,
      rule: value,
      reason: value,
      detail: value,
      qtype: value,
      client: value,
      answers: value,
      removed: value,
      latency_ms: value,
      bytes_up: value,
      bytes_down: value,
      duration_ms: value,
      sandbox: value,
      policy_hash: value,
      colour: value,
    },
    { requiredKeys: ["ts"] },
  ) as unknown as fc.Arbitrary<FlowEvent>;

  void it("hashes exactly the documented canonical text, and its body parses back to the values bound", () => {
    fc.assert(
      fc.property(event, fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(), fc.string({ unit: fc.constantFrom(..."0123456789abcdef".split("")), minLength: 64, maxLength: 64 }), (e, id, dropped, prev) => {
        const p = prepareEvents([e], 5);
        assert.equal(p.unreadable, 0);
        const body = p.bodies[0] as string;
        assert.ok(!body.includes("\n"), "a body must not contain a raw newline (the worker splits on it)");
        const row = { ...eventToRow(e, 5), id, dropped_total: dropped };
        assert.equal(`[${id},${body},${dropped}]`, canonicalRow(row));
        assert.equal(chainHash(prev, id, body, dropped), rowHash(prev, row));
        // what the worker parses back and binds has the same text (-0 comes back as 0; both are "0")
        assert.equal(bodyText(JSON.parse(`[${body}]`) as Parameters<typeof bodyText>[0]), body);
        assert.deepEqual(p.values[0], rowBodyValues(row));
      }),
      { numRuns: 500 },
    );
  });

  void it("lists the body columns in HASHED_COLUMNS order, without id and dropped_total", () => {
    const row = Object.fromEntries(HASHED_COLUMNS.map((c) => [c, c])) as unknown as Parameters<typeof rowBodyValues>[0];
    assert.deepEqual(rowBodyValues(row), HASHED_COLUMNS.slice(1, -1));
    assert.equal(bodyText(["a", 1, null]), '"a",1,null');
  });

  void it("counts an event that cannot be read at all instead of failing the batch", () => {
    const hostile = new Proxy({}, { ownKeys: () => { throw new Error("no"); } }) as unknown as FlowEvent;
    const p = prepareEvents([hostile, ev(1)], 0);
    assert.equal(p.unreadable, 1);
    assert.equal(p.bodies.length, 1);
  });

  for (const thread of ["inline", "worker"] as const) {
    void it(`a ${thread} store keeps a row with a lone UTF-16 surrogate verifiable (stored and hashed as U+FFFD)`, () => {
      const t = tempDir("cf-chain-surrogate-");
      try {
        const s = openFlowStore(t.file("f.db"), { thread });
        s.emit(ev(1, { name: "a\ud800b.example.com", rule: "\udc00" }));
        s.close();
        const r = openFlowReader(t.file("f.db"));
        try {
          assert.equal(r.verify().ok, true);
          const rec = r.query()[0];
          assert.equal(rec?.name, "a\ufffdb.example.com");
          assert.equal(rec?.rule, "\ufffd");
        } finally {
          r.close();
        }
      } finally {
        t.done();
      }
    });

    void it(`a ${thread} store stores an integer field too large for SQLite as null instead of failing the batch`, () => {
      const t = tempDir("cf-chain-big-");
      try {
        const s = openFlowStore(t.file("f.db"), { thread });
        s.emit(ev(1, { dst_port: 1e300, bytes_up: 2 ** 70 }));
        s.emit(ev(2));
        s.close();
        assert.equal(s.stats().written, 2);
        const r = openFlowReader(t.file("f.db"));
        try {
          assert.equal(r.verify().ok, true);
          assert.deepEqual(r.query().map((x) => [x.dst_port, x.bytes_up ?? null]), [[null, null], [443, null]]);
        } finally {
          r.close();
        }
      } finally {
        t.done();
      }
    });

    void it(`a ${thread} store continues a chain written row by row with the documented formula, and it verifies`, () => {
      const t = tempDir("cf-chain-compat-");
      try {
        const first = openFlowStore(t.file("f.db"), { thread: "inline" });
        first.emit(ev(1));
        first.close();
        // a row written by hand exactly as docs/flows.md describes (what earlier writers did)
        const db = new DatabaseSync(t.file("f.db"));
        const head = db.prepare("SELECT value FROM meta WHERE key = 'head_hash'").get() as { value: string };
        const row = { ...eventToRow(ev(2, { answers: ["203.0.113.9"], latency_ms: 1.25 }), 0), id: 2, dropped_total: 0 };
        const h = rowHash(head.value, row);
        db.prepare(`INSERT INTO flows (${HASHED_COLUMNS.join(", ")}, prev_hash, row_hash) VALUES (${HASHED_COLUMNS.map(() => "?").join(", ")}, ?, ?)`).run(
          ...HASHED_COLUMNS.map((c) => row[c]),
          head.value,
          h,
        );
        db.prepare("UPDATE meta SET value = ? WHERE key = ?").run("2", "head_id");
        db.prepare("UPDATE meta SET value = ? WHERE key = ?").run(h, "head_hash");
        db.close();
        const s = openFlowStore(t.file("f.db"), { thread });
        for (let i = 3; i <= 6; i++) s.emit(ev(i, { latency_ms: i / 3, detail: `line\n"${i}"` }));
        s.close();
        const r = openFlowReader(t.file("f.db"));
        try {
          assert.deepEqual(r.verify(), { ok: true, rows: 6, head: r.meta().headHash });
        } finally {
          r.close();
        }
      } finally {
        t.done();
      }
    });
  }
});
