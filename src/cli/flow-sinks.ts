/**
 * cli/flow-sinks — where a running sandbox's decisions go: the flow store (--flows DB), a
 * one-line-per-deny log on stderr (unless --quiet), and the kernel's packet log (NFLOG).
 *
 * All sinks are non-blocking (EventSink contract); `close()` flushes them. The flow store
 * (node:sqlite) and the metrics server are imported only when asked for: `clawfence run`'s
 * start-up time counts (bench/run.bench.ts).
 */
import type { Policy } from "../policy/ir.ts";
import type { EventSink, FlowEvent } from "../runtime/events.ts";
import { createNflogReader } from "../runtime/nflog/reader.ts";
import { prefixMapperFor } from "../runtime/nflog/map.ts";
import type { RuntimeError } from "../runtime/errors.ts";
import { CliError } from "./errors.ts";

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
  /** serve Prometheus metrics on this address:port */
  readonly metrics?: string | undefined;
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
  if (o.db !== undefined) {
    const { openFlowStore } = await import("../flows/store.ts");
    const store = openFlowStore(o.db, {
      onError: (e) => o.stderr.write(`clawfence: warning CF_FLOWS_WRITE: ${e.message}\n`),
    });
    // every event carries the policy's content hash (PRODUCT.md section 5, flow store)
    sinks.push({ emit: (e) => store.emit(e.policy_hash === undefined ? { ...e, policy_hash: o.policy.hash } : e) });
    closers.push(async () => {
      store.close();
      const st = store.stats();
      if (st.dropped > 0) o.stderr.write(`clawfence: ${st.dropped} flow events could not be stored and were counted in ${o.db}\n`);
    });
  }
  if (o.metrics !== undefined) {
    const m = /^(.*):(\d+)$/.exec(o.metrics);
    if (!m || m[1] === undefined || m[2] === undefined) throw new CliError("CF_USAGE_ARGS", `--metrics '${o.metrics}' is not ADDRESS:PORT`, "write e.g. --metrics 127.0.0.1:9464");
    const { createMetrics } = await import("../flows/exporters/metrics.ts");
    const metrics = createMetrics();
    await metrics.listen(m[1].replace(/^\[(.*)\]$/, "$1"), Number(m[2]));
    sinks.push(metrics);
    closers.push(() => metrics.close());
  }
  const sink: EventSink = {
    emit(e) {
      for (const s of sinks) s.emit(e);
    },
  };
  // the kernel's drops (NFLOG): the policy table logs rule names, the frame table "host-side"
  const packetLog: FlowSinks["packetLog"] = async ({ group, id, policy }) => {
    const reader = createNflogReader({
      group,
      mapPrefix: prefixMapperFor(policy, { "host-side": { rule: "host-side", enforced: true, verdict: "deny", reason: "rule-deny" } }),
      sink,
      sandbox: id,
      policyHash: policy.hash,
      clock: { now: () => Date.now() },
      onError: (e: RuntimeError) => {
        o.stderr.write(`clawfence: warning ${e.code}: ${e.message} (kernel drops are no longer recorded; the firewall still enforces)\n`);
      },
    });
    await reader.start();
    return reader;
  };
  return {
    sink,
    packetLog,
    async close() {
      for (const c of closers) await c();
    },
  };
}
