/**
 * verify/live/world — the throwaway world `verify --live` probes in: two network namespaces
 * made for one verify run and removed after it (on every exit path: close() is idempotent
 * and the runner calls it from a finally).
 *
 *   host ns  cfvh-<id>: stands in for the machine; `clawfence run` runs in here (so nothing
 *            changes in the namespace verify was started from); a recorder on the host-side
 *            ports (HOST_PORTS) testifies to what the sandbox reached on its host
 *      | veth 198.18.0.1/30, 2001:db8:cf::1/64 <-> 198.18.0.2/30, 2001:db8:cf::2/64
 *   internet ns  cfvi-<id>: every probed address on `lo`, the world's resolver, and a
 *            recorder (verify/live/recorder.ts) on every probed address and port
 *
 * The namespace pair is runtime/world.ts's (shared with `clawfence demo`). Each recorder
 * line is parsed and appended to `records` with the side it came from. Owns
 * namespaces, processes and files of one world; decides nothing (the runner judges).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError } from "../../runtime/errors.ts";
import { createNsPair, onLines, removeNamespaces } from "../../runtime/world.ts";
import { HOST_PORTS, LINK, type LivePlan } from "./plan.ts";
import type { RecorderSpec } from "./recorder.ts";

export interface FarRecord {
  readonly side: "internet" | "host";
  readonly ev: string;
  readonly a?: string;
  readonly p?: number;
  readonly n?: number;
  readonly from?: string;
  readonly sni?: string;
  readonly host?: string;
  readonly tls?: boolean;
  readonly name?: string;
  readonly type?: string;
}

export interface LiveWorld {
  readonly hostNs: string;
  readonly inetNs: string;
  readonly records: FarRecord[];
  close(): Promise<void>;
}

function startRecorder(ns: string, node: string, script: string, specFile: string, side: FarRecord["side"], records: FarRecord[], procs: ChildProcess[]): Promise<void> {
  const child = spawn("ip", ["netns", "exec", ns, node, script, specFile], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(child);
  let err = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    err = (err + d).slice(-2000);
  });
  return new Promise<void>((resolve, reject) => {
    let ready = false;
    const t = setTimeout(() => reject(new RuntimeError("CF_VERIFY_LIVE_WORLD", `the live world's ${side} recorder did not start within 20 s`, "check that node can run in a network namespace (ip netns exec)")), 20_000);
    onLines(child.stdout, (line) => {
      let o: Omit<FarRecord, "side">;
      try {
        o = JSON.parse(line) as Omit<FarRecord, "side">;
      } catch {
        return;
      }
      if (o.ev === "ready") {
        ready = true;
        clearTimeout(t);
        resolve();
      } else records.push({ side, ...o });
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      if (!ready) reject(new RuntimeError("CF_VERIFY_LIVE_WORLD", `the live world's ${side} recorder exited (${code ?? "signal"}) before it was ready: ${err.trim()}`, "see the message; every probed address and port must be free to listen on in the world"));
    });
  });
}

/** Build the world for `plan`; `dir` is a directory for the recorders' specs. */
export async function createLiveWorld(plan: LivePlan, o: { node: string; recorderScript: string; dir: string }): Promise<LiveWorld> {
  const id = randomBytes(3).toString("hex");
  const hostNs = `cfvh-${id}`;
  const inetNs = `cfvi-${id}`;
  const records: FarRecord[] = [];
  const procs: ChildProcess[] = [];
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const p of procs) p.kill("SIGKILL");
    await removeNamespaces([hostNs, inetNs]);
  };
  try {
    await createNsPair({
      hostNs,
      inetNs,
      hostLink: `cfvh${id}`,
      inetLink: `cfvi${id}`,
      hostAddrs: [`${LINK.host4}/30`, `${LINK.host6}/64`],
      gateways: [LINK.inet4, LINK.inet6],
      inetLo: [...new Set<string>([plan.resolver, ...plan.listeners.map((l) => l.addr)])],
      inetAddrs: [`${LINK.inet4}/30`, `${LINK.inet6}/64`],
    });
    const inetSpec: RecorderSpec = { resolver: { address: plan.resolver }, zone: plan.zone, listeners: plan.listeners };
    const hostSpec: RecorderSpec = { zone: [], listeners: HOST_PORTS.map((h) => ({ proto: h.proto, addr: "0.0.0.0", port: h.port })) };
    const inetFile = join(o.dir, "internet.json");
    const hostFile = join(o.dir, "host.json");
    await writeFile(inetFile, JSON.stringify(inetSpec));
    await writeFile(hostFile, JSON.stringify(hostSpec));
    await Promise.all([startRecorder(inetNs, o.node, o.recorderScript, inetFile, "internet", records, procs), startRecorder(hostNs, o.node, o.recorderScript, hostFile, "host", records, procs)]);
  } catch (e) {
    await close();
    throw e;
  }
  return { hostNs, inetNs, records, close };
}
