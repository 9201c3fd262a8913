/**
 * runtime/world — the throwaway two-namespace world that `clawfence demo` and
 * `verify --live` build: a "host" namespace that stands in for the machine (where
 * `clawfence run` runs) and an "internet" namespace, joined by one veth pair, with the
 * internet's service addresses on its `lo`; and its removal (every process left in either
 * namespace killed, both namespaces deleted). Also the line splitter for the children that
 * report from inside it.
 *
 *   host ns   lo up; veth end with `hostAddrs`; default route(s) via `gateways`
 *      | veth hostLink <-> inetLink
 *   inet ns   lo up with `inetLo` (/32, /128); veth end with `inetAddrs`
 *
 * Owns only the namespaces and links it is told to make (names come from the caller, made
 * unique per run); IPv6 addresses are added `nodad` so they are usable at once. Decides
 * nothing, starts no long-lived process; imports runtime/exec.ts only (never verify/ or cli/).
 */
import { execTool } from "./exec.ts";

export interface NsPairSpec {
  readonly hostNs: string;
  readonly inetNs: string;
  /** the veth ends' names (at most 15 characters) */
  readonly hostLink: string;
  readonly inetLink: string;
  /** addresses with their prefix on the host's veth end, e.g. 198.51.100.1/24 */
  readonly hostAddrs: readonly string[];
  /** default routes of the host namespace, one per family */
  readonly gateways: readonly string[];
  /** bare addresses put on the internet namespace's lo (/32 or /128) */
  readonly inetLo: readonly string[];
  /** addresses with their prefix on the internet's veth end */
  readonly inetAddrs: readonly string[];
}

const nodad = (cidr: string): string => (cidr.includes(":") ? " nodad" : "");

/** Make both namespaces, the veth pair and the addresses. On failure the caller removes what was made (`removeNamespaces`). */
export async function createNsPair(s: NsPairSpec): Promise<void> {
  await execTool("ip", ["netns", "add", s.hostNs]);
  await execTool("ip", ["netns", "add", s.inetNs]);
  await execTool("ip", ["link", "add", s.hostLink, "netns", s.hostNs, "type", "veth", "peer", "name", s.inetLink, "netns", s.inetNs]);
  await execTool("ip", ["-n", s.hostNs, "-batch", "-"], {
    input:
      [
        "link set lo up",
        ...s.hostAddrs.map((a) => `addr add ${a} dev ${s.hostLink}${nodad(a)}`),
        `link set ${s.hostLink} up`,
        ...s.gateways.map((g) => `route add default via ${g}`),
      ].join("\n") + "\n",
  });
  await execTool("ip", ["-n", s.inetNs, "-batch", "-"], {
    input:
      [
        "link set lo up",
        ...s.inetLo.map((a) => (a.includes(":") ? `addr add ${a}/128 dev lo nodad` : `addr add ${a}/32 dev lo`)),
        ...s.inetAddrs.map((a) => `addr add ${a} dev ${s.inetLink}${nodad(a)}`),
        `link set ${s.inetLink} up`,
      ].join("\n") + "\n",
  });
}

/** Kill every process still in each namespace, then delete it; what is already gone is skipped. */
export async function removeNamespaces(names: readonly string[]): Promise<void> {
  for (const ns of names) {
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
}

/** Call `onLine` for each complete line (without the newline) a child writes to `stream`. */
export function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
    }
  });
}
