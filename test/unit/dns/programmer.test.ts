/**
 * The set programmer's bookkeeping: never shorten, wait for in-flight elements, forget failed
 * ones, read `nft -j` output back. Mock: the runner records text instead of running nft (nft
 * needs a namespace; test/integration/dns-guard.test.ts checks the same against the kernel).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSetProgrammer, parseSetElements } from "../../../src/runtime/nft/programmer.ts";
import type { NftRunner } from "../../../src/runtime/nft/session.ts";
import { allow, policy } from "../match/ir-builder.ts";

const P = policy({ rules: [allow("web", ["*.example.com"], { ports: [443, "8000-8100"], protocol: "tcp" }), allow("ping", ["host.example.org"], { protocol: "icmp" })] });
const grant = { rule: "web", order: 0, protocol: "tcp" as const, ports: [{ from: 443, to: 443 }, { from: 8000, to: 8100 }] };

function setup(fail = false) {
  const applied: string[] = [];
  const gates: Array<() => void> = [];
  let hold = false;
  const runner: NftRunner = {
    apply(text) {
      if (fail) return Promise.reject(new Error("nft refused"));
      applied.push(text);
      return hold ? new Promise<void>((r) => gates.push(r)) : Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const clock = { t: 0, now: () => clock.t };
  const prog = createSetProgrammer({ policy: P, table: "cf_t", runner, clock });
  return { prog, applied, clock, gates, holdOn: () => (hold = true) };
}

const addr = (ip: string, ttl: number) => ({ grants: [grant], address: { ip, family: 4 as const, ttl } });

void test("every port range of the grant becomes an element with timeout max(ttl, min_ttl)", async () => {
  const s = setup();
  assert.equal(await s.prog.program([addr("93.184.216.34", 2)], 5), 2);
  assert.equal(s.applied.join(""), "add element inet cf_t d0_4 { 93.184.216.34 . tcp . 443 timeout 5s }\nadd element inet cf_t d0_4 { 93.184.216.34 . tcp . 8000-8100 timeout 5s }\n");
});

void test("a later answer with a shorter TTL sends nothing (the element is never shortened)", async () => {
  const s = setup();
  await s.prog.program([addr("93.184.216.34", 300)], 5);
  s.clock.t += 1000;
  assert.equal(await s.prog.program([addr("93.184.216.34", 10)], 5), 0);
  assert.equal(s.applied.length, 1);
});

void test("a later answer that needs a longer life refreshes the element", async () => {
  const s = setup();
  await s.prog.program([addr("93.184.216.34", 10)], 5);
  s.clock.t += 1000;
  assert.equal(await s.prog.program([addr("93.184.216.34", 300)], 5), 2);
  assert.match(s.applied[1] ?? "", /timeout 300s/);
});

void test("an answer relying on an element still on its way waits for it", async () => {
  const s = setup();
  s.holdOn();
  let firstDone = false;
  const first = s.prog.program([addr("93.184.216.34", 60)], 5).then(() => (firstDone = true));
  let secondDone = false;
  const second = s.prog.program([addr("93.184.216.34", 30)], 5).then(() => (secondDone = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(secondDone, false, "the second answer waits for the first batch");
  assert.equal(s.applied.length, 1);
  for (const g of s.gates) g();
  await Promise.all([first, second]);
  assert.ok(firstDone && secondDone);
});

void test("a failed batch is forgotten, so the next answer tries again", async () => {
  const s = setup(true);
  await assert.rejects(s.prog.program([addr("93.184.216.34", 60)], 5));
  assert.equal(s.prog.size(), 0);
});

void test("holds() knows addresses programmed for a grant's rule until they expire", async () => {
  const s = setup();
  await s.prog.program([addr("93.184.216.34", 60)], 5);
  assert.equal(s.prog.holds([grant], "93.184.216.34"), true);
  assert.equal(s.prog.holds([grant], "93.184.216.35"), false);
  s.clock.t += 61_000;
  assert.equal(s.prog.holds([grant], "93.184.216.34"), false);
});

void test("ICMP grants go to the address-only set", async () => {
  const s = setup();
  await s.prog.program([{ grants: [{ rule: "ping", order: 1, protocol: "icmp", ports: null }], address: { ip: "93.184.216.40", family: 4, ttl: 60 } }], 5);
  assert.equal(s.applied.join(""), "add element inet cf_t d1_4i { 93.184.216.40 timeout 60s }\n");
});

void test("nft -j elements are read back: single ports, ranges, address-only", () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: {} },
      {
        set: {
          elem: [
            { elem: { val: { concat: ["1.2.3.4", "tcp", 443] }, timeout: 60, expires: 59 } },
            { elem: { val: { concat: ["1.2.3.4", "tcp", { range: [8000, 8100] }] }, timeout: 60, expires: 42 } },
            { elem: { val: "5.6.7.8", timeout: 60, expires: 3 } },
            { elem: { val: { concat: ["1.2.3.4", "tcp", 80] } } },
          ],
        },
      },
    ],
  });
  assert.deepEqual(parseSetElements(json), [
    { ip: "1.2.3.4", protocol: "tcp", portRange: { from: 443, to: 443 }, expiresSec: 59 },
    { ip: "1.2.3.4", protocol: "tcp", portRange: { from: 8000, to: 8100 }, expiresSec: 42 },
    { ip: "5.6.7.8", protocol: "icmp", portRange: null, expiresSec: 3 },
  ]);
  assert.deepEqual(parseSetElements("not json"), []);
});
