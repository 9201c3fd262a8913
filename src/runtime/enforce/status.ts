/**
 * runtime/enforce/status — what `clawfence status` reports about an enforcer: its record,
 * whether it runs, the kernel's named counters and set sizes of its table, and whether its DNS
 * guard answers (a query for the DoH canary, which the guard answers itself, NXDOMAIN, without
 * asking an upstream).
 *
 * Map: record (state.ts) -> `nft -j list table inet T` -> parseTableCounts (pure) ->
 * probeGuard (one UDP query) -> EnforcerStatus. Reads only; changes nothing.
 */
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { execTool } from "../exec.ts";
import { pidAlive, type EnforcerRecord } from "./state.ts";

export interface TableCounts {
  readonly present: boolean;
  readonly counters: Record<string, { packets: number; bytes: number }>;
  /** elements per set */
  readonly sets: Record<string, number>;
}

export interface EnforcerStatus {
  readonly record: EnforcerRecord;
  readonly running: boolean;
  readonly table: TableCounts;
  readonly resolver: { readonly ok: boolean; readonly latencyMs: number | null; readonly error?: string };
  /** the enforcer runs no proxy (docs/enforce.md); kept in the shape for the JSON contract */
  readonly proxy: null;
}

export function parseTableCounts(json: string): TableCounts {
  const counters: TableCounts["counters"] = {};
  const sets: TableCounts["sets"] = {};
  let doc: { nftables?: unknown[] };
  try {
    doc = JSON.parse(json) as { nftables?: unknown[] };
  } catch {
    return { present: false, counters, sets };
  }
  for (const item of doc.nftables ?? []) {
    const c = (item as { counter?: { name?: string; packets?: number; bytes?: number } }).counter;
    if (c?.name !== undefined) counters[c.name] = { packets: c.packets ?? 0, bytes: c.bytes ?? 0 };
    const s = (item as { set?: { name?: string; elem?: unknown[] } }).set;
    if (s?.name !== undefined) sets[s.name] = s.elem?.length ?? 0;
  }
  return { present: true, counters, sets };
}

export async function readTableCounts(table: string): Promise<TableCounts> {
  try {
    return parseTableCounts((await execTool("nft", ["-j", "list", "table", "inet", table])).stdout);
  } catch {
    return { present: false, counters: {}, sets: {} };
  }
}

/** A query the guard answers on its own: `use-application-dns.net A` -> NXDOMAIN. */
export function canaryQuery(id: number): Buffer {
  const name = Buffer.concat(["use-application-dns", "net"].map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2); // RD
  head.writeUInt16BE(1, 4); // QDCOUNT
  return Buffer.concat([head, name, Buffer.from([0, 0, 1, 0, 1])]);
}

export function probeGuard(address: string, port: number, timeoutMs = 1500): Promise<EnforcerStatus["resolver"]> {
  return new Promise((resolve) => {
    const s = createSocket(address.includes(":") ? "udp6" : "udp4");
    const id = randomBytes(2).readUInt16BE(0);
    const t0 = performance.now();
    const done = (r: EnforcerStatus["resolver"]): void => {
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, latencyMs: null, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    s.on("error", (e) => done({ ok: false, latencyMs: null, error: e.message }));
    s.on("message", (m) => {
      if (m.length < 12 || m.readUInt16BE(0) !== id) return;
      const rcode = m.readUInt16BE(2) & 0xf;
      const ms = Math.round((performance.now() - t0) * 100) / 100;
      done(rcode === 3 ? { ok: true, latencyMs: ms } : { ok: false, latencyMs: ms, error: `unexpected rcode ${rcode}` });
    });
    s.send(canaryQuery(id), port, address);
  });
}

export async function enforcerStatus(rec: EnforcerRecord): Promise<EnforcerStatus> {
  const running = pidAlive(rec.pid);
  const table = await readTableCounts(rec.table);
  const resolver = running ? await probeGuard(rec.guard.address, rec.guard.port) : { ok: false, latencyMs: null, error: "the enforcer is not running" };
  return { record: rec, running, table, resolver, proxy: null };
}
