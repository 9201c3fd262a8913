/**
 * runtime/nft/programmer — puts the DNS guard's answers into the kernel: for each grant of a
 * name and each answer address, the elements of docs/nft-layout.md (rendered by
 * compile/nftables/layout.ts, never by hand), with timeout max(TTL, min_ttl).
 *
 * Map: guard -> `program([{grants, address}], minTtl)` -> elementsForGrant() ->
 * renderSetElements() -> NftRunner (an `nft -i` session) -> kernel. Resolves only when the
 * kernel holds every element; rejects otherwise (the guard then answers SERVFAIL).
 *
 * "Never shortened": re-adding an element sets its timeout to the new value, shorter or not
 * (kernel 6.x; test/integration/dns-nft.test.ts checks it). So the programmer remembers the
 * expiry it gave each element and only sends an element whose new expiry is later. A second
 * answer that relies on an element still on its way to the kernel waits for it. After a
 * restart, `load()` reads the live elements back (`nft -j list set`) so the first answers
 * never shorten what the kernel already holds; their expiry is known to the second only, so
 * a refresh of a loaded element adds one second to be safe.
 *
 * Owns the expiry table (bounded: expired entries are pruned as it grows). Clock injected.
 */
import type { Policy } from "../../policy/ir.ts";
import { type DynamicElement, type Grant, dynamicSetNames, elementsForGrant, portText, renderSetElements } from "../../compile/nftables/layout.ts";
import type { NftRunner } from "./session.ts";
import { execTool } from "../exec.ts";

export interface ProgramAddress {
  readonly ip: string;
  readonly family: 4 | 6;
  /** seconds the client may use the address (the TTL handed out) */
  readonly ttl: number;
}

/** One answer address and the grants its name has at that address (`decideAddress`). */
export interface ProgramEntry {
  readonly grants: readonly Grant[];
  readonly address: ProgramAddress;
}

export interface SetProgrammer {
  /**
   * Make sure every (grant, address) element lives at least max(ttl, minTtl) seconds from now.
   * Resolves with the number of elements sent to the kernel (0 when all were fresh enough).
   */
  program(entries: readonly ProgramEntry[], minTtl: number): Promise<number>;
  /** true when some grant's set holds `ip` (any port) and it has not expired */
  holds(grants: readonly Grant[], ip: string): boolean;
  /** read the kernel's live elements of this policy's dynamic sets (after a restart) */
  load(): Promise<number>;
  /** number of tracked elements (memory bound tests) */
  size(): number;
}

export interface ProgrammerOptions {
  readonly policy: Policy;
  /** the nftables table of this sandbox (docs/nft-layout.md) */
  readonly table: string;
  readonly runner: NftRunner;
  readonly clock: { now(): number };
  /** longest element timeout, seconds (matches the guard's max TTL) */
  readonly maxTtl?: number;
  /** how `load()` runs nft, default ["nft"] */
  readonly nft?: readonly string[];
}

interface Tracked {
  expiryMs: number;
  /** extra margin a refresh must add (1 s for elements read back from the kernel) */
  slackMs: number;
  ready: Promise<void>;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function createSetProgrammer(o: ProgrammerOptions): SetProgrammer {
  if (!TABLE_NAME.test(o.table)) throw new Error(`invalid nftables table name '${o.table}'`);
  const maxTtl = o.maxTtl ?? 86_400;
  const tracked = new Map<string, Tracked>();
  /** set|ip -> latest expiry of any element for that address (for SVCB hints) */
  const byAddress = new Map<string, number>();
  let pruneAt = 4096;

  const keyOf = (e: Pick<DynamicElement, "set" | "ip" | "protocol" | "portRange">): string =>
    `${e.set}|${e.ip}|${e.protocol}|${e.portRange ? portText(e.portRange) : ""}`;

  function prune(now: number): void {
    if (tracked.size < pruneAt) return;
    for (const [k, t] of tracked) if (t.expiryMs <= now) tracked.delete(k);
    for (const [k, e] of byAddress) if (e <= now) byAddress.delete(k);
    pruneAt = Math.max(4096, tracked.size * 2);
  }

  function setsOf(grants: readonly Grant[]): string[] {
    const out: string[] = [];
    for (const g of grants) {
      const rule = o.policy.rules[g.order];
      if (!rule || rule.name !== g.rule) continue;
      const s = dynamicSetNames(o.policy, rule);
      if (s) out.push(s.v4, s.v6, ...(s.icmp4 ? [s.icmp4] : []), ...(s.icmp6 ? [s.icmp6] : []));
    }
    return out;
  }

  return {
    async program(entries, minTtl) {
      const now = o.clock.now();
      prune(now);
      const send: DynamicElement[] = [];
      const waits: Promise<void>[] = [];
      const mine: Array<[string, Tracked]> = [];
      let resolveBatch!: () => void;
      let rejectBatch!: (e: unknown) => void;
      const batch = new Promise<void>((res, rej) => {
        resolveBatch = res;
        rejectBatch = rej;
      });
      batch.catch(() => {
        /* observed through the awaits below */
      });
      for (const { grants, address: a } of entries) {
        const lifetime = Math.max(Math.min(Math.max(a.ttl, 0), maxTtl), minTtl, 1);
        for (const g of grants) {
          for (const e of elementsForGrant(o.policy, g, { family: a.family, text: a.ip }, lifetime)) {
            const k = keyOf(e);
            const t = tracked.get(k);
            // fresh enough: the element outlives the client's TTL and leaves half of min_ttl to connect
            if (t !== undefined && t.expiryMs >= now + Math.max(a.ttl, minTtl / 2) * 1000) {
              waits.push(t.ready);
              continue;
            }
            let timeoutSec = lifetime;
            if (t !== undefined && t.expiryMs + t.slackMs > now + lifetime * 1000) timeoutSec = Math.ceil((t.expiryMs + t.slackMs - now) / 1000);
            const expiryMs = now + timeoutSec * 1000;
            const entry: Tracked = { expiryMs, slackMs: 0, ready: batch };
            tracked.set(k, entry);
            mine.push([k, entry]);
            const ak = `${e.set}|${e.ip}`;
            byAddress.set(ak, Math.max(byAddress.get(ak) ?? 0, expiryMs));
            send.push({ ...e, timeoutSeconds: timeoutSec });
          }
        }
      }
      if (send.length > 0) {
        try {
          await o.runner.apply(renderSetElements(o.table, send));
          resolveBatch();
        } catch (err) {
          // forget what we claimed, so the next answer tries again
          for (const [k, entry] of mine) if (tracked.get(k) === entry) tracked.delete(k);
          rejectBatch(err);
          throw err;
        }
      } else resolveBatch();
      await Promise.all(waits);
      return send.length;
    },

    holds(grants, ip) {
      const now = o.clock.now();
      for (const s of setsOf(grants)) if ((byAddress.get(`${s}|${ip}`) ?? 0) > now) return true;
      return false;
    },

    async load() {
      const now = o.clock.now();
      let n = 0;
      for (const rule of o.policy.rules) {
        const s = dynamicSetNames(o.policy, rule);
        if (!s) continue;
        for (const set of [s.v4, s.v6, s.icmp4, s.icmp6]) {
          if (set === null) continue;
          let json: string;
          try {
            json = (await execTool(o.nft?.[0] ?? "nft", [...(o.nft?.slice(1) ?? []), "-j", "list", "set", "inet", o.table, set])).stdout;
          } catch {
            continue; // the set does not exist (yet): nothing to keep
          }
          for (const el of parseSetElements(json)) {
            const e = { set, ip: el.ip, protocol: el.protocol, portRange: el.portRange };
            const k = keyOf(e);
            const expiryMs = now + el.expiresSec * 1000;
            const t = tracked.get(k);
            if (t === undefined || t.expiryMs < expiryMs) tracked.set(k, { expiryMs, slackMs: 1000, ready: Promise.resolve() });
            const ak = `${set}|${el.ip}`;
            byAddress.set(ak, Math.max(byAddress.get(ak) ?? 0, expiryMs));
            n++;
          }
        }
      }
      return n;
    },

    size: () => tracked.size,
  };
}

export interface LiveElement {
  readonly ip: string;
  readonly protocol: "tcp" | "udp" | "icmp";
  readonly portRange: { readonly from: number; readonly to: number } | null;
  /** whole seconds left (nft -j rounds down) */
  readonly expiresSec: number;
}

/** Elements of one `nft -j list set` answer. Elements without a timeout/expiry are skipped. */
export function parseSetElements(json: string): LiveElement[] {
  const out: LiveElement[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return out;
  }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  for (const item of items) {
    const set = (item as { set?: { elem?: unknown[] } }).set;
    if (!set?.elem) continue;
    for (const raw of set.elem) {
      const el = (raw as { elem?: { val?: unknown; expires?: number } }).elem;
      if (!el || typeof el.expires !== "number") continue;
      const val = el.val;
      if (typeof val === "string") {
        out.push({ ip: val, protocol: "icmp", portRange: null, expiresSec: el.expires });
        continue;
      }
      const concat = (val as { concat?: unknown[] } | undefined)?.concat;
      if (!Array.isArray(concat) || concat.length !== 3) continue;
      const [ip, proto, port] = concat;
      if (typeof ip !== "string" || (proto !== "tcp" && proto !== "udp")) continue;
      let portRange: LiveElement["portRange"] = null;
      if (typeof port === "number") portRange = { from: port, to: port };
      else {
        const r = (port as { range?: unknown[] } | undefined)?.range;
        if (Array.isArray(r) && typeof r[0] === "number" && typeof r[1] === "number") portRange = { from: r[0], to: r[1] };
      }
      if (portRange === null) continue;
      out.push({ ip, protocol: proto, portRange, expiresSec: el.expires });
    }
  }
  return out;
}
