/**
 * flows/store-worker — the worker thread that owns a flow store's SQLite handle.
 *
 * Map: store.ts posts `{ type: "batch", seq, n, text, dropped }`: the batch's `n` row bodies
 * (writer.ts prepareEvents, converted on the emitting thread) joined by "\n" (JSON text has no
 * raw newline), one string because a string is far cheaper to post than objects. This thread
 * writes each batch in one transaction (flows/writer.ts `writeBodies`), adds it to the shared counters (committed events,
 * transactions; store.ts's flush()/close() wait on them with Atomics.wait) and answers
 * `{ type: "done", seq, n, ms }`. A failed write is answered `{ type: "error", ... }` and the
 * batch is retried (oldest first, so the chain keeps emission order) every 100 ms; the main
 * thread counts drops while its memory bound is reached. `{ type: "close" }` writes what is
 * pending (one attempt), closes the file and sets the shared `closed` slot.
 * Only ever started by store.ts; reads its options from workerData.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openBatchWriter } from "./writer.ts";

interface Batch {
  readonly seq: number;
  readonly bodies: string[];
  readonly dropped: number;
}
type Msg = { type: "batch"; seq: number; n: number; text: string; dropped: number } | { type: "close" };

/** slots: committed events, transactions, closed, lost, epoch, longest transaction in µs (see store.ts SHARED) */
const COMMITTED = 0;
const TRANSACTIONS = 1;
const CLOSED = 2;
const LOST = 3;
const EPOCH = 4;
const MAX_FLUSH_US = 5;

const port = parentPort;
if (port !== null) {
  const { path, busyTimeoutMs, shared } = workerData as { path: string; busyTimeoutMs: number; shared: BigInt64Array };
  const bump = (): void => {
    Atomics.add(shared, EPOCH, 1n);
    Atomics.notify(shared, EPOCH);
  };
  const writer = openBatchWriter(path, { busyTimeoutMs });
  const pending: Batch[] = [];
  let retry: NodeJS.Timeout | null = null;
  let closing = false;

  const drain = (): void => {
    while (pending.length > 0) {
      const b = pending[0] as Batch;
      try {
        const ms = writer.writeBodies(b.bodies, null, b.dropped);
        pending.shift();
        Atomics.add(shared, COMMITTED, BigInt(b.bodies.length));
        Atomics.add(shared, TRANSACTIONS, 1n);
        const us = BigInt(Math.round(ms * 1000));
        if (us > Atomics.load(shared, MAX_FLUSH_US)) Atomics.store(shared, MAX_FLUSH_US, us);
        bump();
        port.postMessage({ type: "done", seq: b.seq, n: b.bodies.length, ms });
      } catch (e) {
        const err = e as Error & { code?: string };
        port.postMessage({ type: "error", seq: b.seq, message: err.message, code: err.code ?? "" });
        if (!closing && retry === null) {
          retry = setTimeout(() => {
            retry = null;
            drain();
          }, 100);
        }
        return;
      }
    }
  };

  port.on("message", (m: Msg) => {
    if (m.type === "batch") {
      pending.push({ seq: m.seq, bodies: m.n > 0 ? m.text.split("\n") : [], dropped: m.dropped });
      if (retry === null) drain();
      return;
    }
    closing = true;
    if (retry !== null) {
      clearTimeout(retry);
      retry = null;
    }
    drain();
    Atomics.store(shared, LOST, BigInt(pending.reduce((n, b) => n + b.bodies.length, 0)));
    writer.close();
    Atomics.store(shared, CLOSED, 1n);
    bump();
    port.close();
  });
}
