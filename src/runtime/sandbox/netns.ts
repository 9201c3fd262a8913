/**
 * runtime/sandbox/netns — the sandbox's network: a namespace joined to ours by a veth pair.
 *
 * Map: `claimSlot` reserves a /30 from the address pool (an O_EXCL file per slot in the state
 * directory, so concurrent `clawfence run`s never share one); `createSandboxNet` makes the
 * namespace `cf-<id>`, the veth pair (host side `cfh<id>` here, sandbox side `eth0` there),
 * addresses and the default route inside, all in one `ip -batch`; `destroySandboxNet`
 * removes them (deleting our veth end deletes both ends, then the namespace goes). IPv6 inside the sandbox is switched off
 * at the interface (no address, no route, and the firewall drops it too).
 * Does not touch the firewall (runtime/sandbox/firewall.ts) and never changes anything in
 * the namespace we run in except the host-side veth and its address.
 */
import { readdirSync, statSync } from "node:fs";
import { open, unlink, mkdir, writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { execTool } from "../exec.ts";
import { RuntimeError } from "../errors.ts";

export interface AddressPool {
  /** network address of the pool as a 32-bit number */
  readonly base: number;
  readonly prefix: number;
  readonly text: string;
}

export interface SandboxNet {
  readonly id: string;
  readonly ns: string;
  readonly hostIf: string;
  readonly sandboxIf: "eth0";
  readonly hostAddr: string;
  readonly sandboxAddr: string;
  readonly slot: number;
}

export const DEFAULT_POOL = "100.127.0.0/16";

export function parsePool(text: string): AddressPool {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  const parts = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : NaN;
  if (!m || parts.some((p) => p > 255) || !(prefix >= 8 && prefix <= 29)) {
    throw new RuntimeError("CF_RUNTIME_POOL", `address pool '${text}' is not an IPv4 network from /8 to /29`, "give a pool such as 100.127.0.0/16 (each sandbox takes a /30)", 2);
  }
  const base = (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((base & ~mask) >>> 0 !== 0) {
    throw new RuntimeError("CF_RUNTIME_POOL", `address pool '${text}' has host bits set`, "write the network address, e.g. 100.127.0.0/16", 2);
  }
  return { base, prefix, text };
}

function ipText(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function slotAddresses(pool: AddressPool, slot: number): { hostAddr: string; sandboxAddr: string } {
  const net = pool.base + slot * 4;
  return { hostAddr: ipText(net + 1), sandboxAddr: ipText(net + 2) };
}

/** Reserve a free /30 of the pool; the returned release() frees it. */
export async function claimSlot(stateDir: string, pool: AddressPool, id: string): Promise<{ slot: number; release: () => Promise<void> }> {
  const dir = join(stateDir, "slots");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const count = 2 ** (32 - pool.prefix) / 4;
  const start = Math.floor(Math.random() * count);
  for (let i = 0; i < count; i++) {
    const slot = (start + i) % count;
    const file = join(dir, `${pool.text.replace("/", "_")}-${slot}`);
    try {
      const fh = await open(file, "wx", 0o600);
      await fh.writeFile(id);
      await fh.close();
      return { slot, release: () => unlink(file).catch(() => undefined) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  throw new RuntimeError("CF_RUNTIME_POOL_FULL", `every /30 of the address pool ${pool.text} is in use`, "run 'clawfence cleanup' to remove leftovers, or give a larger pool with --pool", 3);
}

export function netNames(id: string): { ns: string; hostIf: string } {
  return { ns: `cf-${id}`, hostIf: `cfh${id}` };
}

export async function createSandboxNet(id: string, pool: AddressPool, slot: number): Promise<SandboxNet> {
  const { ns, hostIf } = netNames(id);
  const { hostAddr, sandboxAddr } = slotAddresses(pool, slot);
  // one `ip -batch` (start-up time counts: bench/run.bench.ts; every process Node starts
  // costs it a fork). Here: the namespace, the veth pair with its sandbox end created
  // directly inside as eth0, our end's address, up. There (`netns exec` forks from ip, not
  // from us): IPv6 off before any link is up (the sandbox gets no v6 address or route;
  // PRODUCT.md section 6: blocked entirely), then addresses and the default route.
  // Batch lines take no escapes: nothing below contains a double quote.
  const inside = [
    "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done",
    "ip link set lo up",
    `ip addr add ${sandboxAddr}/30 dev eth0`,
    "ip link set eth0 up",
    `ip route add default via ${hostAddr} dev eth0`,
  ];
  const batch = [
    `netns add ${ns}`,
    `link add ${hostIf} type veth peer name eth0 netns ${ns}`,
    `addr add ${hostAddr}/30 dev ${hostIf}`,
    `link set ${hostIf} up`,
    `netns exec ${ns} sh -ec "${inside.join("; ")}"`,
  ];
  try {
    await execTool("ip", ["-batch", "-"], { input: `${batch.join("\n")}\n` });
    // no IPv6 on the host-side link either: nothing to reach over link-local v6
    await writeFile(`/proc/sys/net/ipv6/conf/${hostIf}/disable_ipv6`, "1").catch(() => undefined);
  } catch (e) {
    await removeNet(ns, hostIf);
    throw e;
  }
  return { id, ns, hostIf, sandboxIf: "eth0", hostAddr, sandboxAddr, slot };
}

/**
 * Our veth end first (that removes both ends at once; the namespace's own teardown is
 * asynchronous), then the namespace; one `ip` for both, going on past what is already gone.
 */
function removeNet(ns: string, hostIf: string): Promise<void> {
  return execTool("ip", ["-force", "-batch", "-"], { input: `link del ${hostIf}\nnetns del ${ns}\n` }).then(
    () => undefined,
    () => undefined,
  );
}

export async function destroySandboxNet(id: string): Promise<void> {
  const { ns, hostIf } = netNames(id);
  await removeNet(ns, hostIf);
  await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
}

/**
 * The processes in namespace `ns`, as `ip netns pids` finds them (their /proc/<pid>/ns/net
 * is the file bound at /run/netns/<ns>), without starting a process: a scan of /proc takes
 * ~2 ms, a spawn from Node several times that. Empty when the namespace is not there.
 */
/** The nsfs identity of a named namespace, or null when /run/netns/<ns> cannot be read. */
export function namespaceIdentity(ns: string): { dev: number; ino: number } | null {
  try {
    const st = statSync(`/run/netns/${ns}`);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

/** Pids of processes in the namespace (by /proc/<pid>/ns/net identity; no `ip netns pids` spawn). */
export function namespacePids(ns: string, known?: { dev: number; ino: number }): number[] {
  // the recorded identity first: in another mount namespace /run/netns/<ns> may be a plain
  // empty file (the bind mount lived in the dead clawfence's mount namespace)
  const target = known ?? namespaceIdentity(ns);
  if (!target) return [];
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = statSync(`/proc/${d}/ns/net`);
      if (st.ino === target.ino && st.dev === target.dev) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Files `ip netns exec` binds over /etc inside the sandbox (resolv.conf pointing at the guard). */
export async function writeNetnsEtc(ns: string, files: Readonly<Record<string, string>>): Promise<void> {
  const dir = `/etc/netns/${ns}`;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { mode: 0o644 });
}
