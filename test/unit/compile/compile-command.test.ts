/**
 * The `compile` command's own parts that run without a policy file: target checks,
 * resolv.conf parsing. (Loading a policy end to end needs cli/load-policy.ts.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { run, parseResolvConf, namesToResolve } from "../../../src/cli/commands/compile.ts";
import { CliError, type CliIo } from "../../../src/cli/errors.ts";
import { irPolicy } from "../../../src/compile/conformance.ts";

const io = (): CliIo => ({ stdout: new PassThrough(), stderr: new PassThrough(), cwd: "/tmp", env: {} });

void describe("clawfence compile arguments", () => {
  void it("refuses an unknown target with exit 2, listing the targets", async () => {
    await assert.rejects(run(["p.yaml", "--target", "ipfw"], io()), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.equal(e.code, "CF_USAGE_TARGET");
      assert.equal(e.exit, 2);
      assert.match(e.fix, /nftables, iptables, ip6tables, pf, kubernetes, cilium, aviatrix, hosts/);
      return true;
    });
  });
  void it("requires --target", async () => {
    await assert.rejects(run(["p.yaml"], io()), (e: unknown) => e instanceof CliError && e.code === "CF_USAGE_TARGET");
  });
  void it("refuses a bad --hook", async () => {
    await assert.rejects(run(["p.yaml", "--target", "nftables", "--hook", "input"], io()), (e: unknown) => e instanceof CliError && e.code === "CF_USAGE_VALUE");
  });
});

void describe("parseResolvConf", () => {
  void it("reads nameserver lines of both families and drops zone ids", () => {
    const ups = parseResolvConf("# comment\nsearch example\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\n");
    assert.deepEqual(ups, [
      { address: "10.0.0.2", family: 4, port: 53 },
      { address: "fe80::1", family: 6, port: 53 },
    ]);
  });
});

void describe("namesToResolve", () => {
  void it("lists exact names once, never wildcards", () => {
    const p = irPolicy({ rules: [{ name: "a", allow: ["b.example", "*.c.example", "a.example"] }, { name: "b", deny: ["a.example"] }] });
    assert.deepEqual(namesToResolve(p), ["a.example", "b.example"]);
  });
});
