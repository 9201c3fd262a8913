/**
 * runtime/demo/world — the offline world of `clawfence demo`: two network namespaces made
 * for the demo and removed after it.
 *
 *   host ns  (stands in for the machine clawfence runs on; `clawfence run` runs in here, so
 *             the demo changes nothing in the namespace it was started from)
 *      | veth 198.51.100.1/24 <-> 198.51.100.2/24
 *   internet ns  (runtime/demo/upstream.ts: resolver 198.51.100.53, web servers on
 *             198.51.100.10 / .20 / .30 and 169.254.169.254)
 *
 * Addresses are from the documentation range 198.51.100.0/24, which the demo policy lists
 * under `internal`; nothing leaves the two namespaces. The namespace pair itself is
 * runtime/world.ts's (shared with `verify --live`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { RuntimeError } from "../errors.ts";
import { createNsPair, onLines, removeNamespaces } from "../world.ts";

export const DEMO_ADDRS = {
  host: "198.51.100.1",
  gateway: "198.51.100.2",
  resolver: "198.51.100.53",
  toolApi: "198.51.100.10",
  tracker: "198.51.100.20",
  modelProvider: "198.51.100.30",
  metadata: "169.254.169.254",
} as const;

export const DEMO_ZONE: Readonly<Record<string, string>> = {
  "api.tools.demo": DEMO_ADDRS.toolApi,
  "telemetry.tracker.demo": DEMO_ADDRS.tracker,
  "api.openai.com": DEMO_ADDRS.modelProvider,
};

export interface DemoWorld {
  readonly hostNs: string;
  readonly upstreamNs: string;
  readonly upstream: ChildProcess;
  close(): Promise<void>;
}

export async function createDemoWorld(node: string, upstreamScript: string, onUpstreamLine: (line: string) => void): Promise<DemoWorld> {
  const id = randomBytes(3).toString("hex");
  const hostNs = `cfdemo-h-${id}`;
  const upstreamNs = `cfdemo-i-${id}`;
  let upstream: ChildProcess | null = null;
  const close = async (): Promise<void> => {
    upstream?.kill("SIGKILL");
    await removeNamespaces([hostNs, upstreamNs]);
  };
  try {
    await createNsPair({
      hostNs,
      inetNs: upstreamNs,
      hostLink: `cfdh${id}`,
      inetLink: `cfdi${id}`,
      hostAddrs: [`${DEMO_ADDRS.host}/24`],
      gateways: [DEMO_ADDRS.gateway],
      inetLo: [DEMO_ADDRS.resolver, DEMO_ADDRS.toolApi, DEMO_ADDRS.tracker, DEMO_ADDRS.modelProvider, DEMO_ADDRS.metadata],
      inetAddrs: [`${DEMO_ADDRS.gateway}/24`],
    });
    const zone = JSON.stringify(DEMO_ZONE);
    const httpAddrs = [DEMO_ADDRS.toolApi, DEMO_ADDRS.tracker, DEMO_ADDRS.modelProvider, DEMO_ADDRS.metadata].join(",");
    const child = spawn("ip", ["netns", "exec", upstreamNs, node, upstreamScript, "--dns", DEMO_ADDRS.resolver, "--http", httpAddrs, "--zone", zone], { stdio: ["ignore", "pipe", "inherit"] });
    upstream = child;
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      const t = setTimeout(() => reject(new RuntimeError("CF_RUNTIME_DEMO", "the demo's internet namespace did not start within 15 s", "check that node can run in a network namespace (ip netns exec)")), 15_000);
      if (child.stdout) {
        onLines(child.stdout, (line) => {
          if (!ready && line === "ready") {
            ready = true;
            clearTimeout(t);
            resolve();
          } else if (ready) onUpstreamLine(line);
        });
      }
      child.once("exit", (code) => {
        if (!ready) {
          clearTimeout(t);
          reject(new RuntimeError("CF_RUNTIME_DEMO", `the demo's internet process exited (${code ?? "signal"}) before it was ready`, "see the message above"));
        }
      });
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { hostNs, upstreamNs, upstream, close };
}
