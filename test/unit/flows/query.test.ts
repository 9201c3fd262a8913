/**
 * `--since`/`--until` parsing and the SQL the filters become (values always bound).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { filterSql, parseSince } from "../../../src/flows/query.ts";
import { FlowStoreError } from "../../../src/flows/errors.ts";

const NOW = Date.parse("2025-01-31T12:00:00.000Z");

void describe("parseSince", () => {
  const good: Array<[string, string, number]> = [
    ["seconds", "90s", NOW - 90_000],
    ["minutes", "30m", NOW - 1_800_000],
    ["hours", "1h", NOW - 3_600_000],
    ["days", "2d", NOW - 172_800_000],
    ["weeks", "1w", NOW - 604_800_000],
    ["milliseconds", "250ms", NOW - 250],
    ["compound durations add up", "1h30m", NOW - 5_400_000],
    ["zero is now", "0s", NOW],
    ["surrounding spaces are ignored", " 5m ", NOW - 300_000],
    ["an ISO time in UTC", "2025-01-30T08:15:00Z", Date.parse("2025-01-30T08:15:00Z")],
    ["an ISO time with milliseconds and an offset", "2025-01-30T08:15:00.250+02:00", Date.parse("2025-01-30T06:15:00.250Z")],
    ["a date alone is midnight UTC", "2025-01-30", Date.parse("2025-01-30T00:00:00Z")],
  ];
  for (const [name, text, want] of good) void it(name, () => assert.equal(parseSince(text, NOW), want));

  const bad: Array<[string, string]> = [
    ["an empty value", ""],
    ["a number without a unit", "15"],
    ["an unknown unit", "1x"],
    ["a negative duration", "-1h"],
    ["a decimal duration", "1.5h"],
    ["a unit without a number", "h"],
    ["words", "yesterday"],
    ["a date that does not exist", "2025-02-30T00:00:00Z"],
  ];
  for (const [name, text] of bad) {
    void it(`refuses ${name} with CF_FLOWS_SINCE and an example`, () => {
      assert.throws(
        () => parseSince(text, NOW),
        (e: unknown) => e instanceof FlowStoreError && e.code === "CF_FLOWS_SINCE" && e.fix.includes("1h"),
      );
    });
  }
});

void describe("filterSql", () => {
  void it("is empty without filters", () => assert.deepEqual(filterSql({}), { sql: "", params: [] }));

  void it("binds every user value as a parameter", () => {
    const w = filterSql({ rule: "x' OR 1=1 --", name: "*.Example.COM", sandbox: "s", kind: "dns", sinceMs: 5, untilMs: 9, afterId: 1, throughId: 7, policyHash: "h" });
    assert.ok(!w.sql.includes("OR 1=1"));
    assert.deepEqual(w.params, ["x' OR 1=1 --", "*.example.com", "s", "dns", "h", 5, 9, 1, 7]);
  });

  void it("writes the deny verdict literally so the partial index on denies applies", () => {
    assert.equal(filterSql({ verdict: "deny" }).sql, "WHERE verdict = 'deny'");
    assert.equal(filterSql({ verdict: "would-deny" }).sql, "WHERE verdict = 'deny' AND enforced = 0");
  });
});
