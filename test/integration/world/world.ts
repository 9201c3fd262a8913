/**
 * test/integration/world — a reusable test world for `clawfence run`: a host namespace H
 * (standing in for the machine; clawfence runs inside it) and an upstream namespace U (the
 * rest of the network), joined by a veth, plus everything on the far side that can testify
 * to what reached it.
 *
 *   sandbox cf-<id> --veth (clawfence's)-- H 198.51.100.1, 2001:db8:0:1::1 --veth-- U
 *   U: 198.51.100.2 dnsmasq (the policy's resolver, --log-queries)
 *      198.51.100.3 a second dnsmasq (the resolver an agent should not reach) + DoT :853
 *      198.51.100.10 allowed.test, .11 blocked.test/other.test, .12 doh.test, .20 ttl.test,
 *      10.9.0.5, 192.168.77.5 (internal ranges not in the policy's `internal`),
 *      169.254.169.254 (metadata), 2001:db8::10; recorder.py listeners on them; an nft table
 *      `rec` with named counters (`farCounters`)
 *   H: recorder.py on 0.0.0.0:9911 (tcp, udp) and 127.0.0.1:80 (what the proxy would reach
 *      if it dialled loopback)
 * Names and state are unique per world (namespaces `cfw?<hex>`, a temp dir that holds the
 * logs, the CLAWFENCE_STATE_DIR and the scripts, readable by the contained user).
 * `close()` kills every process it started, runs `clawfence cleanup` for this world's state
 * dir, deletes both namespaces and the temp dir. Nothing here touches the initial namespace.
 *
 * Owns: namespaces, daemons, files of one world. Does not decide anything about clawfence:
 * tests assert.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

export const REPO = resolve(import.meta.dirname, "..", "..", "..");
export const NODE = process.execPath;
const HERE = import.meta.dirname;

export const ADDR = {
  host: "198.51.100.1",
  resolver: "198.51.100.2",
  altResolver: "198.51.100.3",
  allowed: "198.51.100.10",
  blocked: "198.51.100.11",
  doh: "198.51.100.12",
  ttl: "198.51.100.20",
  internal10: "10.9.0.5",
  internal192: "192.168.77.5",
  metadata: "169.254.169.254",
  v6: "2001:db8::10",
} as const;

/** Names the main resolver answers (dnsmasq `--address`: the name and everything below it). */
export const NAMES: Readonly<Record<string, string>> = {
  "allowed.test": ADDR.allowed,
  "blocked.test": ADDR.blocked,
  "other.test": ADDR.blocked,
  "doh.test": ADDR.doh,
  "ttl.test": ADDR.ttl,
  "tunnel.test": ADDR.allowed,
  "lo.rebind.test": "127.0.0.1",
  "md.rebind.test": ADDR.metadata,
  "priv.rebind.test": ADDR.internal10,
  "mapped.rebind.test": "::ffff:127.0.0.1",
  "v6.test": ADDR.v6,
};

/** Far-side listeners in U (recorder.py specs). */
const U_LISTENERS = [
  `tcp:${ADDR.allowed}:80`,
  `tls:${ADDR.allowed}:443`,
  `tcp:${ADDR.allowed}:8080`,
  `udp:${ADDR.allowed}:443`,
  `udp:${ADDR.allowed}:80`,
  `tcp:${ADDR.blocked}:80`,
  `tls:${ADDR.blocked}:443`,
  `tcp:${ADDR.blocked}:8080`,
  `tcp:${ADDR.blocked}:8443`,
  `udp:${ADDR.blocked}:443`,
  `tls:${ADDR.doh}:443`,
  `tcp:${ADDR.altResolver}:853`,
  `tcp:${ADDR.ttl}:8080`,
  `tcp:${ADDR.internal10}:80`,
  `tcp:${ADDR.internal10}:8443`,
  `tcp:${ADDR.internal192}:80`,
  `tcp:${ADDR.metadata}:80`,
  `tcp:${ADDR.metadata}:8443`,
  `tcp:[${ADDR.v6}]:80`,
];
const H_LISTENERS = ["tcp:0.0.0.0:9911", "udp:0.0.0.0:9911", "tcp:127.0.0.1:80"];

export interface FarEvent {
  readonly ev: "accept" | "hello" | "data" | "udp" | "error";
  readonly proto?: string;
  readonly local: string;
  readonly peer?: string;
  readonly first?: string;
  readonly sni?: string;
}

export interface ProbeResult {
  readonly id: string;
  readonly rc: number;
  readonly out: string;
}

export interface RunResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** `@@R` lines of a probe script, by id */
  readonly probes: ReadonlyMap<string, ProbeResult>;
}

export interface RunHandle {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** resolves when stdout or stderr matches (default limit 45 s) */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  readonly done: Promise<RunResult>;
}

export interface RunOptions {
  /** policy YAML text (written to a file in the world) */
  readonly policy: string;
  /** flags after `run` (before `--`), besides --policy, --user and --pool */
  readonly flags?: readonly string[];
  readonly cmd: readonly string[];
  /** called on a `@@WAIT name` line of the command's stdout; the command goes on after it resolves */
  readonly onWait?: (name: string) => Promise<void>;
  /** kill clawfence (SIGKILL) after this long, default 90 s */
  readonly timeoutMs?: number;
}

export interface WorldOptions {
  /** extra dnsmasq flags for the main resolver (e.g. --local-ttl=1) */
  readonly dnsmasqExtra?: readonly string[];
}

export interface World {
  readonly H: string;
  readonly U: string;
  readonly dir: string;
  readonly stateDir: string;
  sh(cmd: string, args: readonly string[], input?: string): string;
  inH(cmd: string, ...args: string[]): string;
  inU(cmd: string, ...args: string[]): string;
  /** events the far side (U and H recorders) saw, optionally only after a mark */
  far(since?: FarMark): FarEvent[];
  /** names the main (`alt`: the second) resolver was asked for */
  queries(which: "main" | "alt", since?: FarMark): string[];
  mark(): FarMark;
  /** add named counters to U's input path: { name: "nft match expression" } */
  addFarCounters(counters: Readonly<Record<string, string>>): void;
  farCounters(): Record<string, number>;
  /** named counters of an nft table in H (e.g. the sandbox's policy table) */
  hCounters(table: string): Record<string, number>;
  /** a probe script for the contained command: see `probeScript` */
  writeScript(name: string, text: string): string;
  /** start `clawfence run` inside H */
  run(o: RunOptions): RunHandle;
  /** `clawfence <args>` inside H, synchronously (cleanup etc.) */
  cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string };
  /** state records of sandboxes (the files clawfence writes) */
  records(): Array<{ id: string; ns: string; hostIf: string; tables: string[]; pid: number }>;
  /** the address pool this world gives to every `run` (distinct per world) */
  nextPool(): string;
  /** the host-side address of a running sandbox (read from its veth in H) */
  hostAddr(hostIf: string): string;
  close(): Promise<void>;
}

export interface FarMark {
  readonly u: number;
  readonly h: number;
  readonly main: number;
  readonly alt: number;
}

export function prerequisites(): string | false {
  if (process.getuid?.() !== 0) return "needs root";
  for (const b of ["ip", "nft", "dnsmasq", "curl", "dig", "kdig", "openssl", "setpriv", "/usr/bin/python3", "timeout", "base64"]) {
    if (spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0) return `needs ${b}`;
  }
  return false;
}

function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

async function waitUntil(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const readText = (f: string): string => (existsSync(f) ? readFileSync(f, "utf8") : "");

export async function createWorld(opts: WorldOptions = {}): Promise<World> {
  const id = randomBytes(3).toString("hex");
  const H = `cfwh${id}`;
  const U = `cfwu${id}`;
  const vh = `cfwa${id}`;
  const vu = `cfwb${id}`;
  const dir = mkdtempSync(join(tmpdir(), `cf-world-${id}-`));
  chmodSync(dir, 0o755); // the contained user reads the probe scripts
  const stateDir = join(dir, "state");
  const f = {
    uLog: join(dir, "far-u.jsonl"),
    hLog: join(dir, "far-h.jsonl"),
    mainDns: join(dir, "dnsmasq-main.log"),
    altDns: join(dir, "dnsmasq-alt.log"),
    cert: join(dir, "cert.pem"),
    key: join(dir, "key.pem"),
  };
  for (const file of [join(HERE, "probe.py"), join(HERE, "recorder.py")]) writeFileSync(join(dir, file.split("/").at(-1) ?? ""), readFileSync(file));
  chmodSync(join(dir, "probe.py"), 0o755);
  const procs: ChildProcess[] = [];
  const runs: ChildProcess[] = [];
  const counters = new Map<string, string>();
  const poolBase = 1 + Math.floor(Math.random() * 250);

  const inNs = (ns: string, cmd: string, ...args: string[]): string => sh("ip", ["netns", "exec", ns, cmd, ...args]);
  const start = (ns: string, cmd: string, args: readonly string[]): ChildProcess => {
    const p = spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    p.stdout?.setEncoding("utf8");
    p.stderr?.setEncoding("utf8");
    procs.push(p);
    return p;
  };

  const world: World = {
    H,
    U,
    dir,
    stateDir,
    sh,
    inH: (cmd, ...args) => inNs(H, cmd, ...args),
    inU: (cmd, ...args) => inNs(U, cmd, ...args),
    mark: () => ({ u: readText(f.uLog).length, h: readText(f.hLog).length, main: readText(f.mainDns).length, alt: readText(f.altDns).length }),
    far(since) {
      const parse = (text: string): FarEvent[] =>
        text
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as FarEvent);
      return [...parse(readText(f.uLog).slice(since?.u ?? 0)), ...parse(readText(f.hLog).slice(since?.h ?? 0))];
    },
    queries(which, since) {
      const text = readText(which === "main" ? f.mainDns : f.altDns).slice(since ? (which === "main" ? since.main : since.alt) : 0);
      return [...text.matchAll(/query\[\w+\] (\S+) from/g)].map((m) => m[1] ?? "");
    },
    addFarCounters(cs) {
      const lines: string[] = [];
      for (const [name, match] of Object.entries(cs)) {
        if (counters.has(name)) continue;
        counters.set(name, match);
        lines.push(`add counter inet rec ${name}`, `add rule inet rec input ${match} counter name "${name}"`);
      }
      if (lines.length) sh("ip", ["netns", "exec", U, "nft", "-f", "-"], `${lines.join("\n")}\n`);
    },
    farCounters() {
      return parseCounters(sh("ip", ["netns", "exec", U, "nft", "-j", "list", "counters", "table", "inet", "rec"]));
    },
    hCounters(table) {
      return parseCounters(sh("ip", ["netns", "exec", H, "nft", "-j", "list", "counters", "table", "inet", table]));
    },
    hostAddr(hostIf) {
      const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(inNs(H, "ip", "-4", "addr", "show", "dev", hostIf));
      if (!m?.[1]) throw new Error(`no address on ${hostIf} in ${H}`);
      return m[1];
    },
    writeScript(name, text) {
      const file = join(dir, name);
      writeFileSync(file, text, { mode: 0o755 });
      return file;
    },
    nextPool() {
      // one pool per world: clawfence's slot files (in this world's state dir) keep the runs'
      // /30s, and the NFLOG groups derived from them, apart. The host-side address is read
      // from the sandbox (probe.py's HOSTADDR, or `hostAddr()`)
      return `100.127.${poolBase}.0/24`;
    },
    run(o) {
      const policyFile = join(dir, `policy-${randomBytes(3).toString("hex")}.yaml`);
      writeFileSync(policyFile, o.policy, { mode: 0o644 });
      const pool = world.nextPool();
      const args = ["netns", "exec", H, NODE, join(REPO, "src/cli/main.ts"), "run", "--policy", policyFile, "--user", "nobody", "--pool", pool, ...(o.flags ?? []), "--", ...o.cmd];
      const p = spawn("ip", args, {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/tmp", LANG: "C.UTF-8", CLAWFENCE_STATE_DIR: stateDir },
      });
      runs.push(p);
      let out = "";
      let err = "";
      let scanned = 0;
      let waiting: Promise<void> = Promise.resolve();
      const killer = setTimeout(() => p.kill("SIGKILL"), o.timeoutMs ?? 90_000);
      p.stdout?.setEncoding("utf8");
      p.stderr?.setEncoding("utf8");
      p.stdout?.on("data", (d: string) => {
        out += d;
        const nl = out.lastIndexOf("\n");
        if (nl < scanned) return;
        const fresh = out.slice(scanned, nl + 1);
        scanned = nl + 1;
        for (const m of fresh.matchAll(/^@@WAIT (\S+)$/gm)) {
          const name = m[1] ?? "";
          const go = join(dir, `go-${name}`);
          waiting = waiting
            .then(() => (o.onWait ? o.onWait(name) : undefined))
            .finally(() => writeFileSync(go, ""))
            .catch((e: unknown) => {
              err += `\n[world] onWait(${name}) failed: ${String(e)}\n`;
            });
        }
      });
      p.stderr?.on("data", (d: string) => (err += d));
      const done = new Promise<RunResult>((res) => {
        // on exit, give the pipes a moment to drain; a leftover process (after a kill -9) may hold them open
        p.once("exit", (status, signal) => {
          clearTimeout(killer);
          const closed = new Promise((r) => p.once("close", r));
          void Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())])
            .then(() => Promise.race([waiting, new Promise((r) => setTimeout(r, 5000).unref())]))
            .then(() => res({ status, signal, stdout: out, stderr: err, probes: parseProbes(out) }));
        });
      });
      return {
        proc: p,
        stdout: () => out,
        stderr: () => err,
        // generous: on a loaded 2-core machine clawfence may take many seconds to start
        waitFor: (re, ms) => waitUntil(() => re.test(out) || re.test(err), String(re), ms ?? 45_000),
        done,
      };
    },
    cli(args) {
      const r = spawnSync("ip", ["netns", "exec", H, NODE, join(REPO, "src/cli/main.ts"), ...args], {
        cwd: REPO,
        encoding: "utf8",
        env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/tmp", CLAWFENCE_STATE_DIR: stateDir },
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    records() {
      const d = join(stateDir, "sandboxes");
      if (!existsSync(d)) return [];
      return readdirSync(d)
        .filter((n) => n.endsWith(".json"))
        .map((n) => JSON.parse(readFileSync(join(d, n), "utf8")) as { id: string; ns: string; hostIf: string; tables: string[]; pid: number });
    },
    async close() {
      // clawfence still running (a test failed): SIGTERM lets it remove its sandbox; SIGKILL after 5 s
      const alive = runs.filter((p) => p.exitCode === null && p.signalCode === null);
      const contained = alive.map((p) => containedPid(p.pid ?? 0)).filter((x): x is number => x !== null);
      for (const p of alive) p.kill("SIGTERM");
      await Promise.all(
        alive.map(
          (p) =>
            new Promise<void>((r) => {
              const t = setTimeout(() => p.kill("SIGKILL"), 5000);
              p.once("exit", () => {
                clearTimeout(t);
                r();
              });
            }),
        ),
      );
      for (const pid of contained) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone with its sandbox
        }
      }
      // a command a killed clawfence left behind may still hold the pipes: let go of them
      for (const p of runs) {
        p.stdout?.destroy();
        p.stderr?.destroy();
      }
      if (world.records().length) world.cli(["cleanup"]);
      for (const rec of world.records()) {
        spawnSync("ip", ["netns", "del", rec.ns]);
        rmSync(`/etc/netns/${rec.ns}`, { recursive: true, force: true });
      }
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      for (const ns of [H, U]) {
        const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
        for (const pid of pids.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // gone already
          }
        }
        spawnSync("ip", ["netns", "del", ns]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    sh("ip", ["netns", "add", H]);
    sh("ip", ["netns", "add", U]);
    sh("ip", ["link", "add", vh, "netns", H, "type", "veth", "peer", "name", vu, "netns", U]);
    sh("ip", ["-n", H, "-batch", "-"], [
      `link set lo up`,
      `addr add ${ADDR.host}/24 dev ${vh}`,
      `addr add 2001:db8:0:1::1/64 dev ${vh} nodad`,
      `link set ${vh} up`,
      `route add default via ${ADDR.resolver}`,
      `route add default via 2001:db8:0:1::2`,
      "",
    ].join("\n"));
    // H forwards IPv6 too: if a sandbox could send it, H would pass it on (the test is then meaningful)
    inNs(H, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1");
    const uAddrs = [ADDR.allowed, ADDR.blocked, ADDR.doh, ADDR.ttl, ADDR.internal10, ADDR.internal192, ADDR.metadata].map((a) => `addr add ${a}/32 dev lo`);
    sh("ip", ["-n", U, "-batch", "-"], [
      `link set lo up`,
      ...uAddrs,
      `addr add ${ADDR.v6}/128 dev lo`,
      `addr add ${ADDR.resolver}/24 dev ${vu}`,
      `addr add ${ADDR.altResolver}/24 dev ${vu}`,
      `addr add 2001:db8:0:1::2/64 dev ${vu} nodad`,
      `link set ${vu} up`,
      `route add default dev ${vu}`,
      "",
    ].join("\n"));
    sh("ip", ["netns", "exec", U, "nft", "-f", "-"], "table inet rec {\n  chain input {\n    type filter hook input priority -10; policy accept;\n  }\n}\n");
    sh("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=allowed.test", "-addext", "subjectAltName=DNS:allowed.test,DNS:other.test,DNS:doh.test", "-days", "2", "-keyout", f.key, "-out", f.cert]);

    const dnsmasq = (listen: string, log: string, extra: readonly string[]): ChildProcess =>
      start(U, "dnsmasq", ["--no-daemon", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=", `--listen-address=${listen}`, "--bind-interfaces", "--except-interface=lo", "--log-queries", `--log-facility=${log}`, ...extra]);
    const addressFlags = Object.entries(NAMES).map(([n, a]) => `--address=/${n}/${a}`);
    const main = dnsmasq(ADDR.resolver, f.mainDns, [...addressFlags, ...(opts.dnsmasqExtra ?? [])]);
    const alt = dnsmasq(ADDR.altResolver, f.altDns, [`--address=/#/${ADDR.blocked}`]);
    const uRec = start(U, "/usr/bin/python3", [join(dir, "recorder.py"), f.uLog, "--cert", f.cert, "--key", f.key, ...U_LISTENERS]);
    const hRec = start(H, "/usr/bin/python3", [join(dir, "recorder.py"), f.hLog, ...H_LISTENERS]);
    const ready = (p: ChildProcess): (() => boolean) => {
      let seen = false;
      p.stdout?.on("data", (d: string) => (seen ||= d.includes("ready")));
      return () => seen;
    };
    const uReady = ready(uRec);
    const hReady = ready(hRec);
    let errs = "";
    for (const p of [main, alt, uRec, hRec]) p.stderr?.on("data", (d: string) => (errs += d));
    await waitUntil(() => uReady() && hReady(), "the recorders").catch((e: unknown) => {
      throw new Error(`${String(e)}: ${errs}`);
    });
    await waitUntil(
      () => {
        const r = (server: string): boolean => spawnSync("ip", ["netns", "exec", H, "dig", `@${server}`, "+tries=1", "+time=1", "+short", "probe.test"], { encoding: "utf8" }).status === 0;
        return r(ADDR.resolver) && r(ADDR.altResolver);
      },
      "dnsmasq",
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${errs}`);
    });
    if (main.exitCode !== null || alt.exitCode !== null) throw new Error(`dnsmasq exited: ${errs}`);
  } catch (e) {
    await world.close();
    throw e;
  }
  return world;
}

function parseCounters(json: string): Record<string, number> {
  const out: Record<string, number> = {};
  const doc = JSON.parse(json) as { nftables: Array<{ counter?: { name: string; packets: number } }> };
  for (const o of doc.nftables) if (o.counter) out[o.counter.name] = o.counter.packets;
  return out;
}

function parseProbes(stdout: string): Map<string, ProbeResult> {
  const out = new Map<string, ProbeResult>();
  for (const m of stdout.matchAll(/^@@R (\S+) (\d+) (\S*)$/gm)) {
    const id = m[1] ?? "";
    out.set(id, { id, rc: Number(m[2]), out: Buffer.from(m[3] ?? "", "base64").toString("utf8").trim() });
  }
  return out;
}

export interface Probe {
  readonly id: string;
  /** a shell command line run by `sh -c` as the contained user */
  readonly cmd: string;
  /** serial probes only: a `@@WAIT` point right after this probe (the test looks at the kernel then) */
  readonly waitAfter?: string;
}

/**
 * A contained command that runs probes and prints `@@R <id> <rc> <base64 output>` per probe.
 * `serial` probes run one after the other first, then `parallel` ones all at once; `waits`
 * names `@@WAIT` points after them (the test's onWait runs there, while the sandbox is alive).
 */
export function probeScript(w: World, o: { serial?: readonly Probe[]; parallel?: readonly Probe[]; after?: readonly string[]; timeoutSec?: number; concurrency?: number }): string {
  const t = o.timeoutSec ?? 12;
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // one file per parallel probe, run by xargs -P: a bounded number at a time, so a probe's
  // timeout measures the sandbox and not a 2-core machine starting 80 processes at once
  const pdir = join(w.dir, `probes-${randomBytes(3).toString("hex")}`);
  mkdirSync(pdir, { mode: 0o755 });
  (o.parallel ?? []).forEach((p, i) => writeFileSync(join(pdir, `${String(i).padStart(3, "0")}.sh`), `run ${q(p.id)} ${q(p.cmd)}\n`, { mode: 0o644 }));
  const run = `run() { out=$(timeout ${t} sh -c "$2" 2>&1); rc=$?; printf '@@R %s %s %s\\n' "$1" "$rc" "$(printf %s "$out" | base64 -w0)"; }`;
  writeFileSync(join(pdir, "lib.sh"), `PROBE=${w.dir}/probe.py\n${run}\n`, { mode: 0o644 });
  const lines = [
    "#!/bin/sh",
    `. ${pdir}/lib.sh`,
    `wait_go() { echo "@@WAIT $1"; i=0; while [ ! -e ${w.dir}/go-$1 ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; }`,
    ...(o.serial ?? []).flatMap((p) => [`run ${q(p.id)} ${q(p.cmd)}`, ...(p.waitAfter ? [`wait_go ${p.waitAfter}`] : [])]),
    `ls ${pdir}/[0-9]*.sh 2>/dev/null | xargs -r -P ${o.concurrency ?? 8} -n 1 sh -c '. ${pdir}/lib.sh; . "$0"'`,
    ...(o.after ?? []).map((name) => `wait_go ${name}`),
    "echo @@DONE",
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * The pid of the contained command of a running `clawfence run` (a descendant of `rootPid`
 * running as `uid`): `nsenter -t PID -n` enters the sandbox's network namespace. (The
 * namespace's name in /run/netns is bound inside clawfence's own mount namespace, which
 * `ip netns exec H` made private, so `ip netns exec cf-<id>` does not work from here.)
 */
export function containedPid(rootPid: number, uid = 65534): number | null {
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.shift() ?? 0;
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean);
    } catch {
      continue;
    }
    for (const c of children.map(Number)) {
      const status = readText(`/proc/${c}/status`);
      if (new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(status)) return c;
      queue.push(c);
    }
  }
  return null;
}

/** Python probe line, run as the contained user (the system python: the contained user may not read root's pyenv). */
export const py = (w: World, ...args: string[]): string => `/usr/bin/python3 ${w.dir}/probe.py ${args.map((a) => `'${a}'`).join(" ")}`;
