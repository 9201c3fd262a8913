/**
 * flows/exporters/jsonl — an EventSink that writes each event as one JSON line (the record of
 * flows/record.ts, the same shape `clawfence flows --format jsonl` prints) to a stream: a file,
 * stdout, a pipe.
 *
 * Map: emit() formats the line and writes it while the stream accepts more; when the stream
 * signals back-pressure, lines wait in a bounded queue until 'drain'; beyond `capacity` they are
 * dropped and counted (`dropped`). emit() never blocks and never throws; a stream error stops
 * the exporter (later events are counted as dropped) and is reported through `onError`.
 * `close()` resolves when the queue is written (it does not end the stream it was given).
 */
import type { EventSink, FlowEvent } from "../../runtime/events.ts";
import { eventToRecord } from "../record.ts";

export interface JsonlExporter extends EventSink {
  readonly dropped: number;
  readonly written: number;
  close(): Promise<void>;
}

export function createJsonlExporter(stream: NodeJS.WritableStream, opts: { capacity?: number; onError?: (err: Error) => void } = {}): JsonlExporter {
  const capacity = opts.capacity ?? 10_000;
  let queue: string[] = [];
  let waiting = false;
  let failed = false;
  let dropped = 0;
  let written = 0;
  let idle: Array<() => void> = [];
  const settle = (): void => {
    const w = idle;
    idle = [];
    for (const f of w) f();
  };
  stream.on("error", (err: Error) => {
    if (failed) return;
    failed = true;
    dropped += queue.length;
    queue = [];
    opts.onError?.(err);
    settle();
  });
  const onDrain = (): void => {
    waiting = false;
    if (queue.length > 0 && !failed) {
      const lines = queue.join("");
      written += queue.length;
      queue = [];
      if (!stream.write(lines)) {
        waiting = true;
        stream.once("drain", onDrain);
        return;
      }
    }
    settle();
  };
  return {
    get dropped(): number {
      return dropped;
    },
    get written(): number {
      return written;
    },
    emit(e: FlowEvent): void {
      if (failed) {
        dropped++;
        return;
      }
      let line: string;
      try {
        line = `${JSON.stringify(eventToRecord(e))}\n`;
      } catch {
        dropped++;
        return;
      }
      if (waiting) {
        if (queue.length >= capacity) dropped++;
        else queue.push(line);
        return;
      }
      written++;
      try {
        if (!stream.write(line)) {
          waiting = true;
          stream.once("drain", onDrain);
        }
      } catch {
        dropped++;
      }
    },
    close(): Promise<void> {
      if (!waiting || failed) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
  };
}
