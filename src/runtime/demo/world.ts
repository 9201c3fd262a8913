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
 * under `internal`; nothing leaves the two namespaces.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { execTool } from "../exec.ts";
import { RuntimeError } from "../errors.ts";

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
    for (const ns of [hostNs, upstreamNs]) {
      const pids = await execTool("ip", ["netns", "pids", ns]).catch(() => ({ stdout: "" }));
      for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {
          // gone
        }
      }
      await execTool("ip", ["netns", "del", ns]).catch(() => undefined);
    }
  };
  try {
    await execTool("ip", ["netns", "add", hostNs]);
    await execTool("ip", ["netns", "add", upstreamNs]);
    await execTool("ip", ["link", "add", `cfdh${id}`, "netns", hostNs, "type", "veth", "peer", "name", `cfdi${id}`, "netns", upstreamNs]);
    await execTool("ip", ["-n", hostNs, "-batch", "-"], {
      input: [`link set lo up`, `addr add ${DEMO_ADDRS.host}/24 dev cfdh${id}`, `link set cfdh${id} up`, `route add default via ${DEMO_ADDRS.gateway}`].join("\n") + "\n",
    });
    const lo = [DEMO_ADDRS.resolver, DEMO_ADDRS.toolApi, DEMO_ADDRS.tracker, DEMO_ADDRS.modelProvider, DEMO_ADDRS.metadata];
    await execTool("ip", ["-n", upstreamNs, "-batch", "-"], {
      input: [`link set lo up`, ...lo.map((a) => `addr add ${a}/32 dev lo`), `addr add ${DEMO_ADDRS.gateway}/24 dev cfdi${id}`, `link set cfdi${id} up`].join("\n") + "\n",
    });
    const zone = JSON.stringify(DEMO_ZONE);
    const httpAddrs = [DEMO_ADDRS.toolApi, DEMO_ADDRS.tracker, DEMO_ADDRS.modelProvider, DEMO_ADDRS.metadata].join(",");
    const child = spawn("ip", ["netns", "exec", upstreamNs, node, upstreamScript, "--dns", DEMO_ADDRS.resolver, "--http", httpAddrs, "--zone", zone], { stdio: ["ignore", "pipe", "inherit"] });
    upstream = child;
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      let ready = false;
      const t = setTimeout(() => reject(new RuntimeError("CF_RUNTIME_DEMO", "the demo's internet namespace did not start within 15 s", "check that node can run in a network namespace (ip netns exec)")), 15_000);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (!ready && line === "ready") {
            ready = true;
            clearTimeout(t);
            resolve();
          } else if (ready) onUpstreamLine(line);
        }
      });
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
