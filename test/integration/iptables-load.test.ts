/**
 * Every conformance case's iptables and ip6tables output loads into a fresh namespace with
 * iptables-restore / ip6tables-restore (Debian's default: iptables-nft), in both hooks.
 * Cases declared unsupported for the target must throw instead (checked by the unit suite).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileIp6tables, compileIptables } from "../../src/compile/iptables/index.ts";
import { CASES } from "../../src/compile/conformance.ts";
import { NetnsPair, have, netnsUnavailable } from "../unit/compile/netns-harness.ts";

const skip = netnsUnavailable() ?? (have("iptables-restore") && have("ip6tables-restore") ? null : "needs iptables-restore and ip6tables-restore");

void describe("iptables output loads in the kernel", { skip: skip ?? false }, () => {
  const ns = new NetnsPair("il");
  before(() => ns.open());
  after(() => ns.close());
  for (const c of CASES) {
    for (const hook of ["output", "forward"] as const) {
      const opts = { ...c.opts, hook, ...(hook === "forward" ? { iface: "cfveth0" } : {}) };
      if (!c.unsupported?.iptables) {
        void it(`iptables: ${c.name} (hook ${hook})`, () => {
          ns.exec("iptables-restore", [], compileIptables(c.policy, opts).text);
          assert.match(ns.exec("iptables-save", []), /CF-EGRESS/);
        });
      }
      if (!c.unsupported?.ip6tables) {
        void it(`ip6tables: ${c.name} (hook ${hook})`, () => {
          ns.exec("ip6tables-restore", [], compileIp6tables(c.policy, opts).text);
          assert.match(ns.exec("ip6tables-save", []), /CF-EGRESS/);
        });
      }
    }
  }
});
