/**
 * runtime/sandbox/phase — moving a running sandbox to a later phase (`clawfence phase`).
 * Phases only move forward (PRODUCT §3: "enforcement starts in the first and only moves
 * forward"); seed 000's bootstrap -> workload is the case in point.
 *
 * Map:
 *   `clawfence phase ID [P]` -> requestPhase(): one JSON line over the sandbox's unix socket
 *   (<state>/sandboxes/<id>.sock, in the 0700 state dir) -> servePhaseRequests() in the
 *   running `clawfence run` -> PhaseSwitch.change(P):
 *     1. checkPhaseMove (pure): P is declared and later than the current phase (CF_PHASE_*)
 *     2. the gate closes (the guard's programming waits), and in the same tick the guard and
 *        the proxy decide in P (the proxy reads `current()`)
 *     3. programming already under way finishes (old-phase grants into the old table; their
 *        (name, address) pairs are in the guard's book, so step 4 re-decides them)
 *     4. ONE `nft -f`: the policy table compiled for P (atomic replace, docs/nft-layout.md)
 *        plus every live (name, address) of the guard re-decided for P (`addressGrants`), for
 *        the time it had left. Names resolved before keep working where P allows them; the
 *        rest are gone with the old table.
 *     5. a fresh programmer that knows exactly those elements takes over; the gate opens and
 *        waiting programming (already decided in P) goes into P's table.
 *   A failure at 4 leaves the old table whole (one transaction): the phase goes back and the
 *   programming that waited is refused (decided in P, it must not reach the old table; the
 *   guard answers SERVFAIL and the client asks again).
 *   -> the caller writes P into the state record -> the reply -> `clawfence phase` exits 0.
 *
 * So the kernel never allows something P denies once the change is confirmed, and is never
 * without a table.
 *
 * Established connections are not cut (a decision): `ct state established,related accept`
 * heads P's table as it headed the old one, and the proxy's open relays go on. The change
 * governs new connections, new answers and new proxy requests. Why: in seed 000 the switch
 * is the runtime's own "attestation done" — it comes after the bootstrap calls, whose last
 * responses may still be in flight, and before the workload's code runs, so a bootstrap
 * flow still open is the runtime's. Cutting them would need the conntrack tool
 * (conntrack-tools, not installed by clawfence: `conntrack -D -s <sandbox address>` in the
 * namespace clawfence runs in, which also drops the NAT mapping of flows P allows) plus
 * closing the proxy's relays. A workload that must not inherit any bootstrap flow is started
 * under a new `clawfence run` in the workload phase instead.
 *
 * Transport (a decision): a unix socket beside the state record rather than a signal: the
 * reply is synchronous and carries refusals with their codes, concurrent requests are
 * ordered, and the 0700 state dir + 0600 socket keep the contained command (unprivileged,
 * same filesystem) out. Counters of the policy table restart at 0 with the new table.
 *
 * Imports node:net and node:fs (socket), no clock of its own (injected). The pure parts
 * (checkPhaseMove, liveEntries) are unit-tested; the rest runs in test/integration.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { chmod, rm } from "node:fs/promises";
import { parseIp } from "../../policy/addr.ts";
import type { Grant } from "../../compile/nftables/layout.ts";
import { addressGrants, type LiveName, type NameDecider } from "../dns/guard.ts";
import type { NftRunner } from "../nft/session.ts";
import type { ProgramEntry, SetProgrammer } from "../nft/programmer.ts";
import { RuntimeError } from "../errors.ts";

// ------------------------------------------------------------------ pure: which phase

/** A refusal of a phase request: a stable code, what is wrong, how to fix it. */
export interface PhaseRefusal {
  readonly code: "CF_PHASE_NONE" | "CF_PHASE_LAST" | "CF_PHASE_UNKNOWN" | "CF_PHASE_BACKWARDS";
  readonly message: string;
  readonly fix: string;
}

export type PhaseMove = { readonly ok: true; readonly from: string; readonly to: string } | ({ readonly ok: false } & PhaseRefusal);

/**
 * Where a request for `requested` (undefined: the next phase) leads from `current`
 * (undefined: the first phase, as the decider and the compiler read it).
 */
export function checkPhaseMove(phases: readonly string[], current: string | undefined, requested: string | undefined): PhaseMove {
  const list = phases.join(", ");
  if (phases.length === 0) return { ok: false, code: "CF_PHASE_NONE", message: "the sandbox's policy declares no phases", fix: "add `phases: [bootstrap, workload]` to the policy and rules with `phase:`; a policy without phases has nothing to move to" };
  const from = current ?? phases[0] ?? "";
  const at = phases.indexOf(from);
  if (requested === undefined) {
    const next = at >= 0 ? phases[at + 1] : undefined;
    if (next === undefined) return { ok: false, code: "CF_PHASE_LAST", message: `the sandbox is in '${from}', the policy's last phase (phases: ${list})`, fix: "there is no later phase; phases only move forward (start a new `clawfence run` to begin again)" };
    return { ok: true, from, to: next };
  }
  const to = phases.indexOf(requested);
  if (to < 0) return { ok: false, code: "CF_PHASE_UNKNOWN", message: `phase '${requested}' is not declared in the policy (phases: ${list})`, fix: `name one of the policy's phases after '${from}', or leave PHASE out for the next one` };
  if (to <= at) {
    return {
      ok: false,
      code: "CF_PHASE_BACKWARDS",
      message: to === at ? `the sandbox is already in phase '${requested}'` : `phase '${requested}' comes before the current phase '${from}': phases only move forward (phases: ${list})`,
      fix: "request a later phase; to enforce an earlier phase again, start a new `clawfence run`",
    };
  }
  return { ok: true, from, to: requested };
}

// ------------------------------------------------------------------ pure: what stays open

/**
 * The programming that carries live (name, address) pairs into `phase`: each pair
 * re-decided (`addressGrants(decider, name, ip, phase)`), for the whole seconds it had left
 * (rounded up: never shorter than what the client was told). Pairs `phase` grants nothing
 * are left out (they close with the old table), as are expired ones. Sorted longest first,
 * so when two names share an element the programmer adds it once, with the longer time.
 */
export function liveEntries(live: readonly LiveName[], decider: NameDecider, phase: string | undefined, now: number): ProgramEntry[] {
  const out: Array<{ grants: readonly Grant[]; address: { ip: string; family: 4 | 6; ttl: number } }> = [];
  for (const l of live) {
    const left = Math.ceil((l.expiresAt - now) / 1000);
    if (left <= 0) continue;
    const ip = parseIp(l.ip);
    if (ip === null) continue;
    const grants = addressGrants(decider, l.name, ip, phase);
    if (grants.length === 0) continue;
    out.push({ grants, address: { ip: l.ip, family: l.family, ttl: left } });
  }
  return out.sort((a, b) => b.address.ttl - a.address.ttl);
}

// ------------------------------------------------------------------ the switch

export interface PhaseChange {
  readonly from: string;
  readonly to: string;
  /** live (name, address) pairs re-decided, and the elements the new table got for them */
  readonly names: number;
  readonly elements: number;
  readonly ms: number;
}

export interface PhaseSwitchOptions {
  readonly phases: readonly string[];
  /** the phase the sandbox starts in (undefined: the first, or none without phases) */
  readonly initial: string | undefined;
  readonly decider: NameDecider;
  readonly clock: { now(): number };
  /** a programmer over `runner` (a fresh one per phase: the old one's book died with its table) */
  readonly createProgrammer: (runner: NftRunner) => SetProgrammer;
  /** the runner programming goes through (the long-lived `nft -i` session) */
  readonly runner: NftRunner;
  /** the policy table for `phase`, as `nft -f` text that replaces it atomically */
  readonly tableText: (phase: string) => string;
  /** run one `nft -f` transaction */
  readonly transaction: (text: string) => Promise<void>;
}

/** What the switch needs of the DNS guard. */
export type PhaseGuard = { setPhase(phase: string): void; liveNames(now: number): LiveName[] };

export interface PhaseSwitch {
  /** the programmer to give the DNS guard: it follows the switch */
  readonly programmer: SetProgrammer;
  /** the phase decisions are made in now (the proxy's `phase` function) */
  current(): string | undefined;
  /** the guard whose phase and live names move with the switch (once, after it exists) */
  attach(guard: PhaseGuard): void;
  /** move forward; rejects with a RuntimeError (CF_PHASE_* refusals exit 2, failures 3) */
  change(requested: string | undefined): Promise<PhaseChange>;
}

export function createPhaseSwitch(o: PhaseSwitchOptions): PhaseSwitch {
  let phase = o.initial ?? o.phases[0];
  let guard: PhaseGuard | null = null;
  let active = o.createProgrammer(o.runner);
  /** closed while a change is in the kernel; programming waits on it */
  let gate: Promise<void> | null = null;
  /** bumped when the phase decisions are made in changes (forward, or back after a failure) */
  let epoch = 0;
  const inflight = new Set<Promise<unknown>>();
  let queue: Promise<unknown> = Promise.resolve();

  const programmer: SetProgrammer = {
    async program(entries, minTtl) {
      // the entries were decided in the phase of this moment (the guard calls us in the same
      // tick as decideAddress): remember which, in case a change is under way
      const mine = epoch;
      if (gate !== null) {
        await gate;
        if (epoch !== mine) {
          throw new RuntimeError("CF_RUNTIME_PHASE_RACE", "the phase change this answer was decided for failed; it was not programmed", "ask again: the answer will be decided in the current phase");
        }
      }
      const p = active.program(entries, minTtl);
      inflight.add(p);
      try {
        return await p;
      } finally {
        inflight.delete(p);
      }
    },
    holds: (grants, ip) => active.holds(grants, ip),
    load: () => active.load(),
    size: () => active.size(),
  };

  async function change(requested: string | undefined): Promise<PhaseChange> {
    const t0 = performance.now();
    const move = checkPhaseMove(o.phases, phase, requested);
    if (!move.ok) throw new RuntimeError(move.code, move.message, move.fix, 2);
    const g = guard;
    if (g === null) throw new RuntimeError("CF_RUNTIME_PHASE_NOT_READY", "the sandbox is still starting", "try again in a moment");
    const { from, to } = move;

    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    // from here on every decision is made in `to`; its programming waits for the gate
    epoch++;
    phase = to;
    g.setPhase(to);
    try {
      // programming decided in `from` that is already on its way to the old table: its pairs
      // are in the guard's book, and step 4 re-decides them
      await Promise.allSettled(inflight);
      const now = o.clock.now();
      const entries = liveEntries(g.liveNames(now), o.decider, to, now);
      // a fresh programmer renders the elements (the programmer's own rendering and
      // de-duplication) into `captured` instead of the kernel, and so knows exactly what the
      // new table will hold
      const captured: string[] = [];
      let capturing = true;
      const fresh = o.createProgrammer({
        apply: (text) => {
          if (!capturing) return o.runner.apply(text);
          captured.push(text);
          return Promise.resolve();
        },
        close: () => o.runner.close(),
      });
      const elements = await fresh.program(entries, 0);
      capturing = false;
      await o.transaction(`${o.tableText(to)}\n${captured.join("")}`);
      active = fresh;
      return { from, to, names: entries.length, elements, ms: Math.round((performance.now() - t0) * 10) / 10 };
    } catch (e) {
      // the old table is whole (one transaction): decide in `from` again; programming that
      // waited was decided in `to` and is refused (the epoch moves on)
      epoch++;
      phase = from;
      g.setPhase(from);
      if (e instanceof RuntimeError) throw e;
      throw new RuntimeError("CF_RUNTIME_PHASE_APPLY", `could not apply phase '${to}': ${e instanceof Error ? e.message : String(e)}`, `the sandbox stays in phase '${from}'; check that nft works and try again`);
    } finally {
      gate = null;
      open();
    }
  }

  return {
    programmer,
    current: () => phase,
    attach(g) {
      guard = g;
    },
    change(requested) {
      // one change at a time, in the order asked
      const run = queue.then(() => change(requested));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}

// ------------------------------------------------------------------ transport: a unix socket

/** The reply of the running clawfence, one JSON line. */
export type PhaseReply =
  | ({ readonly ok: true } & PhaseChange & { readonly warning?: string })
  | { readonly ok: false; readonly code: string; readonly message: string; readonly fix: string; readonly exit: number };

const MAX_REQUEST = 4096;

export interface PhaseServer {
  close(): Promise<void>;
}

/**
 * Listen on `path` (unix socket, mode 0600) for `{"phase": "P"}` / `{}` lines; answer each with
 * one PhaseReply line once `handle` settles. A stale socket file is replaced.
 */
export async function servePhaseRequests(path: string, handle: (requested: string | undefined) => Promise<PhaseReply>): Promise<PhaseServer> {
  await rm(path, { force: true });
  const conns = new Set<Socket>();
  const server: Server = createServer((sock) => {
    conns.add(sock);
    sock.on("close", () => conns.delete(sock));
    sock.on("error", () => {});
    sock.setTimeout(10_000, () => sock.destroy());
    let buf = "";
    let done = false;
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      if (done) return;
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0 && buf.length <= MAX_REQUEST) return;
      done = true;
      const answer = (r: PhaseReply): void => {
        if (!sock.destroyed) sock.end(`${JSON.stringify(r)}\n`);
      };
      const req = parseRequest(nl < 0 ? null : buf.slice(0, nl));
      if (req === null) {
        answer({ ok: false, code: "CF_PHASE_REQUEST", message: "malformed phase request", fix: "use `clawfence phase SANDBOX [PHASE]`", exit: 2 });
        return;
      }
      handle(req.phase).then(answer, (e: unknown) => answer(replyOf(e)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return {
    async close() {
      for (const s of conns) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(path, { force: true });
    },
  };
}

function parseRequest(line: string | null): { phase: string | undefined } | null {
  if (line === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const p = (v as { phase?: unknown }).phase;
  if (p !== undefined && (typeof p !== "string" || p.length === 0 || p.length > 256)) return null;
  return { phase: p };
}

/** A thrown error as a reply (RuntimeError keeps its code, fix and exit). */
export function replyOf(e: unknown): PhaseReply {
  if (e instanceof RuntimeError) return { ok: false, code: e.code, message: e.message, fix: e.fix, exit: e.exit };
  return { ok: false, code: "CF_INTERNAL", message: e instanceof Error ? e.message : String(e), fix: "this is a bug; report it with the sandbox's stderr", exit: 3 };
}

/**
 * Ask the clawfence behind `path` to move to `requested` (undefined: the next phase) and wait
 * for its confirmation, at most `timeoutMs`. Resolves with the reply (ok or a refusal);
 * rejects with CF_PHASE_UNREACHABLE / CF_PHASE_TIMEOUT when there is no answer.
 */
export function requestPhase(path: string, requested: string | undefined, timeoutMs = 5000): Promise<PhaseReply> {
  return new Promise<PhaseReply>((resolve, reject) => {
    const sock = createConnection(path);
    let buf = "";
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      f();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new RuntimeError("CF_PHASE_TIMEOUT", `the sandbox did not confirm the phase change within ${timeoutMs} ms`, "look at the sandbox's stderr; the change may still complete: check the phase in its state record (clawfence phase lists it)")),
        ),
      timeoutMs,
    );
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(`${JSON.stringify(requested === undefined ? {} : { phase: requested })}\n`));
    sock.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      let reply: PhaseReply | null = null;
      try {
        reply = JSON.parse(buf.slice(0, nl)) as PhaseReply;
      } catch {
        reply = null;
      }
      finish(() => (reply !== null && typeof reply === "object" && typeof reply.ok === "boolean" ? resolve(reply) : reject(new RuntimeError("CF_PHASE_REPLY", "the sandbox sent a malformed reply", "check that `clawfence phase` and the running `clawfence run` are the same version"))));
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      const fix =
        e.code === "EACCES" || e.code === "EPERM"
          ? "run clawfence phase as root (sudo), like the clawfence run it talks to"
          : "the sandbox may be exiting, or its clawfence is an older version without phase changes; run `clawfence cleanup` if it crashed";
      finish(() => reject(new RuntimeError("CF_PHASE_UNREACHABLE", `cannot reach the sandbox's clawfence at ${path}: ${e.code ?? e.message}`, fix)));
    });
    sock.on("end", () => finish(() => reject(new RuntimeError("CF_PHASE_REPLY", "the sandbox closed the connection without a reply", "look at the sandbox's stderr and try again"))));
  });
}
