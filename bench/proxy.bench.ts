/**
 * bench/proxy — the egress proxy against squid and tinyproxy (Debian packages), same run, same
 * allowlist, same namespaces:
 *   client ns (curl / load client)  --veth--  proxy ns (clawfence :3128, squid :3129,
 *   tinyproxy :3130; forwarding on for the direct baseline)  --veth--  server ns (dnsmasq, a
 *   Node HTTP origin with GET /bulk/N)
 * Results (JSON lines, see bench/run.ts):
 *  - CONNECT bulk throughput (curl -p, 1 GiB download, median of 3) vs squid and vs direct;
 *  - connection rate: new client connection per request, plain forward requests and CONNECT
 *    tunnels, 32 concurrent, vs squid and tinyproxy;
 *  - memory per idle CONNECT tunnel (RSS growth over 1000 tunnels) vs squid.
 * The load client is this file run with --rate-client / --idle-client inside the client ns.
 * Also printed: each proxy's CPU time per connection (from /proc, steadier than conn/s on a
 * shared machine). PROXY_BENCH_PROF=DIR writes a CPU profile of the clawfence process;
 * PROXY_BENCH_REPS (default 3) bulk repetitions; PROXY_BENCH_ONLY=bulk stops after bulk.
 * Needs root, iproute2, curl, squid, tinyproxy, dnsmasq; says so and exits 0 otherwise.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { emitter } from "./lib.ts";

// ---------------------------------------------------------------- load clients (child mode)

async function rateClient(host: string, port: number, mode: "http" | "connect", conc: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let done = 0;
  let failed = 0;
  const one = (): Promise<boolean> =>
    new Promise((res) => {
      const s = net.connect({ host, port });
      let buf = "";
      let stage = mode === "connect" ? 0 : 1;
      s.setNoDelay(true);
      s.on("error", () => res(false));
      s.on("connect", () => {
        if (mode === "connect") s.write("CONNECT bulk.test:9000 HTTP/1.1\r\nHost: bulk.test:9000\r\n\r\n");
        else s.write("GET http://bulk.test:9000/bulk/100 HTTP/1.1\r\nHost: bulk.test:9000\r\nConnection: close\r\n\r\n");
      });
      s.on("data", (d: Buffer) => {
        buf += d.toString("latin1");
        if (stage === 0 && buf.includes("\r\n\r\n")) {
          if (!buf.startsWith("HTTP/1.1 200") && !buf.startsWith("HTTP/1.0 200")) {
            s.destroy();
            res(false);
            return;
          }
          stage = 1;
          buf = "";
          s.write("GET /bulk/100 HTTP/1.1\r\nHost: bulk.test:9000\r\nConnection: close\r\n\r\n");
        }
      });
      s.on("end", () => {
        s.destroy();
        res(stage === 1 && / 200 /.test(buf.slice(0, 20)) && buf.endsWith("a".repeat(100)));
      });
    });
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (Date.now() < until) {
        if (await one()) done++;
        else failed++;
      }
    }),
  );
  process.stdout.write(`${JSON.stringify({ done, failed, ms })}\n`);
}

async function idleClient(host: string, port: number, n: number): Promise<void> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, () => {
        return new Promise<void>((res, rej) => {
          const s = net.connect({ host, port });
          s.on("error", rej);
          s.on("connect", () => s.write("CONNECT bulk.test:9000 HTTP/1.1\r\nHost: bulk.test:9000\r\n\r\n"));
          s.once("data", (d: Buffer) => (d.toString("latin1").includes(" 200 ") ? res() : rej(new Error(d.toString("latin1").slice(0, 40)))));
          socks.push(s);
        });
      }),
    );
  }
  process.stdout.write("OPEN\n");
  process.stdin.resume();
  process.stdin.on("end", () => {
    for (const s of socks) s.destroy();
    process.exit(0);
  });
}

const mode = process.argv[2];
if (mode === "--rate-client") {
  await rateClient(process.argv[3] ?? "", Number(process.argv[4]), process.argv[5] === "connect" ? "connect" : "http", Number(process.argv[6]), Number(process.argv[7]));
  process.exit(0);
}
if (mode === "--idle-client") {
  await idleClient(process.argv[3] ?? "", Number(process.argv[4]), Number(process.argv[5]));
  // stays alive until stdin closes
} else {
  await main();
}

// ---------------------------------------------------------------- the benchmark

async function main(): Promise<void> {
  const missing = ((): string | null => {
    if (process.getuid?.() !== 0) return "root";
    for (const b of ["ip", "curl", "squid", "tinyproxy", "dnsmasq"]) if (spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0) return b;
    return null;
  })();
  if (missing) {
    process.stdout.write(`proxy bench skipped: needs ${missing}\n`);
    return;
  }
  const id = randomBytes(3).toString("hex");
  const NS = { client: `cfpbc${id}`, proxy: `cfpbp${id}`, server: `cfpbs${id}` };
  const IF = { pc: `cfbpc${id}`, cp: `cfbcp${id}`, ps: `cfbps${id}`, sp: `cfbsp${id}` };
  const PROXY = "10.89.1.1";
  const SERVER = "10.89.2.2";
  const dir = mkdtempSync(join(tmpdir(), "cf-proxy-bench-"));
  chmodSync(dir, 0o755);
  const here = resolve(import.meta.dirname);
  const childDir = resolve(here, "..", "test", "unit", "proxy");
  const procs: ChildProcess[] = [];
  const sh = (cmd: string, args: readonly string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const inNs = (ns: string, ...args: string[]): string => sh("ip", ["netns", "exec", ns, ...args]);
  const emit = emitter("proxy");
  const start = (ns: string, args: readonly string[], ready?: RegExp): Promise<ChildProcess> => {
    const p = spawn("ip", ["netns", "exec", ns, "sh", "-c", 'ulimit -n 65536; exec "$@"', "sh", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    procs.push(p);
    if (!ready) return Promise.resolve(p);
    return new Promise((res, rej) => {
      let out = "";
      const t = setTimeout(() => rej(new Error(`${args[0]} did not start: ${out}`)), 20_000);
      p.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        if (ready.test(out)) {
          clearTimeout(t);
          res(p);
        }
      });
      p.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    });
  };
  const waitPort = async (port: number): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      if (spawnSync("ip", ["netns", "exec", NS.client, "bash", "-c", `exec 3<>/dev/tcp/${PROXY}/${port}`], { stdio: "ignore" }).status === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`nothing listens on ${PROXY}:${port}`);
  };

  try {
    for (const ns of Object.values(NS)) {
      sh("ip", ["netns", "add", ns]);
      inNs(ns, "ip", "link", "set", "lo", "up");
    }
    sh("ip", ["link", "add", IF.pc, "type", "veth", "peer", "name", IF.cp]);
    sh("ip", ["link", "set", IF.pc, "netns", NS.proxy]);
    sh("ip", ["link", "set", IF.cp, "netns", NS.client]);
    sh("ip", ["link", "add", IF.ps, "type", "veth", "peer", "name", IF.sp]);
    sh("ip", ["link", "set", IF.ps, "netns", NS.proxy]);
    sh("ip", ["link", "set", IF.sp, "netns", NS.server]);
    inNs(NS.proxy, "ip", "addr", "add", `${PROXY}/24`, "dev", IF.pc);
    inNs(NS.proxy, "ip", "addr", "add", "10.89.2.1/24", "dev", IF.ps);
    inNs(NS.client, "ip", "addr", "add", "10.89.1.2/24", "dev", IF.cp);
    inNs(NS.server, "ip", "addr", "add", `${SERVER}/24`, "dev", IF.sp);
    for (const [ns, i] of [[NS.proxy, IF.pc], [NS.proxy, IF.ps], [NS.client, IF.cp], [NS.server, IF.sp]] as const) inNs(ns, "ip", "link", "set", i, "up");
    inNs(NS.client, "ip", "route", "add", "default", "via", PROXY);
    inNs(NS.server, "ip", "route", "add", "default", "via", "10.89.2.1");
    // the direct baseline is routed through the proxy ns: same hops, no proxy (sysctl of our own ns)
    inNs(NS.proxy, "sysctl", "-qw", "net.ipv4.ip_forward=1");

    writeFileSync(join(dir, "origin.json"), JSON.stringify({ cert: "/dev/null", key: "/dev/null", http: [`${SERVER}:9000`], https: [], gitRoot: dir }));
    void start(NS.server, ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces", `--listen-address=${SERVER}`, "--pid-file=", "--user=root", `--address=/bulk.test/${SERVER}`]);
    await start(NS.server, [process.execPath, join(childDir, "origin-child.ts"), join(dir, "origin.json")], /READY/);

    // the same allowlist for all three: bulk.test on port 9000, nothing else
    writeFileSync(join(dir, "policy.yaml"), `version: 1\nname: bench\ninternal: [10.89.2.0/24]\nrules:\n  - name: bulk\n    allow: [bulk.test]\n    ports: [9000]\n    protocol: tcp\ndefault: deny\n`);
    writeFileSync(
      join(dir, "proxy.json"),
      JSON.stringify({ policy: join(dir, "policy.yaml"), dns: [SERVER], events: null, listeners: [{ kind: "http", address: PROXY, port: 3128 }], limits: { maxConnsPerClient: 100_000 } }),
    );
    const prof = process.env["PROXY_BENCH_PROF"]; // a directory: profile the clawfence process
    const claw = await start(NS.proxy, [process.execPath, ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []), join(childDir, "proxy-child.ts"), join(dir, "proxy.json")], /READY/);
    writeFileSync(
      join(dir, "squid.conf"),
      [
        `http_port ${PROXY}:3129`,
        "acl allowed dstdomain bulk.test",
        "acl bulkport port 9000",
        "http_access deny !bulkport",
        "http_access allow allowed",
        "http_access deny all",
        `dns_nameservers ${SERVER}`,
        "cache deny all",
        "cache_mem 8 MB",
        "access_log none",
        `cache_log ${join(dir, "squid-cache.log")}`,
        "pid_filename none",
        `coredump_dir ${dir}`,
        "shutdown_lifetime 0 seconds",
        "max_filedescriptors 65536",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "squid-cache.log"), "");
    chmodSync(join(dir, "squid-cache.log"), 0o666);
    const squid = await start(NS.proxy, ["squid", "-N", "-f", join(dir, "squid.conf")]);
    writeFileSync(join(dir, "filter"), "^bulk\\.test$\n");
    writeFileSync(join(dir, "resolv.conf"), `nameserver ${SERVER}\n`);
    writeFileSync(
      join(dir, "tinyproxy.conf"),
      ["User nobody", "Group nogroup", "Port 3130", `Listen ${PROXY}`, "Timeout 600", "MaxClients 4096", "LogLevel Critical", `PidFile "${join(dir, "tinyproxy.pid")}"`, `Filter "${join(dir, "filter")}"`, "FilterDefaultDeny Yes", "ConnectPort 9000", ""].join("\n"),
    );
    // tinyproxy resolves with getaddrinfo: give it dnsmasq through a private bind mount
    // (ip netns exec already runs the command in its own mount namespace)
    const tiny = await start(NS.proxy, ["sh", "-c", `mount --bind ${join(dir, "resolv.conf")} /etc/resolv.conf && exec tinyproxy -d -c ${join(dir, "tinyproxy.conf")}`]);
    await Promise.all([waitPort(3128), waitPort(3129), waitPort(3130)]);

    // ---------------------------------------------------------- bulk throughput
    const SIZE = 1 << 30;
    const curl = (args: readonly string[]): number => {
      const out = inNs(NS.client, "curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", ...args);
      const [speed, size] = out.trim().split(" ").map(Number);
      if (size !== SIZE) throw new Error(`curl fetched ${size} of ${SIZE} bytes: ${out}`);
      return speed ?? 0;
    };
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const url = `http://bulk.test:9000/bulk/${SIZE}`;
    const runs: Record<string, number[]> = { direct: [], clawfence: [], squid: [] };
    const reps = Number(process.env["PROXY_BENCH_REPS"] ?? 3);
    for (let i = 0; i < reps; i++) {
      runs["direct"]?.push(curl(["--resolve", `bulk.test:9000:${SERVER}`, url]));
      runs["clawfence"]?.push(curl(["-p", "-x", `http://${PROXY}:3128`, url]));
      runs["squid"]?.push(curl(["-p", "-x", `http://${PROXY}:3129`, url]));
    }
    const mb = (x: number): number => x / 1e6;
    const direct = median(runs["direct"] ?? []);
    const cf = median(runs["clawfence"] ?? []);
    const sq = median(runs["squid"] ?? []);
    emit({ metric: "CONNECT bulk throughput vs squid", value: mb(cf), unit: "MB/s", baseline: mb(sq), baseline_name: "squid 5.7", ratio: cf / sq, target: ">= 1x squid", pass: cf >= sq });
    emit({ metric: "CONNECT bulk throughput vs direct", value: mb(cf), unit: "MB/s", baseline: mb(direct), baseline_name: "direct (routed)", ratio: cf / direct, target: ">= 0.5x direct", pass: cf >= 0.5 * direct });
    emit({ metric: "squid CONNECT bulk throughput vs direct (context)", value: mb(sq), unit: "MB/s", baseline: mb(direct), baseline_name: "direct (routed)", ratio: sq / direct });

    if (process.env["PROXY_BENCH_ONLY"] === "bulk") return;
    // ---------------------------------------------------------- connection rate
    // interleaved rounds, so load from elsewhere on the machine hits all three alike
    // CPU time (user + system) a process has used, in ms: what each proxy costs per connection,
    // a steadier measure than conn/s on a machine shared with the load client and the origin
    const cpuMs = (pid: number): number => {
      const f = readFileSync(`/proc/${pid}/stat`, "utf8");
      const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
      return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100; // clock ticks, USER_HZ = 100
    };
    const pids = [claw.pid ?? 0, squid.pid ?? 0, tiny.pid ?? 0];
    const cpuPerConn: number[] = [];
    const rate = (ports: readonly number[], kind: "http" | "connect"): number[] => {
      const done = ports.map(() => 0);
      const ms = ports.map(() => 0);
      const cpu = ports.map(() => 0);
      for (let round = 0; round < 3; round++) {
        ports.forEach((port, i) => {
          const c0 = cpuMs(pids[i] ?? 0);
          const out = inNs(NS.client, "sh", "-c", `ulimit -n 65536; exec "$@"`, "sh", process.execPath, join(here, "proxy.bench.ts"), "--rate-client", PROXY, String(port), kind, "32", "2000");
          const r = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { done: number; failed: number; ms: number };
          if (r.failed > r.done / 100) process.stdout.write(`note: ${r.failed} failed requests on port ${port} (${kind})\n`);
          done[i] = (done[i] ?? 0) + r.done;
          ms[i] = (ms[i] ?? 0) + r.ms;
          cpu[i] = (cpu[i] ?? 0) + cpuMs(pids[i] ?? 0) - c0;
        });
      }
      cpuPerConn.length = 0;
      cpuPerConn.push(...cpu.map((c, i) => c / Math.max(1, done[i] ?? 0)));
      return done.map((d, i) => (d / (ms[i] ?? 1)) * 1000);
    };
    for (const kind of ["http", "connect"] as const) {
      const [c = 0, s = 0, t = 0] = rate([3128, 3129, 3130], kind);
      const label = kind === "http" ? "forward requests" : "CONNECT tunnels";
      emit({ metric: `connection rate (${label}) vs squid`, value: c, unit: "conn/s", baseline: s, baseline_name: "squid 5.7", ratio: c / s, target: ">= 1x squid", pass: c >= s });
      emit({ metric: `connection rate (${label}) vs tinyproxy`, value: c, unit: "conn/s", baseline: t, baseline_name: "tinyproxy 1.11", ratio: c / t, target: ">= 1x tinyproxy", pass: c >= t });
      const [cc = 0, cs = 0, ct = 0] = cpuPerConn;
      emit({ metric: `proxy CPU per connection (${label}) vs squid`, value: cc * 1000, unit: "us", baseline: cs * 1000, baseline_name: "squid 5.7", ratio: cc / cs, note: `tinyproxy ${(ct * 1000).toFixed(0)} us` });
    }

    // ---------------------------------------------------------- memory per idle tunnel
    const rss = (pid: number): number => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return Number(m?.[1] ?? 0) * 1024;
    };
    const N = 1000;
    const perTunnel = async (port: number, pid: number): Promise<number> => {
      await new Promise((r) => setTimeout(r, 500));
      const before = rss(pid);
      const idle = await start(NS.client, [process.execPath, join(here, "proxy.bench.ts"), "--idle-client", PROXY, String(port), String(N)], /OPEN/);
      await new Promise((r) => setTimeout(r, 1000));
      const afterOpen = rss(pid);
      idle.stdin?.end();
      await new Promise((r) => idle.once("exit", r));
      return (afterOpen - before) / N;
    };
    const cfMem = await perTunnel(3128, claw.pid ?? 0);
    const sqMem = await perTunnel(3129, squid.pid ?? 0);
    emit({ metric: "memory per idle CONNECT tunnel vs squid", value: cfMem / 1024, unit: "KiB", baseline: sqMem / 1024, baseline_name: "squid 5.7", ratio: cfMem / sqMem, note: `RSS growth over ${N} idle tunnels` });
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    for (const ns of Object.values(NS)) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
}
