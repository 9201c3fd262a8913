/**
 * flows/exporters — where flow events go besides the store: JSON lines, syslog over TLS,
 * Prometheus metrics, and `fanout` to hand one event to several sinks. Each is an EventSink
 * (runtime/events.ts) whose emit() never blocks and counts what it drops.
 */
export { fanout, type Fanout } from "./fanout.ts";
export { createJsonlExporter, type JsonlExporter } from "./jsonl.ts";
export { createSyslogExporter, formatSyslog, frame, type SyslogExporter, type SyslogOptions } from "./syslog.ts";
export { createMetrics, LATENCY_BUCKETS, type Metrics } from "./metrics.ts";
