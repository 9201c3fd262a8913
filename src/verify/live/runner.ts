/**
 * verify/live/runner — the live `ProbeRunner`: judges scenarios by what reaches the far side
 * of a real `clawfence run` sandbox.
 *
 * Map: on the first judge() the whole batch starts in the background:
 *   plan (verify/live/plan.ts: actions, far-side targets, zone, runs, waves)
 *   -> world (verify/live/world.ts: host + internet namespaces, resolver, recorders)
 *   -> per run (sandbox mode x phase), ONE `clawfence run --policy FILE --user nobody --quiet
 *      --dns-upstream <world resolver> [--mode M] [--phase P] -- node probe.ts PLAN` inside the
 *      host namespace; waves are released through the probe's stdin, and after each wave (plus
 *      a grace period) the recorders' lines that arrived since its start are matched to its
 *      probes' far-side targets
 *   -> a probe passes when the far side saw what its expectation implies (allow and
 *      would-deny: it arrived; deny: nothing arrived) AND, for scenarios static mode also
 *      judges, decide() agrees (verify/runner.ts createStaticRunner). The client's view is
 *      evidence only.
 * judge(scenario) resolves as soon as that scenario's probes are judged (progress). Probes
 * live mode cannot perform (ICMP, loopback, an added rule) are judged statically and say so;
 * a scenario none of whose probes ran live is skipped, unless decide() already fails it.
 * close() (and any failure) kills the runs and removes the world and its files.
 *
 * I/O: namespaces, processes, temp files. Needs root (checked by the CLI).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Decision } from "../../match/decision.ts";
import type { Policy } from "../../policy/ir.ts";
import { execTool } from "../../runtime/exec.ts";
import { RuntimeError } from "../../runtime/errors.ts";
import { onLines } from "../../runtime/world.ts";
import { createStaticRunner, type ProbeRunner } from "../runner.ts";
import { type Probe, type ProbeResult, type Scenario, type ScenarioResult } from "../scenario.ts";
import { buildPlan, LINK, type Far, type LivePlan, type LiveProbe, type RunPlan } from "./plan.ts";
import { createLiveWorld, type FarRecord, type LiveWorld } from "./world.ts";

export interface LiveRunnerOptions {
  /** every scenario that will be judged (disabled ones removed): the batch is planned at once */
  readonly scenarios: readonly Scenario[];
  readonly vars?: Readonly<Record<string, string>>;
  readonly phase?: string;
  /** run every sandbox with `--mode M` whatever the probes expect (a self-test of live mode) */
  readonly sandboxMode?: "enforce" | "monitor";
  /** the contained user (default nobody) */
  readonly user?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** progress and diagnostics (stderr) */
  readonly log?: (line: string) => void;
}

/** Wait after a wave for late far-side records (the proxy's dial, a slow datagram). */
const GRACE_MS = 400;

const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
const here = (rel: string): string => fileURLToPath(new URL(`${rel}.${ext}`, import.meta.url));

interface Outcome {
  readonly arrived: boolean;
  readonly far: string;
  readonly saw: string;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function farText(f: Far): string {
  switch (f.kind) {
    case "conn":
      return `${f.addr.includes(":") ? `[${f.addr}]` : f.addr}:${f.port}/${f.proto}${f.data ? " (bytes)" : ""}`;
    case "dns":
      return `the world's resolver for ${f.name}`;
    case "host":
      return `the host side on ${f.port}/${f.proto}`;
    case "rules":
      return "the host namespace's ruleset";
    default: {
      const never: never = f;
      throw new Error(`unknown far target ${String(never)}`);
    }
  }
}

function recordText(r: FarRecord): string {
  switch (r.ev) {
    case "tcp":
      return `TCP connection to ${r.a ?? "?"}:${r.p ?? "?"} from ${r.from ?? "?"}`;
    case "data":
      return `${r.n ?? 0} bytes to ${r.a ?? "?"}:${r.p ?? "?"}${r.tls ? ` (TLS${r.sni !== undefined ? `, SNI ${r.sni}` : ", no SNI"})` : ""}${r.host !== undefined ? ` (HTTP, Host ${r.host})` : ""}`;
    case "udp":
      return `a ${r.n ?? 0}-byte datagram to ${r.a ?? "?"}:${r.p ?? "?"} from ${r.from ?? "?"}`;
    case "dns":
      return `a ${r.type ?? "?"} question for ${r.name ?? "?"}`;
    default:
      return JSON.stringify(r);
  }
}

function matches(f: Far, r: FarRecord): boolean {
  switch (f.kind) {
    case "conn":
      if (r.side !== "internet" || r.a !== f.addr || r.p !== f.port) return false;
      return f.proto === "udp" ? r.ev === "udp" : f.data === true ? r.ev === "data" : r.ev === "tcp" || r.ev === "data";
    case "dns":
      return r.side === "internet" && r.ev === "dns" && r.name === f.name;
    case "host":
      return r.side === "host" && r.p === f.port && r.ev === (f.proto === "udp" ? "udp" : "tcp");
    case "rules":
      return false;
    default: {
      const never: never = f;
      throw new Error(`unknown far target ${String(never)}`);
    }
  }
}

/** The decision the far side shows, with decide()'s rule and reason for naming it. */
function observed(arrived: boolean, d: Decision): Decision {
  if (arrived) return d.verdict === "allow" ? d : { ...d, enforced: false };
  return d.verdict === "deny" ? { ...d, enforced: true } : { verdict: "deny", enforced: true, rule: d.rule, reason: d.reason };
}

function normalizeRuleset(text: string): string {
  return text.replace(/counter packets \d+ bytes \d+/g, "counter").replace(/expires \S+/g, "");
}

export function createLiveRunner(policy: Policy, policyFile: string, opts: LiveRunnerOptions): ProbeRunner {
  const log = opts.log ?? ((): void => undefined);
  const stat = createStaticRunner(policy);
  let plan: LivePlan | null = null;
  let world: LiveWorld | null = null;
  let dir: string | null = null;
  let current: ChildProcess | null = null;
  let started: Promise<void> | null = null;
  let closed = false;
  const outcomes = new Map<number, Deferred<Outcome>>();
  const failAll = (e: unknown): void => {
    for (const d of outcomes.values()) d.reject(e);
  };

  const runOne = async (run: RunPlan, w: LiveWorld, p: LivePlan, workDir: string): Promise<void> => {
    const planFile = join(workDir, `plan-${run.key.mode}-${run.key.phase ?? "none"}.json`);
    await writeFile(planFile, JSON.stringify({ link: LINK.host4, waves: run.waves.map((wv) => ({ index: wv.index, probes: wv.probes.map((x) => ({ id: x.id, op: x.op })) })) }), { mode: 0o644 });
    const args = [
      "netns",
      "exec",
      w.hostNs,
      process.execPath,
      here("../../cli/main"),
      "run",
      "--policy",
      policyFile,
      "--user",
      opts.user ?? "nobody",
      "--quiet",
      "--dns-upstream",
      p.resolver,
      ...(run.key.mode === "as-written" ? [] : ["--mode", run.key.mode]),
      ...(run.key.phase !== undefined ? ["--phase", run.key.phase] : []),
      ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}=${v}`]),
      "--",
      process.execPath,
      here("./probe"),
      planFile,
    ];
    log(`live: sandbox run (${run.key.mode}${run.key.phase !== undefined ? `, phase ${run.key.phase}` : ""}): ${run.waves.reduce((n, wv) => n + wv.probes.length, 0)} probes in ${run.waves.length} waves`);
    const child = spawn("ip", args, { stdio: ["pipe", "pipe", "pipe"], env: { ...opts.env, CLAWFENCE_STATE_DIR: join(workDir, "state"), NO_COLOR: "1" } });
    current = child;
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    const saw = new Map<number, { saw: string; changed?: boolean }>();
    const waiters = new Map<string, Deferred<Record<string, unknown>>>();
    const waitFor = (key: string): Deferred<Record<string, unknown>> => {
      let d = waiters.get(key);
      if (!d) {
        d = deferred();
        waiters.set(key, d);
      }
      return d;
    };
    let exited = false;
    const exit = new Promise<number>((resolve) => {
      child.once("exit", (code, sig) => {
        exited = true;
        const err = new RuntimeError("CF_VERIFY_LIVE_RUN", `clawfence run exited (${code ?? sig ?? "?"}) before the probes finished: ${stderr.trim().split("\n").slice(-5).join(" | ") || "no message"}`, "see the message; `clawfence run` must work in this environment (root, nftables, iproute2, setpriv)");
        for (const d of waiters.values()) d.reject(err);
        resolve(code ?? 128);
      });
    });
    onLines(child.stdout, (line) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        log(`live: probe: ${line}`);
        return;
      }
      if (o["ev"] === "hello") waitFor("hello").resolve(o);
      else if (o["ev"] === "result") saw.set(Number(o["id"]), { saw: String(o["saw"]), ...(o["changed"] === true ? { changed: true } : {}) });
      else if (o["ev"] === "wave-done") waitFor(`wave-${String(o["wave"])}`).resolve(o);
    });
    const withTimeout = async <T>(pr: Promise<T>, ms: number, what: string): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RuntimeError("CF_VERIFY_LIVE_TIMEOUT", `${what} did not happen within ${ms / 1000} s`, "the sandbox or the probe is stuck; rerun, and check `clawfence run` on its own")), ms);
      });
      try {
        return await Promise.race([pr, late]);
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      const hello = await withTimeout(waitFor("hello").promise, 30_000, "the probe's start inside the sandbox");
      const id = hello["sandbox"];
      const sandbox = typeof id === "string" ? id : "";
      for (const wave of run.waves) {
        if (wave.delayMs > 0) await sleep(wave.delayMs);
        const before = wave.rulesCheck ? normalizeRuleset((await execTool("ip", ["netns", "exec", w.hostNs, "nft", "-t", "list", "ruleset"])).stdout) : "";
        const mark = w.records.length;
        if (exited) throw new RuntimeError("CF_VERIFY_LIVE_RUN", `clawfence run exited early: ${stderr.trim()}`, "see the message");
        child.stdin.write(`go ${wave.index}\n`);
        const t0 = Date.now();
        await withTimeout(waitFor(`wave-${wave.index}`).promise, 60_000, `wave ${wave.index} of the probes`);
        log(`live: wave ${wave.index}: ${wave.probes.length} probes in ${Date.now() - t0} ms`);
        await sleep(GRACE_MS);
        const recs = w.records.slice(mark);
        const after = wave.rulesCheck ? normalizeRuleset((await execTool("ip", ["netns", "exec", w.hostNs, "nft", "-t", "list", "ruleset"])).stdout) : "";
        for (const lp of wave.probes) {
          const client = saw.get(lp.id)?.saw ?? "no report from the probe";
          if (lp.far.some((f) => f.kind === "rules")) {
            // no sandbox id: the tables cannot be checked, so the probe fails (fail closed)
            const tables = sandbox === "" ? ["(the probe could not name its sandbox)"] : [`cfp_${sandbox}`, `cfh_${sandbox}`].filter((t) => !after.includes(`table inet ${t} `));
            const same = before === after;
            const changed = saw.get(lp.id)?.changed === true || !same || tables.length > 0;
            const far = `${same ? "the host namespace's ruleset is unchanged" : "the host namespace's ruleset CHANGED during the attempt"}${tables.length > 0 ? `; tables missing: ${tables.join(", ")}` : `; tables cfp_${sandbox}, cfh_${sandbox} in place`}`;
            outcomes.get(lp.id)?.resolve({ arrived: changed, far, saw: client });
            continue;
          }
          const hits = recs.filter((r) => lp.far.some((f) => matches(f, r)));
          const far = hits.length > 0 ? `recorded ${[...new Set(hits.map(recordText))].slice(0, 3).join("; ")}` : `nothing reached ${lp.far.map(farText).join(", ")}`;
          outcomes.get(lp.id)?.resolve({ arrived: hits.length > 0, far, saw: client });
        }
      }
      const code = await withTimeout(exit, 15_000, "the end of the sandbox run");
      if (code !== 0) log(`live: clawfence run exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    } catch (e) {
      child.kill("SIGTERM");
      let t: NodeJS.Timeout | undefined;
      await Promise.race([exit, new Promise((r) => (t = setTimeout(r, 5000)))]);
      clearTimeout(t);
      throw e;
    } finally {
      current = null;
    }
  };

  const start = (): Promise<void> => {
    if (started) return started;
    started = (async () => {
      const p = buildPlan(policy, opts.scenarios, { ...(opts.phase !== undefined ? { phase: opts.phase } : {}), ...(opts.sandboxMode ? { sandboxMode: opts.sandboxMode } : {}) });
      plan = p;
      for (const lp of p.probes) outcomes.set(lp.id, deferred());
      try {
        dir = await mkdtemp(join(tmpdir(), "clawfence-verify-live-"));
        await chmod(dir, 0o755);
        log(`live: world range ${p.worldRange}, resolver ${p.resolver}, ${p.listeners.length} far-side listeners, ${p.zone.length} names`);
        world = await createLiveWorld(p, { node: process.execPath, recorderScript: here("./recorder"), dir });
        for (const run of p.runs) {
          if (closed) throw new RuntimeError("CF_VERIFY_LIVE_CLOSED", "live verify was stopped", "rerun it");
          await runOne(run, world, p, dir);
        }
      } catch (e) {
        failAll(e);
        throw e;
      }
    })();
    started.catch(() => undefined);
    return started;
  };

  const staticProbe = async (scenario: Scenario, probe: Probe): Promise<ProbeResult> => {
    const { liveOnly: _live, ...rest } = scenario;
    const r = await stat.judge({ ...rest, probes: [probe], exempt: [] });
    const first = r.probes[0];
    if (!first) throw new Error("verify/live: static runner returned no probe result");
    return first;
  };

  const liveResult = async (scenario: Scenario, lp: LiveProbe): Promise<ProbeResult> => {
    const outcome = await (outcomes.get(lp.id) as Deferred<Outcome>).promise;
    const st = await staticProbe(scenario, lp.probe);
    const actual = observed(outcome.arrived, st.actual);
    const wanted = lp.probe.expect !== "deny";
    const problems: string[] = [];
    if (outcome.arrived !== wanted) problems.push(`expected ${lp.probe.expect}, but ${outcome.arrived ? "it reached the far side" : "nothing reached the far side"}`);
    if (lp.staticToo && st.status === "fail") problems.push("decide() disagrees too");
    const evidence = `far side: ${outcome.far}; client saw: ${outcome.saw}${lp.staticToo ? `; ${st.evidence}` : ""}`;
    return { probe: lp.probe, actual, status: problems.length > 0 ? "fail" : "pass", evidence: problems.length > 0 ? `${problems.join("; ")}. ${evidence}` : evidence };
  };

  return {
    mode: "live",
    async judge(scenario: Scenario): Promise<ScenarioResult> {
      const run = start();
      const p = plan as LivePlan | null;
      if (!p) {
        await run;
        throw new Error("verify/live: no plan");
      }
      const skip = p.skipped.get(scenario.id);
      if (skip !== undefined) return { scenario, status: "skip", skipReason: skip, probes: [] };
      const live = p.probes.filter((x) => x.scenario === scenario.id);
      if (scenario.liveOnly === undefined && scenario.probes.length === 0) return stat.judge(scenario);
      if (scenario.liveOnly !== undefined && live.length === 0) return { scenario, status: "skip", skipReason: "not applicable: nothing in this policy to probe for it", probes: [] };
      const byProbe = new Map(live.map((x) => [x.probe, x]));
      const results: ProbeResult[] = [];
      const notLive: string[] = [];
      if (scenario.liveOnly !== undefined) {
        for (const lp of live) results.push(await liveResult(scenario, lp));
      } else {
        for (const probe of scenario.probes) {
          const lp = byProbe.get(probe);
          if (lp) {
            results.push(await liveResult(scenario, lp));
            continue;
          }
          const why = p.notLive.find((n) => n.probe === probe)?.why ?? "not planned";
          notLive.push(why);
          const st = await staticProbe(scenario, probe);
          results.push({ ...st, evidence: `not probed live (${why}); judged by decide() only: ${st.evidence}` });
        }
      }
      const failed = results.some((r) => r.status === "fail");
      if (live.length === 0 && !failed) return { scenario, status: "skip", skipReason: `not probed live: ${[...new Set(notLive)].join("; ")} (decide() agrees with every expectation)`, probes: results };
      return { scenario: scenario.liveOnly !== undefined ? { ...scenario, probes: live.map((x) => x.probe) } : scenario, status: failed ? "fail" : "pass", probes: results };
    },
    async close(): Promise<void> {
      closed = true;
      const c = current as ChildProcess | null;
      if (c && c.exitCode === null) c.kill("SIGTERM");
      if (started && c) {
        let t: NodeJS.Timeout | undefined;
        await Promise.race([started.catch(() => undefined), new Promise((r) => (t = setTimeout(r, 8000)))]);
        clearTimeout(t);
      }
      if (c && c.exitCode === null) c.kill("SIGKILL");
      failAll(new RuntimeError("CF_VERIFY_LIVE_CLOSED", "live verify was stopped", "rerun it"));
      await (world as LiveWorld | null)?.close();
      if (dir !== null) await rm(dir, { recursive: true, force: true });
    },
  };
}
