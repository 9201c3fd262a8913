/**
 * bench/run — `clawfence run` as a user meets it: how long `clawfence run -- true` takes from
 * start to exit, and how fast bulk TCP goes through a sandbox, each against a baseline measured
 * in the same run (PRODUCT.md section 8: start-to-exit median <= 300 ms).
 *
 *   P (plain namespace, no clawfence) --veth--+
 *                                             H 198.51.100.1 (stands in for the machine;
 *   sandbox cf-<id> (made by clawfence) --veth+  clawfence runs here) --veth-- U 198.51.100.2
 *                                                 U: 198.51.100.10 on lo: iperf3 -s :5201 and a
 *                                                 Node HTTP origin (GET /bulk/N) on :80 and :9000
 *
 * Results (JSON lines, see bench/run.ts):
 *  - start-to-exit of `bin/clawfence run --policy P --user nobody -- true` (the built dist),
 *    median and p90 of RUN_BENCH_N (default 15) runs after 2 warm-ups, timed by a driver inside
 *    H; baseline: the floor any ip/setpriv sandbox pays (`ip netns add`, a veth into it,
 *    `ip netns exec X setpriv --reuid nobody ... true`, `ip netns del`), interleaved run by run.
 *    Also the CPU time (user + sys) of all the processes of a run, which a loaded machine
 *    disturbs far less than wall time.
 *  - bulk download into the sandbox, three paths, each against the same transfer from P
 *    (no clawfence anywhere): the kernel path on an allowed non-proxy port (iperf3 -R, the
 *    policy table, conntrack and NAT), the transparent proxy (tcp 80 redirected to the
 *    transparent HTTP listener; curl --noproxy), and CONNECT through HTTP_PROXY (curl -p).
 *    Median of RUN_BENCH_REPS (default 3); RUN_BENCH_MIB (default 512) per curl transfer.
 * RUN_BENCH_ONLY=startup|bulk runs one half; RUN_BENCH_CLAWFENCE=/path/bin/clawfence measures
 * another build (a copy of the tree with a change) against the same baselines.
 * Child modes of this file: --serve (the origin in U), --startup-driver (the timer in H).
 * Needs root, iproute2, nftables, setpriv, tcpdump, iperf3, curl and a built dist/
 * (`tsc -p tsconfig.build.json`); says what is missing and exits 0 otherwise.
 * Touches nothing outside the namespaces it creates (names cfbr?<hex>), all removed on exit.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, readdirSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

const REPO = resolve(import.meta.dirname, "..");
const SELF = join(REPO, "bench", "run.bench.ts");
/** RUN_BENCH_CLAWFENCE: another launcher to measure (e.g. a copy of the tree with a change), same baselines */
const CLAWFENCE = process.env["RUN_BENCH_CLAWFENCE"] ?? join(REPO, "bin", "clawfence");
const SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const ORIGIN = "198.51.100.10";
const H_ADDR = "198.51.100.1";
const U_ADDR = "198.51.100.2";
const NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"];

// ---------------------------------------------------------------- child modes

async function serve(): Promise<void> {
  // the origin: GET /bulk/N answers N bytes, written as fast as the socket takes them
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const server = (port: number): Promise<void> =>
    new Promise((ok, fail) => {
      const s = createServer((req, res) => {
        const m = /^\/bulk\/(\d+)$/.exec(req.url ?? "");
        if (!m) {
          res.writeHead(404).end();
          return;
        }
        let left = Number(m[1]);
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(left) });
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once("drain", pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
      s.once("error", fail);
      s.listen(port, process.argv[3], () => ok());
    });
  await Promise.all(process.argv.slice(4).map((p) => server(Number(p))));
  process.stdout.write("READY\n");
  // lives until the bench kills it
}

async function startupDriver(): Promise<void> {
  // inside H: time `clawfence run -- true` and the ip/setpriv floor, interleaved
  const o = JSON.parse(process.argv[3] ?? "{}") as { policy: string; state: string; pool: string; n: number; warm: number };
  const env = { PATH: SYS_PATH, HOME: "/tmp", LANG: "C.UTF-8", CLAWFENCE_STATE_DIR: o.state };
  const timed = (cmd: string, args: readonly string[]): Promise<{ ms: number; code: number | null; err: string }> =>
    new Promise((ok) => {
      const t0 = performance.now();
      const p = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      p.stderr.setEncoding("utf8");
      p.stderr.on("data", (d: string) => (err += d));
      p.once("error", (e) => ok({ ms: performance.now() - t0, code: -1, err: e.message }));
      p.once("close", (code) => ok({ ms: performance.now() - t0, code, err }));
    });
  // CPU time (user + sys) of everything a run started, from the reaped children's totals in
  // /proc/self/stat: steadier than wall time on a loaded machine (ticks of 1/CLK_TCK s)
  const tick = 1000 / Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim() || 100);
  const childCpu = (): number => {
    const f = readFileSync("/proc/self/stat", "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    // fields 16 and 17 (cutime, cstime); `rest` starts at field 3
    return (Number(rest[13]) + Number(rest[14])) * tick;
  };
  const withCpu = async (f: () => Promise<number>): Promise<{ ms: number; cpu: number }> => {
    const c0 = childCpu();
    const ms = await f();
    return { ms, cpu: childCpu() - c0 };
  };
  const clawfence = async (): Promise<number> => {
    const r = await timed(CLAWFENCE, ["run", "--policy", o.policy, "--user", "nobody", "--pool", o.pool, "--", "true"]);
    if (r.code !== 0) throw new Error(`clawfence run -- true exited ${r.code}: ${r.err.trim()}`);
    return r.ms;
  };
  const floor = async (): Promise<number> => {
    const id = randomBytes(4).toString("hex");
    const ns = `cfbrx${id}`;
    const steps: Array<[string, string[]]> = [
      ["ip", ["netns", "add", ns]],
      ["ip", ["link", "add", `cfbrv${id}`, "type", "veth", "peer", "name", "eth0", "netns", ns]],
      ["ip", ["netns", "exec", ns, "setpriv", ...NOBODY, "--", "true"]],
      ["ip", ["netns", "del", ns]],
    ];
    let ms = 0;
    for (const [cmd, args] of steps) {
      const r = await timed(cmd, args);
      ms += r.ms;
      if (r.code !== 0) {
        spawnSync("ip", ["netns", "del", ns]);
        throw new Error(`baseline step '${cmd} ${args.join(" ")}' exited ${r.code}: ${r.err.trim()}`);
      }
    }
    return ms;
  };
  const node0 = async (): Promise<number> => (await timed(process.execPath, ["-e", "0"])).ms;
  for (let i = 0; i < o.warm; i++) {
    await clawfence();
    await floor();
  }
  const out = { clawfence: [] as number[], floor: [] as number[], node: [] as number[], clawfenceCpu: [] as number[], floorCpu: [] as number[] };
  for (let i = 0; i < o.n; i++) {
    const f = await withCpu(floor);
    out.floor.push(f.ms);
    out.floorCpu.push(f.cpu);
    const c = await withCpu(clawfence);
    out.clawfence.push(c.ms);
    out.clawfenceCpu.push(c.cpu);
    out.node.push(await node0());
  }
  process.stdout.write(`${JSON.stringify({ ...out, tickMs: tick })}\n`);
}

// ---------------------------------------------------------------- the bench

interface Result {
  bench: "run";
  metric: string;
  value: number;
  unit: string;
  baseline?: number;
  baseline_name?: string;
  ratio?: number;
  target?: string;
  pass?: boolean;
  note?: string;
}

function emit(r: Omit<Result, "bench">): void {
  process.stdout.write(`${JSON.stringify({ bench: "run", ...r })}\n`);
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] ?? NaN;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

const round = (n: number, digits = 3): number => Number(n.toPrecision(digits));

function missing(): string | null {
  if (process.getuid?.() !== 0) return "needs root";
  for (const b of ["ip", "nft", "setpriv", "tcpdump", "iperf3", "curl"]) {
    if (spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0) return `needs ${b}`;
  }
  if (!existsSync(join(REPO, "dist", "cli", "main.js"))) return "needs a built dist/ (run `tsc -p tsconfig.build.json`)";
  return null;
}

/** source files whose built counterpart in dist/ is older (to warn before measuring a stale build) */
function stale(src: string, dist: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(src, { withFileTypes: true })) {
    const p = join(src, n.name);
    if (n.isDirectory()) out.push(...stale(p, join(dist, n.name)));
    else if (n.name.endsWith(".ts") && !n.name.endsWith(".test.ts")) {
      const js = join(dist, n.name.replace(/\.ts$/, ".js"));
      if (existsSync(js) && statSync(js).mtimeMs < statSync(p).mtimeMs) out.push(p);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const why = missing();
  if (why) {
    process.stdout.write(`run bench skipped: ${why}\n`);
    return;
  }
  const old = stale(join(REPO, "src"), join(REPO, "dist"));
  if (old.length > 0) {
    process.stdout.write(`warning: dist/ is older than ${old.slice(0, 3).join(", ")}${old.length > 3 ? ", ..." : ""}; run \`tsc -p tsconfig.build.json\` to measure the current source\n`);
  }
  const n = Number(process.env["RUN_BENCH_N"] ?? 15);
  const reps = Number(process.env["RUN_BENCH_REPS"] ?? 3);
  const mib = Number(process.env["RUN_BENCH_MIB"] ?? 512);
  const only = process.env["RUN_BENCH_ONLY"]; // "startup" or "bulk"

  const id = randomBytes(3).toString("hex");
  const NS = { H: `cfbrh${id}`, U: `cfbru${id}`, P: `cfbrp${id}` };
  const IF = { hu: `cfbra${id}`, uh: `cfbrb${id}`, hp: `cfbrc${id}`, ph: `cfbrd${id}` };
  const octet = 1 + Math.floor(Math.random() * 250);
  const pool = `100.127.${octet}.0/24`;
  const plain = { h: `100.126.${octet}.1`, p: `100.126.${octet}.2` };
  const dir = mkdtempSync(join(tmpdir(), `cf-runbench-${id}-`));
  chmodSync(dir, 0o755);
  const state = join(dir, "state");
  const procs: ChildProcess[] = [];
  const sh = (cmd: string, args: readonly string[], input?: string): string => execFileSync(cmd, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  const inNs = (ns: string, cmd: string, ...args: string[]): string => sh("ip", ["netns", "exec", ns, cmd, ...args]);

  const cleanup = (): void => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    if (existsSync(join(state, "sandboxes")) && readdirSync(join(state, "sandboxes")).length > 0) {
      spawnSync("ip", ["netns", "exec", NS.H, CLAWFENCE, "cleanup"], { env: { PATH: SYS_PATH, CLAWFENCE_STATE_DIR: state } });
    }
    for (const ns of Object.values(NS)) {
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
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
    sh("ip", ["link", "add", IF.hu, "netns", NS.H, "type", "veth", "peer", "name", IF.uh, "netns", NS.U]);
    sh("ip", ["link", "add", IF.hp, "netns", NS.H, "type", "veth", "peer", "name", IF.ph, "netns", NS.P]);
    sh("ip", ["-n", NS.H, "-batch", "-"], [`link set lo up`, `addr add ${H_ADDR}/24 dev ${IF.hu}`, `link set ${IF.hu} up`, `addr add ${plain.h}/30 dev ${IF.hp}`, `link set ${IF.hp} up`, `route add ${ORIGIN}/32 via ${U_ADDR}`, ""].join("\n"));
    sh("ip", ["-n", NS.U, "-batch", "-"], [`link set lo up`, `addr add ${ORIGIN}/32 dev lo`, `addr add ${U_ADDR}/24 dev ${IF.uh}`, `link set ${IF.uh} up`, `route add default via ${H_ADDR}`, ""].join("\n"));
    sh("ip", ["-n", NS.P, "-batch", "-"], [`link set lo up`, `addr add ${plain.p}/30 dev ${IF.ph}`, `link set ${IF.ph} up`, `route add default via ${plain.h}`, ""].join("\n"));
    // H routes between P and U (clawfence would switch this on too; here it is H's, a namespace we made)
    inNs(NS.H, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");

    const policy = join(dir, "policy.yaml");
    writeFileSync(
      policy,
      [
        "version: 1",
        "name: run-bench",
        "internal: [198.51.100.0/24]",
        `dns: { upstreams: [${U_ADDR}] }`,
        "rules:",
        "  - name: bulk-origin",
        `    allow: [${ORIGIN}/32]`,
        "    ports: [80, 5201, 9000]",
        "    protocol: tcp",
        "default: deny",
        "",
      ].join("\n"),
    );

    process.stdout.write(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(" ")}\n`);
    if (only !== "bulk") await startup(NS.H, { policy, state, pool, n, warm: 2 });
    if (only !== "startup") await bulk({ NS, policy, state, pool, mib, reps, dir, procs, inNs });
    process.stdout.write(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}\n`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    cleanup();
  }
}

async function startup(H: string, o: { policy: string; state: string; pool: string; n: number; warm: number }): Promise<void> {
  const r = spawnSync("ip", ["netns", "exec", H, process.execPath, SELF, "--startup-driver", JSON.stringify(o)], { encoding: "utf8", maxBuffer: 1 << 20, timeout: 10 * 60_000 });
  if (r.status !== 0) throw new Error(`startup driver failed (${r.status ?? r.signal}): ${r.stderr}`);
  const s = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { clawfence: number[]; floor: number[]; node: number[]; clawfenceCpu: number[]; floorCpu: number[]; tickMs: number };
  const med = median(s.clawfence);
  const floorMed = median(s.floor);
  const nodeMed = median(s.node);
  process.stdout.write(`start-to-exit samples (ms): ${s.clawfence.map((x) => Math.round(x)).join(" ")}\n`);
  process.stdout.write(`ip/setpriv floor samples (ms): ${s.floor.map((x) => Math.round(x)).join(" ")}\n`);
  emit({
    metric: "`clawfence run -- true` start-to-exit, median",
    value: round(med),
    unit: "ms",
    baseline: round(floorMed),
    baseline_name: "ip netns add + veth + netns exec setpriv true + netns del",
    ratio: round(med / floorMed),
    target: "<= 300 ms",
    pass: med <= 300,
    note: `n=${s.clawfence.length}; node -e 0 alone: ${Math.round(nodeMed)} ms`,
  });
  emit({
    metric: "`clawfence run -- true` start-to-exit, p90",
    value: round(quantile(s.clawfence, 0.9)),
    unit: "ms",
    baseline: round(quantile(s.floor, 0.9)),
    baseline_name: "ip/setpriv floor, p90",
    ratio: round(quantile(s.clawfence, 0.9) / quantile(s.floor, 0.9)),
    note: `n=${s.clawfence.length}`,
  });
  const cpu = median(s.clawfenceCpu);
  const floorCpu = median(s.floorCpu);
  emit({
    metric: "`clawfence run -- true` CPU time of all its processes, median",
    value: round(cpu),
    unit: "ms",
    baseline: round(floorCpu),
    baseline_name: "ip/setpriv floor, CPU time",
    ratio: round(cpu / Math.max(floorCpu, 1)),
    note: `n=${s.clawfence.length}; steadier than wall time on a loaded machine; counted in ${s.tickMs} ms ticks`,
  });
}

interface BulkCtx {
  NS: { H: string; U: string; P: string };
  policy: string;
  state: string;
  pool: string;
  mib: number;
  reps: number;
  dir: string;
  procs: ChildProcess[];
  inNs: (ns: string, cmd: string, ...args: string[]) => string;
}

async function bulk(c: BulkCtx): Promise<void> {
  // the far side: iperf3 and the Node origin in U
  const iperf = spawn("ip", ["netns", "exec", c.NS.U, "iperf3", "-s", "-B", ORIGIN, "-p", "5201"], { stdio: "ignore" });
  c.procs.push(iperf);
  const origin = spawn("ip", ["netns", "exec", c.NS.U, process.execPath, SELF, "--serve", ORIGIN, "80", "9000"], { stdio: ["ignore", "pipe", "inherit"] });
  c.procs.push(origin);
  await new Promise<void>((ok, fail) => {
    let out = "";
    const t = setTimeout(() => fail(new Error("the origin did not start")), 30_000);
    origin.stdout?.setEncoding("utf8");
    origin.stdout?.on("data", (d: string) => {
      out += d;
      if (out.includes("READY")) {
        clearTimeout(t);
        ok();
      }
    });
    origin.once("exit", (code) => fail(new Error(`the origin exited ${code}`)));
  });
  await waitPort(c, 5201);

  const bytes = c.mib * 2 ** 20;
  // one script, run in the sandbox and in P: the same three transfers
  const script = join(c.dir, "bulk.sh");
  writeFileSync(
    script,
    [
      "#!/bin/sh",
      "set -e",
      `printf '@@kernel '; iperf3 -c ${ORIGIN} -p 5201 -R -t 3 -J | tr -d ' \\t\\n' | sed 's/.*"sum_received":{[^}]*"bits_per_second":\\([0-9.e+]*\\).*/\\1/'; echo`,
      `printf '@@transparent '; curl -sS --fail --noproxy '*' -o /dev/null -w '%{speed_download}\\n' http://${ORIGIN}/bulk/${bytes}`,
      // in the sandbox curl takes HTTPS_PROXY/http_proxy from clawfence; in P it goes direct
      `if [ -n "$http_proxy" ]; then printf '@@connect '; curl -sS --fail -p -o /dev/null -w '%{speed_download}\\n' http://${ORIGIN}:9000/bulk/${bytes}; ` +
        `else printf '@@connect '; curl -sS --fail -o /dev/null -w '%{speed_download}\\n' http://${ORIGIN}:9000/bulk/${bytes}; fi`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const parse = (out: string): Record<string, number> => {
    const r: Record<string, number> = {};
    for (const m of out.matchAll(/^@@(\w+) ([0-9.e+]+)\s*$/gm)) r[m[1] ?? ""] = Number(m[2]) * (m[1] === "kernel" ? 1 : 8);
    return r;
  };
  const env = { PATH: SYS_PATH, HOME: "/tmp", LANG: "C.UTF-8", CLAWFENCE_STATE_DIR: c.state };
  const inSandbox = (): Record<string, number> => {
    const r = spawnSync("ip", ["netns", "exec", c.NS.H, CLAWFENCE, "run", "--policy", c.policy, "--user", "nobody", "--pool", c.pool, "--quiet", "--", script], { encoding: "utf8", env, timeout: 10 * 60_000 });
    if (r.status !== 0) throw new Error(`bulk in the sandbox exited ${r.status ?? r.signal}: ${r.stderr}\n${r.stdout}`);
    return parse(r.stdout);
  };
  const inPlain = (): Record<string, number> => {
    const r = spawnSync("ip", ["netns", "exec", c.NS.P, "setpriv", ...NOBODY, "--", script], { encoding: "utf8", env, timeout: 10 * 60_000 });
    if (r.status !== 0) throw new Error(`bulk in the plain namespace exited ${r.status ?? r.signal}: ${r.stderr}\n${r.stdout}`);
    return parse(r.stdout);
  };
  const got: Record<string, { sandbox: number[]; plain: number[] }> = { kernel: { sandbox: [], plain: [] }, transparent: { sandbox: [], plain: [] }, connect: { sandbox: [], plain: [] } };
  for (let i = 0; i < c.reps; i++) {
    const s = inSandbox();
    const p = inPlain();
    for (const k of Object.keys(got)) {
      const g = got[k];
      if (!g || s[k] === undefined || p[k] === undefined) throw new Error(`no ${k} result: sandbox ${JSON.stringify(s)}, plain ${JSON.stringify(p)}`);
      g.sandbox.push(s[k]);
      g.plain.push(p[k]);
    }
    process.stdout.write(`bulk rep ${i + 1}: sandbox ${fmtBits(s)}; plain ${fmtBits(p)}\n`);
  }
  const rows: Array<[string, string, string, number | null]> = [
    // no target in PRODUCT.md for this one: the cost of the policy table, conntrack and NAT, shown
    ["kernel", "bulk TCP through the sandbox, kernel path (allowed port 5201: policy table, conntrack, NAT; iperf3 -R)", "", null],
    // PRODUCT.md section 8, proxy: >= 50% of a direct connection
    ["transparent", `bulk TCP through the sandbox, transparent proxy (tcp 80 redirected; curl, ${c.mib} MiB)`, ">= 0.5x plain", 0.5],
    ["connect", `bulk TCP through the sandbox, CONNECT via HTTP_PROXY (curl -p, ${c.mib} MiB)`, ">= 0.5x plain", 0.5],
  ];
  // the ratio is the median of each repetition's sandbox/plain pair (run back to back), which a
  // loaded machine disturbs less than the ratio of the two medians
  for (const [k, metric, target, min] of rows) {
    const g = got[k];
    if (!g) continue;
    const v = median(g.sandbox) / 1e9;
    const b = median(g.plain) / 1e9;
    const ratio = median(g.sandbox.map((x, i) => x / (g.plain[i] ?? NaN)));
    emit({
      metric,
      value: round(v),
      unit: "Gbit/s",
      baseline: round(b),
      baseline_name: "same transfer between plain namespaces",
      ratio: round(ratio),
      ...(target ? { target } : {}),
      ...(min !== null ? { pass: ratio >= min } : {}),
      note: `medians of ${g.sandbox.length}; ratio: median of the paired runs`,
    });
  }
}

function fmtBits(r: Record<string, number>): string {
  return Object.entries(r)
    .map(([k, v]) => `${k} ${(v / 1e9).toFixed(2)} Gbit/s`)
    .join(", ");
}

async function waitPort(c: BulkCtx, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (c.inNs(c.NS.U, "ss", "-Htln", `sport = :${port}`).trim()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port} in U`);
}

// ---------------------------------------------------------------- dispatch (last: everything above is initialized)

const mode = process.argv[2];
if (mode === "--serve") await serve();
else if (mode === "--startup-driver") await startupDriver();
else await main();
