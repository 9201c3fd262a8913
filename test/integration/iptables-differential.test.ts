/**
 * The iptables/ip6tables backends in a real kernel: iptables-restore and ip6tables-restore
 * input (Debian's default binaries, the nf_tables-backed iptables-nft) loaded in a fresh
 * namespace, then a few hundred generated TCP/UDP flows over IPv4 and IPv6 must arrive at
 * the far side exactly when decide() lets them pass. The policy has no names (iptables
 * cannot follow DNS; that is an UnsupportedFeature, see the conformance suite).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileIp6tables, compileIptables } from "../../src/compile/iptables/index.ts";
import { NetnsPair, have, netnsUnavailable } from "../unit/compile/netns-harness.ts";
import { PORTS, differentialPolicy, generateFlows, mismatches } from "../unit/compile/differential.ts";

const skip = netnsUnavailable() ?? (have("iptables-restore") && have("ip6tables-restore") ? null : "needs iptables-restore and ip6tables-restore");

void describe("iptables differential: kernel verdicts equal decide()", { skip: skip ?? false }, () => {
  const ns = new NetnsPair("id");
  const policy = differentialPolicy(false);
  before(async () => {
    ns.open();
    await ns.listen(PORTS);
  });
  after(() => ns.close());

  void it("loads with iptables-restore and ip6tables-restore", () => {
    ns.exec("iptables-restore", [], compileIptables(policy, { logGroup: 3 }).text);
    ns.exec("ip6tables-restore", [], compileIp6tables(policy, { logGroup: 3 }).text);
    const saved = ns.exec("iptables-save", []);
    assert.match(saved, /--log-prefix "deny-one-host: "/);
    assert.match(saved, /--nflog-prefix deny-one-host --nflog-group 3/);
  });

  void it("sends 400 generated flows and compares each kernel outcome with decide()", async () => {
    const flows = generateFlows(policy, 400, 424242, false);
    const arrived = await ns.send(flows);
    assert.deepEqual(mismatches(flows, arrived), []);
  });
});
