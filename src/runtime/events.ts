/**
 * runtime/events — the flow event: one value per decision (DNS answer, connection, proxy
 * request, packet), and the sink it goes to.
 *
 * Map: the DNS guard, the proxy and the packet logger build a `FlowEvent` for every decision,
 * allow and deny, and hand it to `emitFlow()`, which calls the injected `EventSink` (the flow
 * store batches them into SQLite) and publishes the same object on the `clawfence:flow`
 * diagnostics channel for anyone else who subscribes (tests, loggers).
 *
 * The data path never waits on logging: `EventSink.emit` must return at once. A sink that
 * has to drop events counts them (`dropped`) instead of losing them silently.
 *
 * Imports node:diagnostics_channel only (no sockets, files or clock).
 */
import { channel } from "node:diagnostics_channel";
import type { Reason, RuleRef } from "../match/decision.ts";
import type { Action } from "../policy/ir.ts";

/** The name of the diagnostics channel every flow event is published on. */
export const FLOW_CHANNEL = "clawfence:flow";

export type FlowKind = "dns" | "connect" | "proxy" | "packet";

/**
 * One decision, as stored and printed by `clawfence flows --format jsonl`. The first block is
 * the contract of PRODUCT.md section 5; the optional fields are filled by whoever knows them.
 */
export interface FlowEvent {
  /** ISO 8601 time of the decision */
  readonly ts: string;
  readonly kind: FlowKind;
  /** the name asked for or connected to; null when only an address is known */
  readonly name: string | null;
  /** destination address; null for a DNS question (see `answers`) */
  readonly dst_ip: string | null;
  readonly dst_port: number | null;
  /** transport protocol of the flow ("udp"/"tcp" for the DNS query itself) */
  readonly proto: "tcp" | "udp" | "icmp" | null;
  readonly verdict: Action;
  /** false only when a deny was downgraded by monitor mode ("would deny") */
  readonly enforced: boolean;
  readonly rule: RuleRef;
  readonly reason: Reason;
  /** free-text detail for people (which heuristic fired, which addresses were removed, ...) */
  readonly detail?: string;
  /** DNS question type ("A", "AAAA", "HTTPS", ...) */
  readonly qtype?: string;
  /** DNS response code sent to the client ("NOERROR", "REFUSED", "SERVFAIL", ...) */
  readonly rcode?: string;
  /** the client that asked or connected, "ip" or "ip:port" */
  readonly client?: string;
  /** addresses handed to the client (DNS) */
  readonly answers?: readonly string[];
  /** addresses removed from an answer (special-purpose ranges outside `internal`) */
  readonly removed?: readonly string[];
  /** time the decision added to the flow, in milliseconds */
  readonly latency_ms?: number;
  readonly bytes_up?: number;
  readonly bytes_down?: number;
  readonly duration_ms?: number;
  /** which sandbox (clawfence run instance) the flow came from */
  readonly sandbox?: string;
  /** `Policy.hash` of the policy that decided */
  readonly policy_hash?: string;
  /** the policy phase the sandbox was enforcing (policies with `phases`; `clawfence run`) */
  readonly phase?: string;
}

/** Where flow events go. `emit` never blocks and never throws into the data path. */
export interface EventSink {
  emit(e: FlowEvent): void;
}

const flowChannel = channel(FLOW_CHANNEL);

/**
 * Hand `e` to the sink and publish it on the `clawfence:flow` channel. A sink that throws is
 * a bug in the sink; the data path goes on (the error is reported once on the channel's
 * `clawfence:flow:error` sibling so tests can see it).
 */
export function emitFlow(sink: EventSink, e: FlowEvent): void {
  try {
    sink.emit(e);
  } catch (err) {
    const errors = channel(`${FLOW_CHANNEL}:error`);
    if (errors.hasSubscribers) errors.publish({ event: e, error: err });
  }
  if (flowChannel.hasSubscribers) flowChannel.publish(e);
}

/** A sink that drops everything (for callers that only subscribe to the channel). */
export const nullSink: EventSink = { emit() {} };

/**
 * A bounded in-memory sink: keeps the last `capacity` events and counts the ones it had to
 * drop. For tests and for `serve.ts`; the flow store has its own batching sink.
 */
export function createMemorySink(capacity = 10_000): EventSink & { readonly events: FlowEvent[]; dropped: number } {
  const events: FlowEvent[] = [];
  const sink = {
    events,
    dropped: 0,
    emit(e: FlowEvent): void {
      if (events.length >= capacity) {
        events.shift();
        sink.dropped++;
      }
      events.push(e);
    },
  };
  return sink;
}
