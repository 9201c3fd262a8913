/**
 * runtime/enforce/bridge — the network interface an enforcer filters, made ready: a bridge is
 * created when missing (seed 002's `openclaw-egress`), with the docker CLI when a Docker
 * engine answers (a Docker network with IPv6 off whose bridge interface is NAME, so containers
 * join it with `--network NAME` and need no other change), otherwise a plain Linux bridge with
 * `--bridge-cidr`. IPv6 is switched off on the interface (the frame also drops it).
 *
 * Map: prepareInterface(target, opts, exec) -> { iface, address (the guard listens there),
 * cidr, created }. All commands go through the injected `exec` (runtime/exec.ts's execTool in
 * production; unit tests record the calls, since no Docker engine runs here). Never removes
 * anything; `removeBridge` is for `clawfence remove --delete-bridge`.
 */
import { writeFile } from "node:fs/promises";
import { RuntimeError } from "../errors.ts";
import type { ExecResult } from "../exec.ts";
import type { EnforceTarget } from "./target.ts";

export type Exec = (cmd: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number }) => Promise<ExecResult>;

export type BridgeDriver = "auto" | "docker" | "linux";

export interface PrepareOptions {
  readonly driver: BridgeDriver;
  /** address/prefix for a bridge clawfence creates, e.g. 10.250.0.1/24 */
  readonly cidr: string;
  /** write a sysctl (tests point it into a namespace; production writes /proc/sys) */
  readonly sysctl?: (path: string, value: string) => Promise<void>;
}

export interface PreparedInterface {
  readonly iface: string;
  /** the interface's IPv4 address: where the DNS guard listens */
  readonly address: string;
  /** the IPv4 network of the interface (CIDR text, host bits zero) */
  readonly network: string;
  readonly created: "docker" | "linux" | null;
}

export const DEFAULT_BRIDGE_CIDR = "10.250.0.1/24";

const defaultSysctl = (path: string, value: string): Promise<void> => writeFile(`/proc/sys/${path}`, value);

function networkOf(addr: string, prefix: number): string {
  const n = addr.split(".").reduce((a, p) => (a << 8) | Number(p), 0) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join(".")}/${prefix}`;
}

export function parseCidrAddress(text: string): { address: string; prefix: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  const ok = m !== null && m.slice(1, 5).every((p) => Number(p) <= 255) && Number(m[5]) >= 8 && Number(m[5]) <= 30;
  if (!ok || !m) {
    throw new RuntimeError("CF_RUNTIME_ENFORCE_CIDR", `'${text}' is not an IPv4 address/prefix from /8 to /30`, "write the bridge's own address and prefix, e.g. --bridge-cidr 10.250.0.1/24", 2);
  }
  return { address: m.slice(1, 5).join("."), prefix: Number(m[5]) };
}

/** The first IPv4 address of `iface` (`ip -j addr show`), or null. */
export async function interfaceAddress(exec: Exec, iface: string): Promise<{ address: string; prefix: number } | null> {
  let out: string;
  try {
    out = (await exec("ip", ["-j", "-4", "addr", "show", "dev", iface])).stdout;
  } catch {
    return null;
  }
  const doc = JSON.parse(out || "[]") as Array<{ addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }> }>;
  for (const link of doc) for (const a of link.addr_info ?? []) if (a.family === "inet" && a.local && typeof a.prefixlen === "number") return { address: a.local, prefix: a.prefixlen };
  return null;
}

async function linkExists(exec: Exec, iface: string): Promise<boolean> {
  try {
    await exec("ip", ["link", "show", "dev", iface]);
    return true;
  } catch {
    return false;
  }
}

async function dockerEngine(exec: Exec): Promise<boolean> {
  try {
    await exec("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** The bridge interface of an existing Docker network, or null when there is no such network. */
export async function dockerBridgeOf(exec: Exec, network: string): Promise<string | null> {
  let out: string;
  try {
    out = (await exec("docker", ["network", "inspect", network, "--format", '{{.Id}} {{index .Options "com.docker.network.bridge.name"}}'], { timeoutMs: 10_000 })).stdout.trim();
  } catch {
    return null;
  }
  const [id, name] = out.split(/\s+/);
  if (name && name !== "<no" && /^[A-Za-z0-9_.-]{1,15}$/.test(name)) return name;
  return id && /^[0-9a-f]{12,}$/.test(id) ? `br-${id.slice(0, 12)}` : null;
}

/** Create the Docker network NAME (IPv6 off) whose bridge interface is also NAME. */
export function dockerCreateArgs(name: string, cidr: { address: string; prefix: number }): string[] {
  return [
    "network",
    "create",
    "--driver",
    "bridge",
    "--ipv6=false",
    "--subnet",
    networkOf(cidr.address, cidr.prefix),
    "--gateway",
    cidr.address,
    "--opt",
    `com.docker.network.bridge.name=${name}`,
    "--label",
    "ai.clawfence.created=1",
    name,
  ];
}

export async function prepareInterface(target: EnforceTarget, o: PrepareOptions, exec: Exec): Promise<PreparedInterface> {
  if (target.kind === "host") throw new Error("prepareInterface is for bridge and interface targets");
  const sysctl = o.sysctl ?? defaultSysctl;
  let iface = target.name;
  let created: PreparedInterface["created"] = null;
  if (!(await linkExists(exec, iface)) && target.kind === "bridge" && o.driver !== "linux" && (await dockerEngine(exec))) {
    // seed 002 made `docker network create openclaw-egress`: its interface is br-<id>
    const existing = await dockerBridgeOf(exec, iface);
    if (existing !== null) iface = existing;
  }
  if (!(await linkExists(exec, iface))) {
    if (target.kind === "interface") {
      throw new RuntimeError("CF_RUNTIME_ENFORCE_IFACE", `interface '${iface}' does not exist`, "create it first, or use --on bridge:NAME to have clawfence create a bridge");
    }
    const cidr = parseCidrAddress(o.cidr);
    const useDocker = o.driver === "docker" || (o.driver === "auto" && (await dockerEngine(exec)));
    if (useDocker) {
      try {
        await exec("docker", dockerCreateArgs(iface, cidr), { timeoutMs: 30_000 });
      } catch (e) {
        throw new RuntimeError("CF_RUNTIME_ENFORCE_DOCKER", `could not create the Docker network '${iface}': ${(e as Error).message}`, "check 'docker network ls' for a network with this subnet or name; or pass --bridge-driver linux");
      }
      created = "docker";
    } else {
      await exec("ip", ["link", "add", iface, "type", "bridge"]);
      await exec("ip", ["addr", "add", `${cidr.address}/${cidr.prefix}`, "dev", iface]);
      await exec("ip", ["link", "set", iface, "up"]);
      created = "linux";
    }
  }
  // IPv6 off on the interface (seed 002: the network is created with --ipv6=false); the frame drops it too
  await sysctl(`net/ipv6/conf/${iface}/disable_ipv6`, "1").catch(() => undefined);
  const a = await interfaceAddress(exec, iface);
  if (a === null) {
    throw new RuntimeError("CF_RUNTIME_ENFORCE_IFACE", `interface '${iface}' has no IPv4 address: the DNS guard has nowhere to listen`, `give it one (ip addr add 10.250.0.1/24 dev ${iface}) or let clawfence create the bridge`);
  }
  // containers' traffic is forwarded by this host
  await sysctl("net/ipv4/ip_forward", "1").catch((e: unknown) => {
    throw new RuntimeError("CF_RUNTIME_FORWARDING", `cannot enable IPv4 forwarding: ${(e as Error).message}`, "run clawfence enforce as root");
  });
  return { iface, address: a.address, network: networkOf(a.address, a.prefix), created };
}

export async function removeBridge(exec: Exec, iface: string, created: "docker" | "linux"): Promise<void> {
  if (created === "docker") await exec("docker", ["network", "rm", iface], { timeoutMs: 30_000 });
  else await exec("ip", ["link", "del", iface]);
}
