/**
 * test/integration/enforce-harness — `clawfence enforce` in the shared test world
 * (world/world.ts): H stands for the host (clawfence enforce runs inside it), U for the rest
 * of the network (resolvers and recording servers), and "containers" are namespaces with a
 * veth into a bridge in H. Nothing here touches the initial namespace; everything created is
 * removed by the `close()`s. Not a test file (no `.test.ts`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE, REPO, type World } from "./world/world.ts";

export interface Daemon {
  readonly proc: ChildProcess;
  out(): string;
  err(): string;
  /** resolves on the `ready` line, rejects when the daemon exits first */
  readonly ready: Promise<void>;
  /** send `sig` and wait for the exit (SIGKILL after 15 s) */
  stop(sig?: NodeJS.Signals): Promise<number | null>;
}

const ENV = (w: World): NodeJS.ProcessEnv => ({ PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/tmp", LANG: "C.UTF-8", CLAWFENCE_STATE_DIR: w.stateDir });

export function startEnforce(w: World, args: readonly string[]): Daemon {
  const p = spawn("ip", ["netns", "exec", w.H, NODE, join(REPO, "src/cli/main.ts"), "enforce", ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"], env: ENV(w) });
  let out = "";
  let err = "";
  p.stdout.setEncoding("utf8");
  p.stderr.setEncoding("utf8");
  const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
  const ready = new Promise<void>((resolve, reject) => {
    p.stdout.on("data", (d: string) => {
      out += d;
      if (/^ready /m.test(out)) resolve();
    });
    void exited.then((code) => reject(new Error(`enforce exited (${code}) before ready:\n${err}`)));
  });
  ready.catch(() => undefined);
  p.stderr.on("data", (d: string) => (err += d));
  const timer = setTimeout(() => p.kill("SIGKILL"), 300_000);
  void exited.then(() => clearTimeout(timer));
  return {
    proc: p,
    out: () => out,
    err: () => err,
    ready,
    async stop(sig = "SIGTERM") {
      if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
      p.kill(sig);
      const killer = setTimeout(() => p.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

/** The enforcer's state record as it is on disk. */
export function record(w: World, id: string): { pid: number; reloads: number; hash: string; lastReload: { ok: boolean; error?: string; carried?: number } | null; table: string } | null {
  try {
    return JSON.parse(readFileSync(join(w.stateDir, "enforcers", `${id}.json`), "utf8")) as ReturnType<typeof record>;
  } catch {
    return null;
  }
}

/** SIGHUP the enforcer and wait until its record counts one more reload. */
export async function reload(w: World, d: Daemon, id: string): Promise<{ ok: boolean; error?: string; carried?: number }> {
  const before = record(w, id)?.reloads ?? 0;
  d.proc.kill("SIGHUP");
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const r = record(w, id);
    if (r !== null && r.reloads > before && r.lastReload) return r.lastReload;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`no reload reported: ${d.err()}`);
}

export function sh(cmd: string, args: readonly string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** A shell command in H as the unprivileged agent user (uid/gid 65534). */
export function asAgent(w: World, cmd: string): { status: number | null; stdout: string; stderr: string } {
  return sh("ip", ["netns", "exec", w.H, "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/bin/sh", "-c", cmd]);
}

export interface Container {
  readonly ns: string;
  readonly addr: string;
  /** a shell command inside the container (as root: it stands for a container's root) */
  run(cmd: string): { status: number | null; stdout: string; stderr: string };
  spawn(cmd: string): ChildProcess;
  close(): void;
}

/**
 * A namespace standing in for a container on `bridge` (in H): a veth into the bridge, an
 * address of the bridge's network, the default route via the bridge's address, a resolv.conf
 * naming `resolver` (not the guard: containers need no change), and, unless `v6` is false, an
 * IPv6 address and route as an unfiltered container would have.
 */
export function createContainer(w: World, bridge: string, addr: string, gateway: string, resolver: string): Container {
  const id = randomBytes(3).toString("hex");
  const ns = `cfec${id}`;
  const inside = `cfei${id}`;
  const outside = `cfeo${id}`;
  const must = (r: { status: number | null; stderr: string }, what: string): void => {
    if (r.status !== 0) throw new Error(`${what}: ${r.stderr}`);
  };
  must(sh("ip", ["netns", "add", ns]), "netns add");
  try {
    must(sh("ip", ["link", "add", inside, "netns", ns, "type", "veth", "peer", "name", outside, "netns", w.H]), "veth");
    must(sh("ip", ["-n", w.H, "link", "set", outside, "master", bridge, "up"]), "enslave");
    must(
      sh("ip", ["-n", ns, "-batch", "-"], [`link set lo up`, `link set ${inside} name eth0`, `addr add ${addr}/24 dev eth0`, `addr add 2001:db8:77::10/64 dev eth0 nodad`, `link set eth0 up`, `route add default via ${gateway}`, `route add ::/0 dev eth0`, ""].join("\n")),
      "container addresses",
    );
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, `nameserver ${resolver}\n`);
  } catch (e) {
    sh("ip", ["netns", "del", ns]);
    throw e;
  }
  const procs: ChildProcess[] = [];
  return {
    ns,
    addr,
    run: (cmd) => sh("ip", ["netns", "exec", ns, "/bin/sh", "-c", cmd]),
    spawn(cmd) {
      const p = spawn("ip", ["netns", "exec", ns, "/bin/sh", "-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
      p.stdout.setEncoding("utf8");
      p.stderr.setEncoding("utf8");
      procs.push(p);
      return p;
    },
    close() {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      const pids = sh("ip", ["netns", "pids", ns]).stdout;
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone
        }
      }
      sh("ip", ["netns", "del", ns]);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    },
  };
}

/** Named packet counters of a table in H. */
export function hCounters(w: World, table: string): Record<string, number> {
  const r = sh("ip", ["netns", "exec", w.H, "nft", "-j", "list", "counters", "table", "inet", table]);
  const out: Record<string, number> = {};
  if (r.status !== 0) return out;
  const doc = JSON.parse(r.stdout) as { nftables: Array<{ counter?: { name: string; packets: number } }> };
  for (const o of doc.nftables) if (o.counter) out[o.counter.name] = o.counter.packets;
  return out;
}

/** A TCP line-echo server in U on `addr:port` (for long-lived connections). */
export function echoServer(w: World, addr: string, port: number): ChildProcess {
  const script = `const net=require("node:net");net.createServer(s=>{s.on("data",d=>s.write("echo "+d));s.on("error",()=>{})}).listen(${port},"${addr}",()=>console.log("ready"));`;
  const p = spawn("ip", ["netns", "exec", w.U, NODE, "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  p.stdout.setEncoding("utf8");
  return p;
}

export async function waitFor(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
