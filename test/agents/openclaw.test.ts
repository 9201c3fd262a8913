/**
 * A real agent under `clawfence run`: OpenClaw's gateway (npm `openclaw`, version pinned
 * below) with the `locked-down` preset, first in enforce mode, then in monitor mode.
 *
 * Optional and slow (a one-time install of ~650 MB, then about two minutes): `npm test` does
 * not run it (test/run.ts runs test/unit and test/integration only). Run it as root with
 * `npm run test:openclaw`; test/agents/README.md says what it needs and what it prints.
 *
 * World: test/integration/world — a host namespace H (clawfence runs inside it) and an
 * upstream namespace U. There is no internet here, so U's resolver answers EVERY name with
 * the address of one of U's recorders (198.51.100.11: TLS on 443, HTTP on 80), which logs the
 * TLS server name of whatever arrives. The policy is the preset plus two lines of world
 * plumbing: U's resolver as the upstream, and the world's documentation range as `internal`
 * (so a name's decision is the preset's rule for that name, not "special-purpose address").
 * OpenClaw has an SSRF guard of its own that refuses to fetch from a name resolving to a
 * special-use address, so the far side sees only what OpenClaw sends through the proxy.
 *
 * The gateway runs as `nobody` with a temporary HOME (a minimal config: gateway.mode local,
 * the log file under HOME — OpenClaw would otherwise use the machine-wide /tmp/openclaw),
 * no API keys, no onboarding, auth none on loopback. The test waits for its "ready" line,
 * lets it run WINDOW seconds, checks that clawfence did not end it (pid alive, it answers on
 * its port inside the sandbox), stops it with SIGTERM to clawfence (passed on) and checks
 * that nothing of the sandbox is left. The flow log (`clawfence flows --format jsonl`) must
 * hold its start-up destinations as deny (enforce) / would-deny (monitor), and nothing may be
 * allowed except what the preset allows by name (catalog:openclaw-core, the model gateways); the
 * skill hub (catalog:openclaw-skills) is not in locked-down and is denied.
 * The names seen are printed as `# openclaw ...` lines; CF_OPENCLAW_REPORT=FILE also writes
 * every flow, the far side's events and the gateway's output there as JSON.
 *
 * Install: into $CLAWFENCE_OPENCLAW_DIR or <tmpdir>/clawfence-openclaw-<version>, reused
 * between runs, by npm with its configured registry (none is named here). If the install
 * fails (no registry access), every test is skipped and the reason is printed.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openclawCore } from "../../src/policy/catalogs/openclaw-core.ts";
import { nvidiaModelGateways } from "../../src/policy/catalogs/nvidia-model-gateways.ts";
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

/** The preset's allow rules and the names they list (exact names: neither catalog has a wildcard). */
const PRESET_ALLOWS: Readonly<Record<string, ReadonlySet<string>>> = {
  "allow-core": new Set(openclawCore.entries.map((e) => e.dest)),
  "allow-model-gateways": new Set(nvidiaModelGateways.entries.map((e) => e.dest)),
};

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
  /** what U's recorders saw during this run */
  readonly far: readonly FarEvent[];
  /** names U's resolver was asked for during this run */
  readonly queries: readonly string[];
}

function nodeTooOld(): string | false {
  const [maj = 0, min = 0] = process.versions.node.split(".").map(Number);
  const ok = (maj === 24 && min >= 16) || maj > 26 || (maj === 26 && min >= 1);
  return ok ? false : `openclaw needs Node >= 24.16 (<25) or >= 26.1; this is ${process.versions.node}`;
}

/** Install (or reuse) openclaw@VERSION in CACHE: its entry script, or why not. */
function installOpenClaw(): { entry: string } | { skip: string } {
  const pkg = join(CACHE, "node_modules", "openclaw", "package.json");
  const have = (): boolean => existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { version?: string }).version === VERSION;
  if (!have()) {
    process.stderr.write(`test/agents/openclaw: installing openclaw@${VERSION} into ${CACHE} (once; about a minute)\n`);
    mkdirSync(CACHE, { recursive: true, mode: 0o755 });
    const npm = spawnSync("npm", ["install", `openclaw@${VERSION}`, "--prefix", CACHE, "--no-audit", "--no-fund", "--loglevel=error"], {
      encoding: "utf8",
      timeout: 15 * 60_000,
      // openclaw's engines want Node >= 24.16: our node first on PATH, for npm and its scripts
      env: { ...env, PATH: `${dirname(NODE)}:${env["PATH"] ?? "/usr/bin:/bin"}` },
    });
    if (npm.status !== 0 || !have()) {
      const lines = `${npm.stderr}${npm.stdout}`.split("\n").filter((l) => /^npm error (code|errno|network|request|\d{3}|404)/.test(l));
      const why = npm.error?.message ?? (lines.slice(0, 3).join(" | ") || `npm exited ${String(npm.status)}`);
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

/** Everything of a sandbox that outlives it if it is not cleaned up (as run-lifecycle.test.ts). */
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

/** A HOME for nobody with a minimal config: no keys, no channels, logs under HOME. */
function makeHome(mode: string): string {
  const home = mkdtempSync(join(w.dir, `home-${mode}-`));
  const dirs = [home, join(home, ".openclaw"), join(home, "tmp")];
  for (const d of dirs.slice(1)) mkdirSync(d);
  const config = join(home, ".openclaw", "openclaw.json");
  writeFileSync(config, `${JSON.stringify({ gateway: { mode: "local" }, logging: { file: join(home, "openclaw.log") } }, null, 1)}\n`);
  for (const p of [...dirs, config]) chownSync(p, NOBODY, NOBODY);
  return home;
}

async function runGateway(mode: "enforce" | "monitor"): Promise<ModeResult> {
  const home = makeHome(mode);
  const db = join(w.dir, `flows-${mode}.db`);
  const mark = w.mark();
  const t0 = Date.now();
  const h = w.run({
    policy: POLICY,
    flags: ["--mode", mode, "--flows", db],
    cmd: ["/usr/bin/env", `HOME=${home}`, `TMPDIR=${join(home, "tmp")}`, NODE, entry, "gateway", "run", "--bind", "loopback", "--auth", "none", "--port", String(PORT)],
    timeoutMs: 240_000 + WINDOW_MS,
  });
  await h.waitFor(/\[gateway\] ready/, 180_000).catch((e: unknown) => {
    throw new Error(`${String(e)}\nstdout: ${h.stdout().slice(-3000)}\nstderr: ${h.stderr().slice(-3000)}`);
  });
  const readyMs = Date.now() - t0;
  await sleep(WINDOW_MS);

  const runningAtEnd = h.proc.exitCode === null && h.proc.signalCode === null;
  const pid = containedPid(h.proc.pid ?? 0, NOBODY);
  const pidAlive = pid !== null && existsSync(`/proc/${pid}`);
  // root in the sandbox's network namespace (nsenter -n only): the gateway listens on its loopback
  const answer = pid === null ? "" : (spawnSync("nsenter", ["-t", String(pid), "-n", "curl", "-sS", "-m", "10", `http://127.0.0.1:${PORT}/`], { encoding: "utf8" }).stdout ?? "");
  const rec = w.records()[0];
  assert.ok(rec, "no sandbox state record while the gateway runs");

  h.proc.kill("SIGTERM");
  const result = await h.done;
  return { mode, readyMs, runningAtEnd, pidAlive, answer, flows: readFlows(db), result, leftovers: leftovers(rec), far: w.far(mark), queries: w.queries("main", mark) };
}

before(async () => {
  if (skip) return;
  w = await createWorld({ dnsmasqExtra: [`--address=/#/${ADDR.blocked}`] });
  for (const mode of ["enforce", "monitor"] as const) results.set(mode, await runGateway(mode));
  for (const r of results.values()) {
    const by = (l: string): string => names(r.flows.filter((f) => label(f) === l)).join(", ") || "-";
    process.stdout.write(`# openclaw ${VERSION} ${r.mode}: ready after ${r.readyMs} ms; denied: ${by("deny")}; would-deny: ${by("would-deny")}; allowed: ${by("allow")}\n`);
  }
  const file = env["CF_OPENCLAW_REPORT"];
  if (file) {
    const report = [...results.values()].map((r) => ({
      mode: r.mode,
      readyMs: r.readyMs,
      names: names(r.flows),
      flows: r.flows.map((f) => `${f.kind} ${f.proto ?? "-"} ${f.name ?? ""} ${f.dst_ip ?? ""}:${f.dst_port ?? ""} ${label(f)} rule=${f.rule} reason=${f.reason}`),
      far: r.far,
      queries: r.queries,
      stdout: r.result.stdout.split("\n"),
      stderr: r.result.stderr.split("\n"),
    }));
    writeFileSync(file, `${JSON.stringify({ version: VERSION, windowMs: WINDOW_MS, report }, null, 1)}\n`);
  }
});

after(async () => {
  await w?.close();
});

const label = (f: Flow): string => (f.verdict === "allow" ? "allow" : f.enforced ? "deny" : "would-deny");
const names = (flows: readonly Flow[]): string[] => [...new Set(flows.map((f) => f.name).filter((n): n is string => !!n))].sort();
const show = (flows: readonly Flow[]): string => flows.map((f) => `${f.kind} ${f.name ?? f.dst_ip ?? "?"} ${label(f)} ${f.rule}`).join("\n");
const get = (mode: string): ModeResult => {
  const r = results.get(mode);
  assert.ok(r, `no ${mode} run`);
  return r;
};
/** Allowed flows that the preset's allow rules do not cover by name. */
const allowedBeyondPreset = (flows: readonly Flow[]): Flow[] => flows.filter((f) => f.verdict === "allow" && !(f.name && PRESET_ALLOWS[f.rule]?.has(f.name)));
const opts = { skip };

for (const mode of ["enforce", "monitor"] as const) {
  void test(`${mode} mode: the gateway starts and is still running at the end of the window, answering on its port inside the sandbox`, opts, () => {
    const r = get(mode);
    assert.ok(r.runningAtEnd, `clawfence exited during the window: ${r.result.stderr.slice(-2000)}`);
    assert.ok(r.pidAlive, "the contained gateway process was gone at the end of the window");
    assert.match(r.answer, /openclaw/i, "the gateway did not answer on its port");
  });

  void test(`${mode} mode: SIGTERM to clawfence reaches the gateway, which shuts down cleanly, and nothing of the sandbox is left`, opts, () => {
    const r = get(mode);
    assert.equal(r.result.status, 0, r.result.stderr.slice(-2000));
    assert.match(r.result.stdout, /received SIGTERM/);
    assert.deepEqual(r.leftovers, []);
    assert.deepEqual(w.records(), []);
  });

  void test(`${mode} mode: nothing is allowed beyond the names the preset allows`, opts, () => {
    assert.deepEqual(show(allowedBeyondPreset(get(mode).flows)), "");
  });
}

void test("enforce mode: OpenClaw's start-up egress is in the flow log as enforced denies with rule and reason", opts, () => {
  const { flows } = get("enforce");
  const denied = flows.filter((f) => f.verdict === "deny" && f.name);
  assert.ok(denied.some((f) => f.name?.endsWith(".openclaw.ai")), `no OpenClaw service denied:\n${show(flows)}`);
  for (const f of denied) assert.ok(f.enforced && f.rule !== "" && f.reason !== "", JSON.stringify(f));
  assert.deepEqual(show(flows.filter((f) => !f.enforced)), "", "enforce mode logged a would-deny");
  // the skill hub is not in locked-down (catalog openclaw-skills is left out of that preset)
  assert.ok(
    denied.some((f) => f.name === "clawhub.ai"),
    `the skill hub clawhub.ai was not denied:\n${show(flows)}`,
  );
});

void test("enforce mode: nothing reached the far side, and the resolver was asked only for names the preset allows", opts, () => {
  const r = get("enforce");
  assert.deepEqual(r.far, []);
  const allowed = new Set(Object.values(PRESET_ALLOWS).flatMap((s) => [...s]));
  assert.deepEqual(
    r.queries.filter((q) => !allowed.has(q.toLowerCase())),
    [],
  );
});

void test("monitor mode: the same start-up egress is logged as would-deny (enforced: false), and nothing as an enforced deny", opts, () => {
  const { flows } = get("monitor");
  const would = flows.filter((f) => f.verdict === "deny" && !f.enforced && f.name);
  assert.ok(would.some((f) => f.name?.endsWith(".openclaw.ai")), `no OpenClaw service logged as would-deny:\n${show(flows)}`);
  // the host-side frame is not the policy and stays enforced in monitor mode
  assert.deepEqual(show(flows.filter((f) => f.verdict === "deny" && f.enforced && f.rule !== "host-side")), "");
  const enforced = new Set(get("enforce").flows.filter((f) => f.verdict === "deny" && f.name).map((f) => f.name));
  const monitored = new Set(would.map((f) => f.name));
  assert.ok([...enforced].some((n) => monitored.has(n)), `no name in common: enforce ${[...enforced].join(",")}; monitor ${[...monitored].join(",")}`);
});

void test("monitor mode: what reached the far side was logged as would-deny first (a TLS hello for a would-denied name)", opts, () => {
  const r = get("monitor");
  const sni = [...new Set(r.far.filter((e) => e.ev === "hello" && e.sni).map((e) => e.sni ?? ""))];
  assert.ok(sni.length > 0, `nothing reached the far side in monitor mode: ${JSON.stringify(r.far)}`);
  const would = new Set(r.flows.filter((f) => label(f) === "would-deny").map((f) => f.name));
  assert.deepEqual(
    sni.filter((n) => !would.has(n)),
    [],
  );
});
