/**
 * `clawfence flows` and `clawfence flows verify` through cli/main, in-process with injected
 * streams (and once as a real process for --follow and SIGINT), on a store written here.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { DatabaseSync } from "node:sqlite";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { main } from "../../../src/cli/main.ts";
import { CliError } from "../../../src/cli/errors.ts";
import { openFlowStore } from "../../../src/flows/store.ts";
import { ev, tempDir } from "./store-helpers.ts";

class Sink extends Writable {
  text = "";
  isTTY: boolean | undefined;
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const t = tempDir("cf-flows-cli-");
const db = t.file("flows.db");

before(() => {
  const s = openFlowStore(db, { thread: "inline" });
  const now = Date.now();
  s.emit(ev(0, { ts: new Date(now - 3 * 3_600_000).toISOString(), name: "old.example.com" }));
  s.emit(ev(1, { ts: new Date(now - 60_000).toISOString(), name: "api.example.com" }));
  s.emit(ev(2, { ts: new Date(now - 30_000).toISOString(), name: "evil.example.org", verdict: "deny", rule: "default", reason: "default-deny" }));
  s.emit(ev(3, { ts: new Date(now - 10_000).toISOString(), kind: "dns", name: "dns.google", dst_ip: null, dst_port: null, proto: "udp", qtype: "A", verdict: "deny", enforced: false, rule: "staged", reason: "rule-deny" }));
  s.close();
});
after(() => t.done());

async function cli(args: string[], o: { tty?: boolean; env?: Record<string, string> } = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Sink();
  stdout.isTTY = o.tty;
  const stderr = new Sink();
  const code = await main(args, { stdout, stderr, cwd: t.dir, env: o.env ?? {} });
  return { code, out: stdout.text, err: stderr.text };
}

void describe("clawfence flows", () => {
  void it("prints one JSON object per decision with the contract fields (jsonl)", async () => {
    const r = await cli(["flows", "--db", db, "--format", "jsonl"]);
    assert.equal(r.code, 0);
    const lines = r.out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 4);
    for (const l of lines) {
      for (const k of ["ts", "kind", "name", "dst_ip", "dst_port", "proto", "verdict", "enforced", "rule", "reason"]) assert.ok(k in l, `missing ${k}`);
      assert.match(String(l["ts"]), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    assert.deepEqual(lines.map((l) => [l["kind"], l["verdict"], l["enforced"], l["rule"]]), [
      ["connect", "allow", true, "web"],
      ["connect", "allow", true, "web"],
      ["connect", "deny", true, "default"],
      ["dns", "deny", false, "staged"],
    ]);
  });

  void it("prints a JSON array with --format json", async () => {
    const r = await cli(["flows", "--db", db, "--format", "json", "--verdict", "deny"]);
    const arr = JSON.parse(r.out) as Array<{ name: string }>;
    assert.deepEqual(arr.map((x) => x.name), ["evil.example.org", "dns.google"]);
    const none = await cli(["flows", "--db", db, "--format", "json", "--rule", "nothing"]);
    assert.deepEqual(JSON.parse(none.out), []);
  });

  const filters: Array<[string, string[], string[]]> = [
    ["--verdict allow", ["--verdict", "allow"], ["old.example.com", "api.example.com"]],
    ["--verdict would-deny", ["--verdict", "would-deny"], ["dns.google"]],
    ["--rule", ["--rule", "default"], ["evil.example.org"]],
    ["--name glob", ["--name", "*.EXAMPLE.*"], ["old.example.com", "api.example.com", "evil.example.org"]],
    ["--since 1h", ["--since", "1h"], ["api.example.com", "evil.example.org", "dns.google"]],
    ["--since 45s", ["--since", "45s"], ["evil.example.org", "dns.google"]],
    ["--kind dns", ["--kind", "dns"], ["dns.google"]],
    ["--sandbox", ["--sandbox", "nope"], []],
    ["--limit keeps the newest, oldest first", ["--limit", "2"], ["evil.example.org", "dns.google"]],
  ];
  for (const [name, args, want] of filters) {
    void it(`filters with ${name}`, async () => {
      const r = await cli(["flows", "--db", db, "--format", "jsonl", ...args]);
      assert.equal(r.code, 0);
      assert.deepEqual(r.out.split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { name: string }).name), want);
    });
  }

  void it("prints an aligned table without colour when stdout is not a terminal", async () => {
    const r = await cli(["flows", "--db", db]);
    const lines = r.out.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^TIME\s+KIND\s+VERDICT\s+RULE\s+REASON\s+NAME\s+ADDRESS$/);
    assert.equal(lines.length, 5);
    const col = (lines[0] ?? "").indexOf("VERDICT");
    assert.deepEqual(lines.slice(1).map((l) => l.slice(col).split(/\s+/)[0]), ["allow", "allow", "deny", "would-deny"]);
    assert.ok(!r.out.includes("\u001b["));
    assert.ok(r.out.includes("203.0.113.2:443/tcp"));
    assert.ok(r.out.includes("dns.google A"));
  });

  void it("colours verdicts on a terminal: allow green, deny red, would-deny yellow", async () => {
    const r = await cli(["flows", "--db", db], { tty: true });
    assert.ok(r.out.includes("\u001b[32mallow\u001b[0m"));
    assert.ok(r.out.includes("\u001b[31mdeny\u001b[0m"));
    assert.ok(r.out.includes("\u001b[33mwould-deny\u001b[0m"));
  });

  void it("does not colour a terminal when NO_COLOR is set", async () => {
    const r = await cli(["flows", "--db", db], { tty: true, env: { NO_COLOR: "1" } });
    assert.ok(!r.out.includes("\u001b["));
  });

  const usage: Array<[string, string[], string]> = [
    ["a missing --db", ["flows"], "CF_USAGE_DB"],
    ["a bad --since", ["flows", "--db", db, "--since", "3 days"], "CF_USAGE_SINCE"],
    ["an unknown format", ["flows", "--db", db, "--format", "csv"], "CF_USAGE_FORMAT"],
    ["an unknown verdict", ["flows", "--db", db, "--verdict", "maybe"], "CF_USAGE_VERDICT"],
    ["--follow with a JSON array", ["flows", "--db", db, "--format", "json", "--follow"], "CF_USAGE_FOLLOW_JSON"],
    ["an unknown option", ["flows", "--db", db, "--colour"], "CF_USAGE_ARGS"],
    ["a store that does not exist", ["flows", "--db", "/nonexistent/x.db"], "CF_FLOWS_NO_DB"],
  ];
  for (const [name, args, code] of usage) {
    void it(`refuses ${name} with ${code} and a fix`, async () => {
      await assert.rejects(cli(args), (e: unknown) => e instanceof CliError && e.code === code && e.exit === 2 && e.fix.length > 0);
    });
  }
});

void describe("clawfence flows verify", () => {
  void it("exits 0 and says how many rows verified", async () => {
    const r = await cli(["flows", "verify", "--db", db]);
    assert.equal(r.code, 0);
    assert.match(r.out, /4 rows verified/);
  });

  void it("exits 1 and names the first edited row; --json says the same", async () => {
    const u = tempDir("cf-flows-cli-verify-");
    try {
      const s = openFlowStore(u.file("f.db"), { thread: "inline" });
      for (let i = 1; i <= 5; i++) s.emit(ev(i));
      s.close();
      const d = new DatabaseSync(u.file("f.db"));
      d.exec("UPDATE flows SET verdict = 'deny' WHERE id = 3");
      d.close();
      const r = await cli(["flows", "verify", "--db", u.file("f.db")]);
      assert.equal(r.code, 1);
      assert.match(r.out, /chain broken at row 3 \(row-hash\) after 2 good rows/);
      const j = await cli(["flows", "verify", "--db", u.file("f.db"), "--json"]);
      assert.equal(j.code, 1);
      const o = JSON.parse(j.out) as { ok: boolean; id: number; problem: string };
      assert.deepEqual([o.ok, o.id, o.problem], [false, 3, "row-hash"]);
    } finally {
      u.done();
    }
  });
});

void describe("clawfence flows --follow (a real process)", () => {
  void it("prints rows written after it started, then exits 0 on SIGINT", async () => {
    const mainTs = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));
    const child = spawn(process.execPath, [mainTs, "flows", "--db", db, "--format", "jsonl", "--follow", "--name", "live*"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const waitFor = async (pred: () => boolean, ms: number): Promise<void> => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out; output so far: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await new Promise((r) => setTimeout(r, 1500)); // let it start and print the (empty) backlog
      const s = openFlowStore(db, { thread: "inline" });
      s.emit(ev(10, { name: "live1.example.com", ts: new Date().toISOString() }));
      s.emit(ev(11, { name: "other.example.com", ts: new Date().toISOString() }));
      s.flush();
      s.emit(ev(12, { name: "live2.example.com", ts: new Date().toISOString(), verdict: "deny", rule: "default", reason: "default-deny" }));
      s.close();
      await waitFor(() => out.split("\n").filter(Boolean).length >= 2, 10_000);
      child.kill("SIGINT");
      assert.equal(await exited, 0);
      assert.deepEqual(out.split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { name: string }).name), ["live1.example.com", "live2.example.com"]);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
