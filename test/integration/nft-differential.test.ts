/**
 * The nftables backend in a real kernel: the compiled ruleset is loaded with `nft -f` on the
 * output hook of a fresh namespace, names are programmed into the dynamic sets the way the
 * DNS guard does (decideAddress grants -> elementsForGrant -> renderSetElements -> nft -f),
 * and a few hundred generated TCP/UDP flows over IPv4 and IPv6 must arrive at the far side
 * exactly when decide() lets them pass.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileNftables } from "../../src/compile/nftables/index.ts";
import { elementsForGrant, renderSetElements, tableNameFor, type DynamicElement } from "../../src/compile/nftables/layout.ts";
import { compileDecider } from "../../src/match/decide.ts";
import { formatIp, parseIp } from "../../src/policy/addr.ts";
import { NetnsPair, netnsUnavailable } from "../unit/compile/netns-harness.ts";
import { NAMES, PORTS, differentialPolicy, generateFlows, mismatches } from "../unit/compile/differential.ts";

const skip = netnsUnavailable();

void describe("nftables differential: kernel verdicts equal decide()", { skip: skip ?? false }, () => {
  const ns = new NetnsPair("nd");
  const policy = differentialPolicy(true);
  before(async () => {
    ns.open();
    await ns.listen(PORTS);
  });
  after(() => ns.close());

  void it("loads the compiled table in one nft -f transaction, twice (atomic replace)", () => {
    const { text } = compileNftables(policy, { hook: "output", logGroup: 7 });
    ns.exec("nft", ["-f", "-"], text);
    ns.exec("nft", ["-f", "-"], text);
    const listed = ns.exec("nft", ["list", "table", "inet", tableNameFor(policy, {})]);
    for (const r of policy.rules) assert.match(listed, new RegExp(`counter name "${r.name}"`), `counter for ${r.name}`);
    assert.match(listed, /log prefix "deny-one-host" group 7/);
  });

  void it("programs the names' addresses into the dynamic sets like the DNS guard", () => {
    const decider = compileDecider(policy);
    const elements: DynamicElement[] = [];
    for (const [name, ips] of Object.entries(NAMES)) {
      for (const text of ips) {
        const ip = parseIp(text);
        assert.ok(ip);
        const d = decider.decideAddress(name, ip);
        for (const g of [...d.grants, ...d.monitored]) elements.push(...elementsForGrant(policy, g, { family: ip.family, text: formatIp(ip) }, 300));
      }
    }
    assert.ok(elements.some((e) => e.set === "d7_4"), "api.svc.test opened in rule api-by-name's set");
    assert.ok(elements.some((e) => e.set === "d8_4"), "watch.svc.test opened (monitored) in rule watch-by-name's set");
    assert.ok(!elements.some((e) => e.ip === "2001:db8::5"), "a name resolving into a special-purpose range outside internal opens nothing");
    ns.exec("nft", ["-f", "-"], renderSetElements(tableNameFor(policy, {}), elements));
  });

  void it("sends 400 generated flows and compares each kernel outcome with decide()", async () => {
    const flows = generateFlows(policy, 400, 20260521, true);
    const passing = flows.filter((f) => f.pass).length;
    assert.ok(passing > 40 && passing < 360, `a useful mix of passing (${passing}) and blocked flows`);
    const arrived = await ns.send(flows);
    assert.deepEqual(mismatches(flows, arrived), []);
  });
});
