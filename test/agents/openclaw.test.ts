/**
 * A real agent under `clawfence run`: OpenClaw's gateway (npm `openclaw`, pinned below) with
 * the `locked-down` preset, first in enforce mode, then in monitor mode.
 *
 * Optional and slow (a one-time install of ~650 MB, then ~2 x 40 s): not run by `npm test`
 * (test/run.ts runs test/unit and test/integration only). Run it with `npm run test:openclaw`
 * as root; see test/agents/README.md.
 *
 * The world is test/integration/world: a host namespace H (clawfence runs inside it) and an
 * upstream namespace U. There is no internet here, so U's resolver answers EVERY name with the
 * address of one of U's recorders (198.51.100.11: TLS on 443, HTTP on 80), which logs the TLS
 * server name of what arrives: in monitor mode that is the far-side evidence of where the
 * agent went. The policy is the preset plus two lines of world plumbing: U's resolver as the
 * upstream, and the world's documentation range as `internal` (so a name's decision is the
 * preset's rule for that name, not "special-purpose address").
 *
 * The gateway runs as `nobody` with a temporary HOME and TMPDIR, no API keys, no config
 * (`--allow-unconfigured`), auth none on loopback. The test waits for its "ready" line, lets
 * it run for WINDOW seconds, checks that it is still alive and still answers on its port
 * inside the sandbox, then stops it with SIGTERM to clawfence (passed on) and checks that
 * nothing of the sandbox is left. The flow log (`clawfence flows --format jsonl`) must hold
 * the agent's start-up destinations as deny (enforce) / would-deny (monitor) and no allowed
 * connection. The names seen are printed (`CF_OPENCLAW_REPORT=FILE` also writes them as JSON).
 *
 * Install: into $CLAWFENCE_OPENCLAW_DIR or <tmpdir>/clawfence-openclaw-<version>, reused
 * between runs, with npm and its configured registry (none is named here). If the install
 * fails (no registry access), every test is skipped with the reason.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ADDR, NODE, containedPid, createWorld, prerequisites, type FarEvent, type RunResult, type World } from "../integration/world/world.ts";

const env = process.env;
const VERSION = env["CLAWFENCE_OPENCLAW_VERSION"] ?? "2026.9.6";
const CACHE = env["CLAWFENCE_OPENCLAW_DIR"] ?? join(tmpdir(), `clawfence-openclaw-${VERSION}`);
const WINDOW_MS = Number(env["CLAWFENCE_OPENCLAW_WINDOW_S"] ?? "25") * 1000;
const PORT = 18789;
const NOBODY = 65534;

/** The preset, unchanged, plus the world's plumbing (see the header). */
const POLICY = `version: 1
name: openclaw-locked-down
extends: [locked-down]
internal: [198.51.100.0/24]
dns: { upstreams: [${ADDR.resolver}] }
`;

interface Flow {
  readonly kind: string;
  readonly name: string | null;
  readonly dst_ip: string | null;
  readonly dst_port: number | null;
  readonly proto: string | null;
  readonly verdict: "allow" | "deny";
  readonly enforced: boolean;
  readonly rule: string;
  readonly reason: string;
}

interface ModeResult {
  readonly mode: "enforce" | "monitor";
  /** ms from spawning clawfence to the gateway's "ready" line */
  readonly readyMs: number;
  /** clawfence had not exited at the end of the window */
  readonly runningAtEnd: boolean;
  readonly pidAlive: boolean;
  /** what the gateway answered on 127.0.0.1:PORT inside the sandbox at the end of the window */
  readonly answer: string;
  readonly flows: readonly Flow[];
  readonly result: RunResult;
  readonly leftovers: readonly string[];
  /** TLS server names U's recorder saw during this run */
  readonly farSni: readonly string[];
  /** what U's recorders saw during this run */
  readonly far: readonly FarEvent[];
}

function nodeTooOld(): string | false {
  const [maj = 0, min = 0] = process.versions.node.split(".").map(Number);
  const ok = (maj === 24 && min >= 16) || maj > 26 || (maj === 26 && min >= 1);
  return ok ? false : `openclaw needs Node >= 24.16 (<25) or >= 26.1; this is ${process.versions.node}`;
}

/** Install (or reuse) openclaw@VERSION in CACHE; the entry script, or why not. */
function installOpenClaw(): { entry: string } | { skip: string } {
  const pkg = join(CACHE, "node_modules", "openclaw", "package.json");
  const have = (): boolean => existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { version?: string }).version === VERSION;
  if (!have()) {
    mkdirSync(CACHE, { recursive: true, mode: 0o755 });
    const npm = spawnSync("npm", ["install", `openclaw@${VERSION}`, "--prefix", CACHE, "--no-audit", "--no-fund", "--loglevel=error"], {
      encoding: "utf8",
      timeout: 15 * 60_000,
      // npm's own node must be new enough for openclaw's engines check: ours first on PATH
      env: { ...env, PATH: `${dirname(NODE)}:${env["PATH"] ?? "/usr/bin:/bin"}` },
    });
    if (npm.status !== 0 || !have()) {
      const why = (npm.error?.message ?? `${npm.stderr}${npm.stdout}`).trim().split("\n").slice(-6).join(" | ");
      return { skip: `npm install openclaw@${VERSION} into ${CACHE} failed (no registry access?): ${why}` };
    }
  }
  // the contained user (nobody) reads and runs it
  spawnSync("chmod", ["-R", "a+rX", CACHE]);
  return { entry: join(CACHE, "node_modules", "openclaw", "openclaw.mjs") };
}

const pre = prerequisites() || nodeTooOld();
const installed = pre ? null : installOpenClaw();
const skip: string | false = pre || (installed && "skip" in installed ? installed.skip : false);
if (skip) process.stderr.write(`test/agents/openclaw: skipped: ${skip}\n`);
const entry = installed && "entry" in installed ? installed.entry : "";

let w: World;
const results = new Map<string, ModeResult>();

function readFlows(db: string): Flow[] {
  const r = w.cli(["flows", "--db", db, "--format", "jsonl"]);
  assert.equal(r.status, 0, `clawfence flows failed: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Flow);
}

function leftovers(rec: { id: string; ns: string; hostIf: string; tables: string[] }): string[] {
  const out: string[] = [];
  if (existsSync(join(w.stateDir, "sandboxes", `${rec.id}.json`))) out.push("state record");
  const tables = w.inH("nft", "list", "tables");
  for (const t of rec.tables) if (tables.includes(` ${t}`)) out.push(`table ${t}`);
  if (w.inH("ip", "-o", "link", "show").includes(`${rec.hostIf}@`)) out.push(`veth ${rec.hostIf}`);
  if (existsSync(`/etc/netns/${rec.ns}`)) out.push(`/etc/netns/${rec.ns}`);
  const slots = join(w.stateDir, "slots");
  if (existsSync(slots) && readdirSync(slots).length > 0) out.push(`slot files ${readdirSync(slots).join(",")}`);
  return out;
}

async function runGateway(mode: "enforce" | "monitor"): Promise<ModeResult> {
  const home = mkdtempSync(join(w.dir, `home-${mode}-`));
  const tmp = join(home, "tmp");
  mkdirSync(tmp);
  chownSync(home, NOBODY, NOBODY);
  chownSync(tmp, NOBODY, NOBODY);
  const db = join(w.dir, `flows-${mode}.db`);
  const mark = w.mark();
  const t0 = Date.now();
  const h = w.run({
    policy: POLICY,
    flags: ["--mode", mode, "--flows", db],
    cmd: ["/usr/bin/env", `HOME=${home}`, `TMPDIR=${tmp}`, NODE, entry, "gateway", "run", "--allow-unconfigured", "--bind", "loopback", "--auth", "none", "--port", String(PORT)],
    timeoutMs: 180_000 + WINDOW_MS,
  });
  await h.waitFor(/\[gateway\] ready/, 150_000).catch((e: unknown) => {
    throw new Error(`${String(e)}\nstdout: ${h.stdout().slice(-3000)}\nstderr: ${h.stderr().slice(-3000)}`);
  });
  const readyMs = Date.now() - t0;
  await sleep(WINDOW_MS);

  const runningAtEnd = h.proc.exitCode === null && h.proc.signalCode === null;
  const pid = containedPid(h.proc.pid ?? 0, NOBODY);
  const pidAlive = pid !== null && existsSync(`/proc/${pid}`);
  const answer = pid === null ? "" : (spawnSync("nsenter", ["-t", String(pid), "-n", "curl", "-sS", "-m", "10", `http://127.0.0.1:${PORT}/`], { encoding: "utf8" }).stdout ?? "");
  const rec = w.records()[0];
  assert.ok(rec, "no sandbox state record while the gateway runs");

  h.proc.kill("SIGTERM");
  const result = await h.done;
  const far = w.far(mark);
  const farSni = far
    .filter((e) => e.ev === "hello" && e.sni)
    .map((e) => e.sni ?? "");
  return { mode, readyMs, runningAtEnd, pidAlive, answer, flows: readFlows(db), result, leftovers: leftovers(rec), farSni: [...new Set(farSni)].sort(), far };
}

before(async () => {
  if (skip) return;
  w = await createWorld({ dnsmasqExtra: [`--address=/#/${ADDR.blocked}`] });
  for (const mode of ["enforce", "monitor"] as const) results.set(mode, await runGateway(mode));
  const report = [...results.values()].map((r) => ({
    mode: r.mode,
    readyMs: r.readyMs,
    names: names(r.flows),
    farSni: r.farSni,
    far: r.far,
    stdout: r.result.stdout.split("\n").slice(-80),
    stderr: r.result.stderr.split("\n").slice(-80),
    flows: r.flows.map((f) => `${f.kind} ${f.proto ?? "-"} ${f.name ?? ""} ${f.dst_ip ?? ""}:${f.dst_port ?? ""} ${label(f)} rule=${f.rule} reason=${f.reason}`),
  }));
  for (const r of report) process.stdout.write(`# openclaw ${VERSION} ${r.mode}: ready after ${r.readyMs} ms; names in the flow log: ${r.names.join(", ") || "(none)"}\n`);
  const file = env["CF_OPENCLAW_REPORT"];
  if (file) writeFileSync(file, `${JSON.stringify({ version: VERSION, windowMs: WINDOW_MS, report }, null, 1)}\n`);
});

after(async () => {
  await w?.close();
});

const label = (f: Flow): string => (f.verdict === "allow" ? "allow" : f.enforced ? "deny" : "would-deny");
const names = (flows: readonly Flow[]): string[] => [...new Set(flows.map((f) => f.name).filter((n): n is string => !!n))].sort();
const get = (mode: string): ModeResult => {
  const r = results.get(mode);
  assert.ok(r, `no ${mode} run`);
  return r;
};
const opts = { skip };

for (const mode of ["enforce", "monitor"] as const) {
  void test(`${mode} mode: the gateway starts, is still running after the window, and answers on its port inside the sandbox`, opts, () => {
    const r = get(mode);
    assert.ok(r.runningAtEnd, `clawfence exited during the window: ${r.result.stderr.slice(-2000)}`);
    assert.ok(r.pidAlive, "the contained gateway process was gone at the end of the window");
    assert.match(r.answer, /openclaw/i, "the gateway did not answer on its port");
  });

  void test(`${mode} mode: SIGTERM to clawfence stops the gateway cleanly and leaves nothing behind`, opts, () => {
    const r = get(mode);
    assert.equal(r.result.status, 0, r.result.stderr.slice(-2000));
    assert.match(r.result.stdout, /received SIGTERM/);
    assert.deepEqual(r.leftovers, []);
  });
}

void test("enforce mode: the gateway's start-up egress is in the flow log as enforced denies, and nothing was allowed", opts, () => {
  const { flows } = get("enforce");
  const denied = flows.filter((f) => f.verdict === "deny" && f.enforced && f.name);
  assert.ok(denied.length > 0, `no deny with a name in the flow log:\n${flows.map(label).join("\n")}`);
  for (const f of denied) assert.ok(f.rule !== "" && f.reason !== "", JSON.stringify(f));
  assert.deepEqual(flows.filter((f) => f.verdict === "allow"), []);
  assert.deepEqual(flows.filter((f) => !f.enforced), [], "enforce mode logged would-deny");
});

void test("monitor mode: the same start-up egress is logged as would-deny (enforced: false), and nothing was allowed", opts, () => {
  const { flows } = get("monitor");
  const would = flows.filter((f) => f.verdict === "deny" && !f.enforced && f.name);
  assert.ok(would.length > 0, `no would-deny with a name in the flow log:\n${flows.map(label).join("\n")}`);
  assert.deepEqual(flows.filter((f) => f.verdict === "allow"), []);
  // what enforce mode denied, monitor mode logged as would-deny
  const enforced = new Set(get("enforce").flows.filter((f) => f.verdict === "deny" && f.name).map((f) => f.name));
  const monitored = new Set(would.map((f) => f.name));
  assert.ok([...enforced].some((n) => monitored.has(n)), `no name in common: enforce ${[...enforced].join(",")}; monitor ${[...monitored].join(",")}`);
});
