/**
 * Tamper evidence: a store is written, then changed behind its back with plain SQL, and
 * `verify()` must name the first row that no longer fits, and why.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openFlowReader, openFlowStore } from "../../../src/flows/store.ts";
import { canonicalRow, rowHash, type VerifyResult } from "../../../src/flows/chain.ts";
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
