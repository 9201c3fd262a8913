/**
 * The syslog exporter against a real rsyslog (Debian rsyslog + rsyslog-gnutls) receiving
 * RFC 5425 syslog over TLS on 6514 (seed 001's collector), inside a network namespace made
 * here: rsyslogd runs in the foreground with its own config, work dir and pid file in a temp
 * dir, with a certificate made by `openssl req -x509`; the sender is a Node process in the same
 * namespace that connects to 127.0.0.1:6514 and verifies the collector's certificate. rsyslog
 * writes what it parsed (severity, app-name, msgid, structured data, msg) to a file, which the
 * test reads. The namespace, the daemon and the files are removed in `after`, whatever happened.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const skip = ((): string | false => {
  if (process.getuid?.() !== 0) return "needs root";
  for (const b of ["ip", "openssl", "rsyslogd"]) {
    if (spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0) return `needs ${b}`;
  }
  if (!existsSync("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so") && spawnSync("sh", ["-c", "ls /usr/lib/*/rsyslog/lmnsd_gtls.so"]).status !== 0) return "needs rsyslog-gnutls";
  return false;
})();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);

const NS = `cfsl${randomBytes(3).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "cf-flows-syslog-"));
const received = join(dir, "received.log");
let rsyslog: ChildProcess | null = null;
let rsyslogOut = "";

const CONF = `global(
  workDirectory="${dir}/work"
  DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile="${dir}/cert.pem"
  DefaultNetstreamDriverCertFile="${dir}/cert.pem"
  DefaultNetstreamDriverKeyFile="${dir}/key.pem"
)
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="6514" address="127.0.0.1" ruleset="flows")
template(name="parsed" type="list") {
  property(name="syslogfacility") constant(value="|")
  property(name="syslogseverity") constant(value="|")
  property(name="hostname") constant(value="|")
  property(name="app-name") constant(value="|")
  property(name="msgid") constant(value="|")
  property(name="structured-data") constant(value="|")
  property(name="msg" droplastlf="on") constant(value="\\n")
}
ruleset(name="flows") {
  action(type="omfile" file="${received}" template="parsed")
}
`;

const sh = (cmd: string, args: readonly string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  if (skip) return;
  mkdirSync(join(dir, "work"));
  sh("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=collector.test", "-addext", "subjectAltName=DNS:collector.test,IP:127.0.0.1"]);
  writeFileSync(join(dir, "rsyslog.conf"), CONF);
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
});

after(() => {
  if (rsyslog && rsyslog.exitCode === null) rsyslog.kill("SIGKILL");
  spawnSync("ip", ["netns", "del", NS]);
  rmSync(dir, { recursive: true, force: true });
});

function startRsyslog(): void {
  rsyslog = spawn("ip", ["netns", "exec", NS, "rsyslogd", "-n", "-f", join(dir, "rsyslog.conf"), "-i", join(dir, "rsyslog.pid")], { stdio: ["ignore", "pipe", "pipe"] });
  rsyslog.stdout?.on("data", (d: Buffer) => (rsyslogOut += d.toString()));
  rsyslog.stderr?.on("data", (d: Buffer) => (rsyslogOut += d.toString()));
}

async function waitFor(what: string, pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; rsyslogd said: ${rsyslogOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const listening = (): boolean => sh("ip", ["netns", "exec", NS, "ss", "-Hltn", "sport = :6514"]).includes("6514");

/** The sender: a Node process inside the namespace with the exporter, emitting three events. */
function sendScript(): string {
  const mod = pathToFileURL(fileURLToPath(new URL("../../src/flows/exporters/syslog.ts", import.meta.url))).href;
  return `
import { readFileSync } from "node:fs";
const { createSyslogExporter } = await import(${JSON.stringify(mod)});
const base = { kind: "connect", name: "api.example.com", dst_ip: "203.0.113.7", dst_port: 443, proto: "tcp", sandbox: "sbx-it", policy_hash: "ab".repeat(32) };
const x = createSyslogExporter({ host: "127.0.0.1", port: 6514, ca: readFileSync(${JSON.stringify(join(dir, "cert.pem"))}, "utf8"), servername: "collector.test", hostname: "agent-host", minBackoffMs: 100, maxBackoffMs: 400 });
x.emit({ ...base, ts: "2025-01-31T12:00:01.000Z", verdict: "allow", enforced: true, rule: "models", reason: "rule-allow" });
x.emit({ ...base, ts: "2025-01-31T12:00:02.000Z", name: "evil.example.org", dst_ip: "198.51.100.9", verdict: "deny", enforced: true, rule: "default", reason: "default-deny" });
x.emit({ ...base, ts: "2025-01-31T12:00:03.000Z", kind: "dns", name: "dns.google", dst_ip: null, dst_port: null, proto: "udp", qtype: "A", verdict: "deny", enforced: false, rule: "staged \\"doh\\"]", reason: "rule-deny" });
// rsyslog may still be starting: the exporter reconnects with backoff until it is up
const end = Date.now() + 15000;
while (!x.stats().connected && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
await x.close(5000);
console.log(JSON.stringify(x.stats()));
`;
}

void test("rsyslog receives each decision over TLS with its rule, verdict and reason", { skip }, async () => {
  // start the sender first: it must queue and reconnect until the collector is up
  const sender = spawn("ip", ["netns", "exec", NS, process.execPath, "--input-type=module", "-e", sendScript()], { stdio: ["ignore", "pipe", "pipe"] });
  let senderOut = "";
  sender.stdout.on("data", (d: Buffer) => (senderOut += d.toString()));
  sender.stderr.on("data", (d: Buffer) => (senderOut += d.toString()));
  const senderExit = new Promise<number | null>((resolve) => sender.on("exit", (c) => resolve(c)));
  await new Promise((r) => setTimeout(r, 500));
  startRsyslog();
  await waitFor("rsyslogd to listen on 6514", listening, 15_000);
  assert.equal(await senderExit, 0, senderOut);
  const stats = JSON.parse(senderOut.trim().split("\n").pop() ?? "{}") as { sent: number; dropped: number; connects: number };
  assert.equal(stats.dropped, 0);
  assert.equal(stats.sent, 3);
  await waitFor("three messages in rsyslog's file", () => existsSync(received) && readFileSync(received, "utf8").trim().split("\n").length >= 3, 10_000);
  const lines = readFileSync(received, "utf8").trim().split("\n");
  assert.equal(lines.length, 3);
  const fields = lines.map((l) => l.split("|"));
  // facility 13 (log audit); severity: allow 6, deny 4, would-deny 5; app-name; msgid = kind
  assert.deepEqual(
    fields.map((f) => f.slice(0, 5)),
    [
      ["13", "6", "agent-host", "clawfence", "connect"],
      ["13", "4", "agent-host", "clawfence", "connect"],
      ["13", "5", "agent-host", "clawfence", "dns"],
    ],
  );
  assert.match(lines[0] ?? "", /\[flow@32473 verdict="allow" enforced="true" rule="models" reason="rule-allow" kind="connect" name="api.example.com" dst_ip="203.0.113.7" dst_port="443" proto="tcp" sandbox="sbx-it" policy_hash="(ab){32}"\]/);
  assert.match(lines[1] ?? "", /verdict="deny" enforced="true" rule="default" reason="default-deny"/);
  // rsyslog keeps the SD escapes as sent: the rule's quote and ] survived the trip intact
  assert.match(lines[2] ?? "", /verdict="deny" enforced="false" rule="staged \\"doh\\"\\]" reason="rule-deny"/);
  assert.match(fields[1]?.[6] ?? "", /deny connect evil.example.org 198.51.100.9:443\/tcp rule=default reason=default-deny/);
});
