/**
 * verify/live/probe — the client side of `clawfence verify --live`: runs inside a real
 * `clawfence run` sandbox as an unprivileged user and tries what each probe of the plan says
 * (verify/live/plan.ts `Op`): TCP connections (a TLS ClientHello on 443, HTTP on 80, a line
 * otherwise), UDP datagrams, DNS questions through the sandbox's resolver, CONNECT through
 * HTTP_PROXY followed by a ClientHello with a chosen SNI, connections to the host side, and
 * attempts to change the rules.
 *
 *   node probe.ts PLAN.json        (stdin: "go N" per wave; stdout: JSON lines)
 *
 * Lines: {"ev":"hello","sandbox","uid","gateway"}, then per wave, after "go N" arrives on
 * stdin, {"ev":"result","id","saw","changed"?} per probe and {"ev":"wave-done","wave":N}.
 * What the probe saw is evidence only: the runner judges by what reached the far side. The
 * runner paces the waves (it waits for the far side's records between them).
 */
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { readFileSync, writeFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { connect as tlsConnect } from "node:tls";
import type { Op, Payload } from "./plan.ts";

interface PlanFile {
  readonly link: string;
  readonly waves: ReadonlyArray<{ readonly index: number; readonly probes: ReadonlyArray<{ readonly id: number; readonly op: Op }> }>;
}

const CONNECT_MS = 1500;
const READ_MS = 800;

function out(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function errText(e: unknown): string {
  const x = e as NodeJS.ErrnoException;
  return x.code ?? x.message;
}

async function resolveName(name: string): Promise<string> {
  const r = new Resolver({ timeout: 1500, tries: 1 });
  try {
    const a = await r.resolve4(name);
    return `resolved ${name} to ${a.join(",") || "nothing"}`;
  } catch (e) {
    return `resolving ${name} failed (${errText(e)})`;
  }
}

/** Wait for the first bytes or the end of a connected socket, at most READ_MS. */
function readSome(s: Socket, ms = READ_MS): Promise<string> {
  return new Promise((resolve) => {
    const done = (what: string): void => {
      clearTimeout(t);
      s.removeAllListeners("data");
      s.destroy();
      resolve(what);
    };
    const t = setTimeout(() => done("no answer"), ms);
    s.once("data", (d: Buffer) => done(`answered ${JSON.stringify(d.subarray(0, 40).toString("latin1").split("\r\n")[0] ?? "")}`));
    s.once("end", () => done("closed by the other end"));
    s.once("error", (e) => done(`error ${errText(e)}`));
  });
}

function tcp(addr: string, port: number, payload: Payload, name: string | undefined, id: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sock.destroy();
      resolve("connect timed out");
    }, CONNECT_MS);
    const sni = name !== undefined && payload === "tls" ? name : undefined;
    const sock: Socket =
      payload === "tls"
        ? tlsConnect({ host: addr, port, ...(sni !== undefined ? { servername: sni } : {}), rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] })
        : netConnect({ host: addr, port });
    sock.once("error", (e) => {
      clearTimeout(timer);
      resolve(`connect failed (${errText(e)})`);
    });
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.removeAllListeners("error");
      if (payload === "http") sock.write(`GET /cf-verify/${id} HTTP/1.1\r\nHost: ${name ?? addr}\r\nConnection: close\r\n\r\n`);
      else if (payload === "raw") sock.write(`CFPROBE ${id}\n`);
      void readSome(sock).then((r) => resolve(`connected${payload === "tls" ? ` (ClientHello${sni !== undefined ? ` SNI ${sni}` : ", no SNI"})` : ""}; ${r}`));
    });
  });
}

function udp(addr: string, port: number, id: number): Promise<string> {
  return new Promise((resolve) => {
    const u = createSocket(addr.includes(":") ? "udp6" : "udp4");
    const finish = (what: string): void => {
      clearTimeout(t);
      u.close();
      resolve(what);
    };
    const t = setTimeout(() => finish("sent; no reply"), 700);
    u.once("message", () => finish("sent; got a reply"));
    u.once("error", (e) => finish(`send failed (${errText(e)})`));
    u.send(`CFPROBE ${id}\n`, port, addr, (e) => {
      if (e) finish(`send failed (${errText(e)})`);
    });
  });
}

function proxyAddress(): { host: string; port: number } | null {
  const p = process.env["HTTP_PROXY"] ?? process.env["http_proxy"];
  if (!p) return null;
  try {
    const u = new URL(p);
    return { host: u.hostname, port: Number(u.port || 80) };
  } catch {
    return null;
  }
}

function viaConnect(host: string, port: number, sni: string | undefined): Promise<string> {
  const proxy = proxyAddress();
  if (!proxy) return Promise.resolve("no HTTP_PROXY in the environment");
  return new Promise((resolve) => {
    const s = netConnect({ host: proxy.host, port: proxy.port });
    let head = "";
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`proxy: no answer to CONNECT${head ? ` (${head.slice(0, 40)})` : ""}`);
    }, 3000);
    s.once("error", (e) => {
      clearTimeout(timer);
      resolve(`proxy: ${errText(e)}`);
    });
    s.once("connect", () => s.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`));
    const onData = (d: Buffer): void => {
      head += d.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      s.off("data", onData);
      const status = head.split("\r\n")[0] ?? "";
      const rule = /\r\nx-clawfence-rule: *([^\r\n]*)/i.exec(head)?.[1];
      if (!/^HTTP\/1\.[01] 200/.test(status)) {
        s.destroy();
        resolve(`proxy answered ${status}${rule ? ` (rule ${rule})` : ""}`);
        return;
      }
      if (sni === undefined) {
        s.write(`CFPROBE connect\n`);
        void readSome(s).then((r) => resolve(`proxy answered ${status}; ${r}`));
        return;
      }
      const t = tlsConnect({ socket: s, servername: sni, rejectUnauthorized: false });
      t.on("error", () => undefined);
      void readSome(t).then((r) => resolve(`proxy answered ${status}; ClientHello SNI ${sni}: ${r}`));
    };
    s.on("data", onData);
  });
}

function hostProbe(which: "gateway" | "link", proto: "tcp" | "udp", port: number, link: string, id: number): Promise<string> {
  const addr = which === "gateway" ? proxyAddress()?.host : link;
  if (addr === undefined) return Promise.resolve("no HTTP_PROXY: the gateway address is unknown");
  return (proto === "tcp" ? tcp(addr, port, "raw", undefined, id) : udp(addr, port, id)).then((r) => `${addr}:${port}/${proto}: ${r}`);
}

function changeRules(): { saw: string; changed: boolean } {
  const env = { ...process.env, PATH: `${process.env["PATH"] ?? ""}:/usr/sbin:/sbin` };
  const attempts: string[] = [];
  let changed = false;
  const tryCmd = (cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args, { env, encoding: "utf8", timeout: 5000 });
    const ok = r.status === 0;
    if (ok) changed = true;
    attempts.push(`${cmd} ${args.join(" ")}: ${ok ? "SUCCEEDED" : `failed (${r.error ? errText(r.error) : (r.stderr.trim().split("\n")[0] ?? `exit ${r.status ?? "?"}`)})`}`);
  };
  tryCmd("nft", ["flush", "ruleset"]);
  tryCmd("ip", ["route", "add", "192.0.2.0/24", "dev", "eth0"]);
  try {
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
    changed = true;
    attempts.push("write /proc/sys/net/ipv4/ip_forward: SUCCEEDED");
  } catch (e) {
    attempts.push(`write /proc/sys/net/ipv4/ip_forward: failed (${errText(e)})`);
  }
  const status = readFileSync("/proc/self/status", "utf8");
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? "?";
  const uid = process.getuid?.() ?? -1;
  if (capEff !== "0000000000000000" || uid === 0) changed = true;
  return { saw: `uid ${uid}, CapEff ${capEff}; ${attempts.join("; ")}`, changed };
}

async function runOp(op: Op, id: number, link: string): Promise<{ saw: string; changed?: boolean }> {
  switch (op.op) {
    case "tcp": {
      const pre = op.resolve !== undefined ? `${await resolveName(op.resolve)}; ` : "";
      return { saw: `${pre}${op.addr}:${op.port}/tcp ${await tcp(op.addr, op.port, op.payload, op.name, id)}` };
    }
    case "udp": {
      const pre = op.resolve !== undefined ? `${await resolveName(op.resolve)}; ` : "";
      return { saw: `${pre}${op.addr}:${op.port}/udp ${await udp(op.addr, op.port, id)}` };
    }
    case "dns":
      return { saw: await resolveName(op.name) };
    case "connect":
      return { saw: await viaConnect(op.host, op.port, op.sni) };
    case "host":
      return { saw: await hostProbe(op.which, op.proto, op.port, link, id) };
    case "change-rules":
      return changeRules();
    default: {
      const never: never = op;
      throw new Error(`unknown op ${String(never)}`);
    }
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: probe.ts PLAN.json");
  const plan = JSON.parse(readFileSync(file, "utf8")) as PlanFile;
  out({ ev: "hello", sandbox: process.env["CLAWFENCE_SANDBOX"] ?? null, uid: process.getuid?.() ?? null, gateway: proxyAddress()?.host ?? null });
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  for (const wave of plan.waves) {
    for (;;) {
      const next = await lines.next();
      if (next.done === true) return;
      if (next.value.trim() === `go ${wave.index}`) break;
    }
    await Promise.all(
      wave.probes.map(async (p) => {
        try {
          out({ ev: "result", id: p.id, ...(await runOp(p.op, p.id, plan.link)) });
        } catch (e) {
          out({ ev: "result", id: p.id, saw: `probe error: ${errText(e)}` });
        }
      }),
    );
    out({ ev: "wave-done", wave: wave.index });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`verify probe: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
