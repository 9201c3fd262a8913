/**
 * flows/exporters/metrics — Prometheus metrics for `run` and long-running enforcement: an
 * EventSink that counts decisions, and an HTTP endpoint serving the text exposition format
 * (version 0.0.4) on GET /metrics.
 *
 *   clawfence_decisions_total{kind,rule,verdict,enforced}      counter
 *   clawfence_dns_latency_seconds                              histogram (kind "dns", latency_ms)
 *   clawfence_proxy_connect_seconds                            histogram (kind "proxy"/"connect", latency_ms)
 *   clawfence_flow_events_dropped_total{sink}                  counter, read from each source given
 *
 * Label values are bounded by the policy (rule names) and closed sets (kind, verdict), so the
 * series count stays small. emit() is a few map updates; it never blocks or throws. The server
 * is a plain node:http listener on the address given; `close()` stops it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { EventSink, FlowEvent } from "../../runtime/events.ts";

/** Histogram bucket upper bounds in seconds (100 µs .. 10 s). */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

class Histogram {
  readonly counts: number[] = LATENCY_BUCKETS.map(() => 0);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= (LATENCY_BUCKETS[i] as number)) (this.counts[i] as number)++;
  }
  render(name: string): string[] {
    const out = LATENCY_BUCKETS.map((le, i) => `${name}_bucket{le="${le}"} ${this.counts[i] ?? 0}`);
    out.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return out;
  }
}

/** Label value escaping of the text format: backslash, double quote, newline. */
export function labelEscape(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export interface Metrics extends EventSink {
  /** count events dropped by another sink (the store, syslog, ...): read at every scrape */
  addDropSource(sink: string, read: () => number): void;
  /** the exposition text */
  render(): string;
  /** serve GET /metrics on host:port (port 0: any free port); resolves with the bound address */
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export function createMetrics(): Metrics {
  const decisions = new Map<string, number>();
  const dns = new Histogram();
  const proxy = new Histogram();
  const dropSources = new Map<string, () => number>();
  let server: Server | null = null;

  const metrics: Metrics = {
    emit(e: FlowEvent): void {
      const key = `kind="${labelEscape(String(e.kind))}",rule="${labelEscape(String(e.rule))}",verdict="${labelEscape(String(e.verdict))}",enforced="${e.enforced === false ? "false" : "true"}"`;
      decisions.set(key, (decisions.get(key) ?? 0) + 1);
      const lat = e.latency_ms;
      if (typeof lat === "number" && Number.isFinite(lat) && lat >= 0) {
        if (e.kind === "dns") dns.observe(lat / 1000);
        else if (e.kind === "proxy" || e.kind === "connect") proxy.observe(lat / 1000);
      }
    },
    addDropSource(sink: string, read: () => number): void {
      dropSources.set(sink, read);
    },
    render(): string {
      const lines: string[] = [
        "# HELP clawfence_decisions_total Flow decisions by kind, rule, verdict and enforcement.",
        "# TYPE clawfence_decisions_total counter",
      ];
      for (const [k, v] of [...decisions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) lines.push(`clawfence_decisions_total{${k}} ${v}`);
      lines.push("# HELP clawfence_dns_latency_seconds Time the DNS guard added to answered queries.", "# TYPE clawfence_dns_latency_seconds histogram", ...dns.render("clawfence_dns_latency_seconds"));
      lines.push("# HELP clawfence_proxy_connect_seconds Time the proxy took to decide and connect.", "# TYPE clawfence_proxy_connect_seconds histogram", ...proxy.render("clawfence_proxy_connect_seconds"));
      lines.push("# HELP clawfence_flow_events_dropped_total Flow events a sink had to drop (never blocks the data path).", "# TYPE clawfence_flow_events_dropped_total counter");
      for (const [sink, read] of dropSources) {
        let n = 0;
        try {
          n = read();
        } catch {
          n = Number.NaN;
        }
        lines.push(`clawfence_flow_events_dropped_total{sink="${labelEscape(sink)}"} ${n}`);
      }
      return `${lines.join("\n")}\n`;
    },
    listen(host: string, port: number): Promise<{ host: string; port: number }> {
      const srv = createServer((req, res) => {
        const path = (req.url ?? "").split("?")[0];
        if (req.method !== "GET" && req.method !== "HEAD") {
          res.writeHead(405, { allow: "GET, HEAD" }).end();
          return;
        }
        if (path !== "/metrics") {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found; metrics are at /metrics\n");
          return;
        }
        const body = metrics.render();
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(body) });
        res.end(req.method === "HEAD" ? undefined : body);
      });
      server = srv;
      return new Promise((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(port, host, () => {
          const a = srv.address() as AddressInfo;
          resolve({ host: a.address, port: a.port });
        });
      });
    },
    close(): Promise<void> {
      const srv = server;
      server = null;
      if (!srv) return Promise.resolve();
      return new Promise((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      });
    },
  };
  return metrics;
}
