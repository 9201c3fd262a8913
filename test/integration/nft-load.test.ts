/**
 * Every conformance case's nftables output loads into a fresh namespace with `nft -f`, in
 * both hooks, and loads again over itself (the atomic replace idiom must work when the
 * table already exists). Dynamic set elements rendered by layout.ts load too. So do the
 * built-in presets, in every phase.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileNftables } from "../../src/compile/nftables/index.ts";
import { CASES } from "../../src/compile/conformance.ts";
import { dynamicSetNames, renderSetElements, tableNameFor } from "../../src/compile/nftables/layout.ts";
import { NetnsPair, netnsUnavailable } from "../unit/compile/netns-harness.ts";
import { PRESETS } from "../../src/policy/presets/index.ts";
import { loadPreset } from "../unit/compile/golden-runner.ts";

const skip = netnsUnavailable();

void describe("nftables output loads in the kernel", { skip: skip ?? false }, () => {
  const ns = new NetnsPair("nl");
  before(() => ns.open());
  after(() => ns.close());
  for (const c of CASES) {
    for (const hook of ["output", "forward"] as const) {
      void it(`${c.name} (hook ${hook})`, () => {
        const opts = { ...c.opts, hook, ...(hook === "forward" ? { iface: "cfveth0" } : {}) };
        const { text } = compileNftables(c.policy, opts);
        ns.exec("nft", ["-f", "-"], text);
        ns.exec("nft", ["-f", "-"], text);
        const table = tableNameFor(c.policy, opts);
        const listed = ns.exec("nft", ["list", "table", "inet", table]);
        assert.match(listed, new RegExp(`hook ${hook}`));
        for (const r of c.policy.rules) {
          const sets = dynamicSetNames(c.policy, r);
          if (!sets || !listed.includes(`set ${sets.v4} `)) continue;
          ns.exec("nft", ["-f", "-"], renderSetElements(table, [
            { set: sets.v4, family: 4, ip: "192.0.2.44", protocol: "tcp", portRange: { from: 443, to: 443 }, timeoutSeconds: 30 },
            { set: sets.v6, family: 6, ip: "2001:db8::44", protocol: "udp", portRange: { from: 1, to: 65535 }, timeoutSeconds: 30 },
          ]));
          assert.match(ns.exec("nft", ["list", "set", "inet", table, sets.v4]), /192\.0\.2\.44 \. tcp \. 443 timeout 30s/);
        }
        ns.exec("nft", ["delete", "table", "inet", table]);
      });
    }
  }
  for (const [name, preset] of Object.entries(PRESETS)) {
    void it(`preset ${name} loads in both hooks and every phase`, () => {
      const policy = loadPreset(name, preset.yaml);
      for (const phase of policy.phases.length ? policy.phases : [undefined]) {
        for (const hook of ["output", "forward"] as const) {
          const opts = { hook, ...(hook === "forward" ? { iface: "cfveth0" } : {}), ...(phase !== undefined ? { phase } : {}) };
          ns.exec("nft", ["-f", "-"], compileNftables(policy, opts).text);
          assert.match(ns.exec("nft", ["list", "table", "inet", tableNameFor(policy, {})]), new RegExp(`hook ${hook}`));
          ns.exec("nft", ["delete", "table", "inet", tableNameFor(policy, {})]);
        }
      }
    });
  }
});
