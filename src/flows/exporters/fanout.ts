/**
 * flows/exporters/fanout — one EventSink that hands every event to several sinks.
 *
 * Map: the runner builds `fanout(store, metrics, syslog, jsonl)` and gives it to the DNS guard
 * and the proxy. Each sink is called in order; one that throws (a bug) does not keep the event
 * from the others and never reaches the data path: it is counted in `errors`.
 * No I/O of its own.
 */
import type { EventSink, FlowEvent } from "../../runtime/events.ts";

export interface Fanout extends EventSink {
  /** events a sink threw on (a bug in that sink) */
  readonly errors: number;
}

export function fanout(...sinks: readonly EventSink[]): Fanout {
  let errors = 0;
  return {
    get errors(): number {
      return errors;
    },
    emit(e: FlowEvent): void {
      for (const s of sinks) {
        try {
          s.emit(e);
        } catch {
          errors++;
        }
      }
    },
  };
}
