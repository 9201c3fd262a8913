/**
 * runtime/enforce/live — the dynamic elements that must survive a reload or a restart.
 *
 * The kernel's dynamic sets hold (address, protocol, port, expiry) but not the name an address
 * was answered for, and the sets themselves are named after rule orders that a new policy may
 * change. So, as docs/nft-layout.md ("Atomic apply and reload") asks, elements are re-derived,
 * never copied: the enforcer keeps a bounded book of (name -> addresses) from the guard's
 * answers (`createNameBook`, saved in the state directory so a restart has it too), reads
 * what the kernel still holds (`parseLiveExpiries`: seconds left per address, the longest over
 * every dynamic set), and asks the *new* policy's decider what each live (name, address)
 * may reach (`reprogramElements`), for the time the kernel had left.
 *
 * Map: FlowEvent(dns, answers) -> book.add; reload: nft -j list table -> parseLiveExpiries
 * -> reprogramElements(new policy, decider, book, live) -> renderSetElements text, appended to
 * the table's replacement in the same `nft -f`. Pure except `readLiveExpiries` (runs nft).
 */
import type { Policy } from "../../policy/ir.ts";
import type { Decider } from "../../match/decide.ts";
import { formatIp, parseIp } from "../../policy/addr.ts";
import { elementsForGrant, portText, renderSetElements, type DynamicElement } from "../../compile/nftables/layout.ts";
import { parseSetElements } from "../nft/programmer.ts";
import { execTool } from "../exec.ts";

export interface NameBook {
  /** remember that `name` was answered with `ips` */
  add(name: string, ips: readonly string[]): void;
  entries(): Array<[string, string[]]>;
  /** forget addresses the kernel no longer holds */
  retain(live: ReadonlyMap<string, number>): void;
  size(): number;
  toJSON(): Record<string, string[]>;
}

/** A book of at most `max` (name, address) pairs; the oldest names are forgotten first. */
export function createNameBook(max = 50_000, initial: Readonly<Record<string, readonly string[]>> = {}): NameBook {
  const book = new Map<string, Set<string>>();
  let pairs = 0;
  const add = (name: string, ips: readonly string[]): void => {
    let set = book.get(name);
    if (set === undefined) {
      set = new Set();
      book.set(name, set);
    } else {
      // most recently answered last
      book.delete(name);
      book.set(name, set);
    }
    for (const ip of ips) {
      if (set.has(ip)) continue;
      set.add(ip);
      pairs++;
    }
    while (pairs > max) {
      const oldest = book.entries().next();
      if (oldest.done) break;
      pairs -= oldest.value[1].size;
      book.delete(oldest.value[0]);
    }
  };
  for (const [n, ips] of Object.entries(initial)) if (Array.isArray(ips)) add(n, ips.filter((x) => typeof x === "string"));
  return {
    add,
    entries: () => [...book].map(([n, s]) => [n, [...s]]),
    retain(live) {
      for (const [n, s] of book) {
        for (const ip of s) {
          if (live.has(ip)) continue;
          s.delete(ip);
          pairs--;
        }
        if (s.size === 0) book.delete(n);
      }
    },
    size: () => pairs,
    toJSON: () => Object.fromEntries([...book].map(([n, s]) => [n, [...s]])),
  };
}

/**
 * Seconds left per address over every set with timeouts in an `nft -j list table` answer
 * (the dynamic sets; static sets have no expiry). Addresses are canonical text.
 */
export function parseLiveExpiries(json: string): Map<string, number> {
  const out = new Map<string, number>();
  let doc: { nftables?: unknown[] };
  try {
    doc = JSON.parse(json) as { nftables?: unknown[] };
  } catch {
    return out;
  }
  for (const item of doc.nftables ?? []) {
    if (typeof item !== "object" || item === null || !("set" in item)) continue;
    for (const el of parseSetElements(JSON.stringify({ nftables: [item] }))) {
      const ip = parseIp(el.ip);
      if (ip === null || el.expiresSec <= 0) continue;
      const k = formatIp(ip);
      out.set(k, Math.max(out.get(k) ?? 0, el.expiresSec));
    }
  }
  return out;
}

/** What the kernel holds in `table` now (empty when the table does not exist). */
export async function readLiveExpiries(table: string, nft: readonly string[] = ["nft"]): Promise<Map<string, number>> {
  try {
    const r = await execTool(nft[0] ?? "nft", [...nft.slice(1), "-j", "list", "table", "inet", table]);
    return parseLiveExpiries(r.stdout);
  } catch {
    return new Map();
  }
}

export interface Reprogram {
  readonly elements: readonly DynamicElement[];
  /** `nft -f` text adding them to `table` */
  readonly text: string;
  /** live (name, address) pairs the new policy grants nothing (they stay closed) */
  readonly dropped: number;
}

/**
 * The elements the new policy opens for every live (name, address) of the book, each for the
 * time the kernel had left (at least 1 s). An address the new policy no longer grants for its
 * name gets nothing: the reload closes it (its established connections go on, by conntrack).
 */
export function reprogramElements(policy: Policy, decider: Pick<Decider, "decideAddress">, table: string, book: NameBook, live: ReadonlyMap<string, number>, phase?: string): Reprogram {
  const byKey = new Map<string, DynamicElement>();
  let dropped = 0;
  for (const [name, ips] of book.entries()) {
    for (const text of ips) {
      const left = live.get(text);
      if (left === undefined) continue;
      const ip = parseIp(text);
      if (ip === null) continue;
      const d = decider.decideAddress(name, ip, phase);
      let any = false;
      for (const g of d.grants) {
        for (const e of elementsForGrant(policy, g, { family: ip.family, text: formatIp(ip) }, left)) {
          any = true;
          const k = `${e.set}|${e.ip}|${e.protocol}|${e.portRange ? portText(e.portRange) : ""}`;
          const prev = byKey.get(k);
          if (prev === undefined || prev.timeoutSeconds < e.timeoutSeconds) byKey.set(k, e);
        }
      }
      if (!any) dropped++;
    }
  }
  const elements = [...byKey.values()];
  return { elements, text: renderSetElements(table, elements), dropped };
}
