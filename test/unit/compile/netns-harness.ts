/**
 * test/unit/compile/netns-harness — two network namespaces joined by a veth pair, for the
 * compiler integration tests (test/integration/nft-*.test.ts, iptables-*.test.ts):
 * "near" (where a ruleset is loaded on the output hook) and "far" (a TCP/UDP listener that
 * records the id each flow carries). Addresses come from documentation ranges
 * (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/64), so policies list them literally or under
 * `internal`. Everything is created with unique names and removed by `close()`.
 * Not a test file (no `.test.ts`): imported by the integration tests.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";

export function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 1 << 28 });
}

export function have(bin: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Why the namespace tests cannot run here, or null. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "needs root";
  for (const b of ["ip", "nft"]) if (!have(b)) return `needs ${b}`;
  return null;
}

export interface Flow {
  readonly id: number;
  readonly proto: "tcp" | "udp";
  readonly ip: string;
  readonly port: number;
}

export const FAR_V4 = ["198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5", "198.51.100.6", "203.0.113.7", "203.0.113.8"];
export const FAR_V6 = ["2001:db8::2", "2001:db8::3", "2001:db8::4", "2001:db8::5", "2001:db8::6"];

const LISTENER = `
const net = require("node:net"), dgram = require("node:dgram");
const ports = JSON.parse(process.argv[1]);
let pending = ports.length * 3;
const ready = () => { if (--pending === 0) process.stdout.write("ready\\n"); };
for (const p of ports) {
  const t = net.createServer((s) => { let b = ""; s.on("data", (d) => { b += d; const i = b.indexOf("\\n"); if (i >= 0) { process.stdout.write("got " + b.slice(0, i) + "\\n"); s.end(); } }); s.on("error", () => {}); });
  t.listen({ port: p, host: "::", ipv6Only: false }, ready);
  for (const type of ["udp4", "udp6"]) {
    const u = dgram.createSocket({ type, ipv6Only: type === "udp6" });
    u.on("message", (m) => process.stdout.write("got " + m.toString().trim() + "\\n"));
    u.bind(p, type === "udp4" ? "0.0.0.0" : "::", ready);
  }
}
`;

const CLIENT = `
const net = require("node:net"), dgram = require("node:dgram");
const flows = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const one = (f) => new Promise((res) => {
  if (f.proto === "tcp") {
    const s = net.connect({ host: f.ip, port: f.port, timeout: 1500 });
    s.on("connect", () => { s.end(f.id + "\\n"); res(); });
    s.on("error", () => res()); s.on("timeout", () => { s.destroy(); res(); });
  } else {
    const u = dgram.createSocket(f.ip.includes(":") ? "udp6" : "udp4");
    u.send(f.id + "\\n", f.port, f.ip, () => { setTimeout(() => { u.close(); res(); }, 50); });
    u.on("error", () => { u.close(); res(); });
  }
});
(async () => { for (let i = 0; i < flows.length; i += 64) await Promise.all(flows.slice(i, i + 64).map(one)); })();
`;

export class NetnsPair {
  readonly near: string;
  readonly far: string;
  private readonly vnear: string;
  private listener: ChildProcess | null = null;
  private received = new Set<number>();

  constructor(tag: string) {
    const r = randomBytes(3).toString("hex");
    this.near = `cf${tag}n${r}`;
    this.far = `cf${tag}f${r}`;
    this.vnear = `cfv${r}a`;
  }

  /** Create the namespaces, the veth pair and the addresses; `close()` undoes it all. */
  open(): void {
    const vfar = this.vnear.replace(/a$/, "b");
    sh("ip", ["netns", "add", this.near]);
    sh("ip", ["netns", "add", this.far]);
    sh("ip", ["link", "add", this.vnear, "netns", this.near, "type", "veth", "peer", "name", vfar, "netns", this.far]);
    const inNear = (...a: string[]): string => sh("ip", ["-n", this.near, ...a]);
    const inFar = (...a: string[]): string => sh("ip", ["-n", this.far, ...a]);
    inNear("link", "set", "lo", "up");
    inFar("link", "set", "lo", "up");
    inNear("addr", "add", "198.51.100.1/24", "dev", this.vnear);
    inNear("addr", "add", "2001:db8::1/64", "dev", this.vnear, "nodad");
    inNear("link", "set", this.vnear, "up");
    inNear("route", "add", "203.0.113.0/24", "dev", this.vnear);
    for (const a of FAR_V4) inFar("addr", "add", a.startsWith("203.") ? `${a}/32` : `${a}/24`, "dev", vfar);
    for (const a of FAR_V6) inFar("addr", "add", `${a}/64`, "dev", vfar, "nodad");
    inFar("link", "set", vfar, "up");
    inFar("route", "add", "default", "dev", vfar);
  }

  /** Start the far-side listener on these ports (TCP, UDP v4 and v6). */
  async listen(ports: readonly number[]): Promise<void> {
    const p = spawn("ip", ["netns", "exec", this.far, process.execPath, "-e", LISTENER, JSON.stringify(ports)], { stdio: ["ignore", "pipe", "inherit"] });
    this.listener = p;
    let buf = "";
    await new Promise<void>((resolve, reject) => {
      p.on("exit", (code) => reject(new Error(`listener exited ${code}`)));
      p.stdout?.on("data", (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === "ready") resolve();
          const m = /^got (\d+)$/.exec(line);
          if (m) this.received.add(Number(m[1]));
        }
      });
    });
  }

  /** Send the flows from the near side; returns the ids that arrived at the far side. */
  async send(flows: readonly Flow[]): Promise<Set<number>> {
    this.received = new Set();
    await new Promise<void>((resolve, reject) => {
      const c = spawn("ip", ["netns", "exec", this.near, process.execPath, "-e", CLIENT], { stdio: ["pipe", "inherit", "inherit"] });
      c.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`client exited ${code}`))));
      c.stdin?.end(JSON.stringify(flows));
    });
    await new Promise((r) => setTimeout(r, 300));
    return this.received;
  }

  exec(cmd: string, args: readonly string[], input?: string): string {
    return sh("ip", ["netns", "exec", this.near, cmd, ...args], input);
  }

  close(): void {
    if (this.listener && this.listener.exitCode === null) {
      this.listener.removeAllListeners("exit");
      this.listener.kill("SIGKILL");
    }
    for (const ns of [this.near, this.far]) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // already gone
      }
    }
  }
}

/** A small seeded PRNG (mulberry32) so a failing differential run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
