/**
 * bench/flows — events/s into the flow store (target >= 100k/s, PRODUCT.md section 8), the
 * cost of the hash chain, and the longest pause a flush puts on the event loop.
 *
 * Measured in this run, on the same 200k synthetic events (seeded: DNS answers, connects,
 * proxy requests; allow, deny and would-deny; a few dozen rules):
 *   1. store: openFlowStore().emit() for every event, then close() (flushes) — the path the
 *      data path uses, hash chain included. Files in a temp dir (tmpfs or disk, as the
 *      machine has it).
 *   2. baseline "raw insert": the same rows (already converted) into the same schema with one
 *      prepared INSERT in one transaction, no chain, no batching.
 *   3. baseline "jsonl append": the same events as JSON lines appended to a file in 64 KiB writes.
 *   4. pause: events emitted from a timer at ~200k/s for 2 s while the store's own timer
 *      flushes; the event loop's longest stall (perf_hooks monitorEventLoopDelay) and the
 *      longest single write transaction (stats().maxFlushMs), and any drops.
 */
import { mkdtempSync, rmSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { openFlowStore } from "../src/flows/store.ts";
import { eventToRow } from "../src/flows/record.ts";
import { HASHED_COLUMNS, ensureSchema } from "../src/flows/schema.ts";
import type { FlowEvent } from "../src/runtime/events.ts";
import { emitter, prng } from "./lib.ts";

const N = 100_000;
const dir = mkdtempSync(join(tmpdir(), "cf-flows-bench-"));

const rnd = prng(0xf10e5);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
const RULES = Array.from({ length: 40 }, (_, i) => `rule-${i}`);
const NAMES = Array.from({ length: 5000 }, (_, i) => `host${i}.svc${i % 97}.example.com`);
const POLICY = "9f2c".repeat(16);

function makeEvent(i: number): FlowEvent {
  const kind = pick(["dns", "dns", "connect", "proxy"] as const);
  const verdictRoll = rnd();
  const verdict = verdictRoll < 0.7 ? "allow" : "deny";
  const enforced = !(verdict === "deny" && verdictRoll > 0.95);
  const rule = verdict === "allow" ? pick(RULES) : pick([...RULES.slice(0, 5), "default"]);
  const ip = `203.0.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`;
  const base = {
    ts: new Date(1_735_689_600_000 + i).toISOString(),
    kind,
    name: pick(NAMES),
    verdict,
    enforced,
    rule,
    reason: verdict === "allow" ? "rule-allow" : rule === "default" ? "default-deny" : "rule-deny",
    sandbox: "sbx-bench",
    policy_hash: POLICY,
    client: "10.200.0.2:40000",
  } as const;
  if (kind === "dns") return { ...base, dst_ip: null, dst_port: null, proto: "udp", qtype: "A", rcode: verdict === "allow" ? "NOERROR" : "REFUSED", answers: verdict === "allow" ? [ip] : [], latency_ms: rnd() * 2 };
  return { ...base, dst_ip: ip, dst_port: 443, proto: "tcp", latency_ms: rnd() * 5, bytes_up: Math.floor(rnd() * 1e5), bytes_down: Math.floor(rnd() * 1e6), duration_ms: rnd() * 1000 };
}

const events = Array.from({ length: N }, (_, i) => makeEvent(i));

const out = emitter("flows");

// 1. the store
interface Rate {
  /** events per second of wall-clock time */
  wall: number;
  /** events per CPU second of this process (all threads) */
  cpu: number;
}
function measure(f: () => void): Rate {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const c = process.cpuUsage(c0);
  return { wall: N / ((performance.now() - t0) / 1000), cpu: N / ((c.user + c.system) / 1e6) };
}
const best = (rs: Rate[]): Rate => ({ wall: Math.max(...rs.map((r) => r.wall)), cpu: Math.max(...rs.map((r) => r.cpu)) });

function storeRun(file: string, thread: "worker" | "inline"): Rate {
  let written = 0;
  const r = measure(() => {
    const s = openFlowStore(file, { queueCapacity: N + 1, thread });
    for (const e of events) s.emit(e);
    s.close();
    written = s.stats().written;
  });
  if (written !== N) throw new Error(`store wrote ${written} of ${N}`);
  return r;
}

// 2. baseline: raw insert, one transaction, no chain
function rawRun(file: string): Rate {
  const rows = events.map((e, i) => ({ ...eventToRow(e, 0), id: i + 1, dropped_total: 0 }));
  return measure(() => {
  const db = new DatabaseSync(file);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  ensureSchema(db, file, { create: true });
  const ins = db.prepare(`INSERT INTO flows (${HASHED_COLUMNS.join(", ")}, prev_hash, row_hash) VALUES (${HASHED_COLUMNS.map(() => "?").join(", ")}, '', '')`);
  db.exec("BEGIN");
  for (const r of rows) ins.run(...HASHED_COLUMNS.map((c) => r[c]));
  db.exec("COMMIT");
  db.close();
  });
}

// 3. baseline: JSONL append
function jsonlRun(file: string): Rate {
  return measure(() => {
  const fd = openSync(file, "a");
  let buf = "";
  for (const e of events) {
    buf += `${JSON.stringify(e)}\n`;
    if (buf.length >= 65536) {
      writeSync(fd, buf);
      buf = "";
    }
  }
  if (buf) writeSync(fd, buf);
  closeSync(fd);
  });
}

// 4. pause under a steady load
async function pauseRun(file: string, thread: "worker" | "inline"): Promise<{ loopMaxMs: number; maxPauseMs: number; maxFlushMs: number; dropped: number; written: number; rate: number }> {
  const s = openFlowStore(file, { thread });
  const h = monitorEventLoopDelay({ resolution: 1 });
  const perTick = 2000; // every 10 ms -> 200k/s
  let i = 0;
  h.enable();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      for (let k = 0; k < perTick; k++) s.emit(events[i++ % N] as FlowEvent);
      if (performance.now() - t0 > 2000) {
        clearInterval(t);
        resolve();
      }
    }, 10);
  });
  // let the store drain on its own timer
  while (s.stats().queued > 0) await new Promise((r) => setTimeout(r, 20));
  h.disable();
  const st = s.stats();
  const rate = st.written / ((performance.now() - t0) / 1000);
  s.close();
  return { loopMaxMs: h.max / 1e6, maxPauseMs: st.maxPauseMs, maxFlushMs: st.maxFlushMs, dropped: st.dropped, written: st.written, rate };
}

try {
  // warm-up (JIT, crypto, SQLite page cache), then the measured runs, best of 3
  storeRun(join(dir, "warm.db"), "worker");
  storeRun(join(dir, "warm-i.db"), "inline");
  const store = best([0, 1, 2].map((k) => storeRun(join(dir, `store${k}.db`), "worker")));
  const inline = best([0, 1, 2].map((k) => storeRun(join(dir, `inline${k}.db`), "inline")));
  const raw = best([0, 1, 2].map((k) => rawRun(join(dir, `raw${k}.db`))));
  const jsonl = best([0, 1, 2].map((k) => jsonlRun(join(dir, `j${k}.jsonl`))));
  const wallNote = (r: Rate, b: Rate): string => `wall clock: ${Math.round(r.wall)}/s vs ${Math.round(b.wall)}/s`;
  out({ metric: "events/s into the store per CPU second (worker writer, hash chain)", value: Math.round(store.cpu), unit: "1/s", baseline: Math.round(raw.cpu), baseline_name: "raw INSERT, one transaction, no chain", ratio: store.cpu / raw.cpu, target: ">= 100k/s", pass: store.cpu >= 100_000, note: wallNote(store, raw) });
  out({ metric: "events/s into the store per CPU second (inline writer)", value: Math.round(inline.cpu), unit: "1/s", baseline: Math.round(raw.cpu), baseline_name: "raw INSERT, one transaction, no chain", ratio: inline.cpu / raw.cpu, target: ">= 100k/s", pass: inline.cpu >= 100_000, note: wallNote(inline, raw) });
  out({ metric: "events/s into the store vs JSONL append (per CPU second)", value: Math.round(store.cpu), unit: "1/s", baseline: Math.round(jsonl.cpu), baseline_name: "JSON lines appended to a file", ratio: store.cpu / jsonl.cpu, note: wallNote(store, jsonl) });
  const w = await pauseRun(join(dir, "pause-w.db"), "worker");
  const i = await pauseRun(join(dir, "pause-i.db"), "inline");
  out({
    metric: "longest hold of the emitting thread per batch, ~200k events/s offered (worker writer)",
    value: Number(w.maxPauseMs.toFixed(3)),
    unit: "ms",
    baseline: Number(i.maxPauseMs.toFixed(3)),
    baseline_name: "inline writer (SQLite on the same thread, batches of 1000)",
    ratio: w.maxPauseMs / i.maxPauseMs,
    note: `event-loop max delay worker ${w.loopMaxMs.toFixed(1)} ms vs inline ${i.loopMaxMs.toFixed(1)} ms; worker: written ${w.written}, dropped ${w.dropped}, sustained ${Math.round(w.rate)}/s, longest transaction ${w.maxFlushMs.toFixed(1)} ms; inline: dropped ${i.dropped}, sustained ${Math.round(i.rate)}/s`,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
