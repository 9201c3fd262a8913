/**
 * flows/exporters/syslog — an EventSink that sends each event as an RFC 5424 syslog message over
 * TLS (RFC 5425: octet-counting framing, port 6514), e.g. to the seed 001 log collector.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [flow@32473 verdict="deny" enforced="true"
 *   rule="default" reason="default-deny" kind="connect" name="..." dst_ip="..." ...] MSG
 *
 * PRI = facility (default 13, "log audit") * 8 + severity (deny 4 warning, would-deny 5 notice,
 * allow 6 informational). MSGID is the event kind. The SD-ID's enterprise number is 32473,
 * the one IANA reserves for documentation (RFC 5612); set `sdId` to your own.
 *
 * Map: emit() formats and queues the frame (bounded: beyond `capacity` frames are dropped and
 * counted); a connection writes the queue while the socket accepts it. When the connection fails
 * or closes, it is re-established with exponential backoff (100 ms doubling to 30 s). emit()
 * never blocks, never throws, never waits for the network. Syslog over TLS has no
 * acknowledgement: frames written into a connection that then breaks can be lost unseen.
 * Owns one socket at a time; `close()` sends what is queued (up to a timeout) and stops.
 */
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { isIP } from "node:net";
import { hostname as osHostname } from "node:os";
import type { EventSink, FlowEvent } from "../../runtime/events.ts";
import { eventToRecord, verdictLabel, type FlowRecord } from "../record.ts";

export interface SyslogOptions {
  readonly host: string;
  /** default 6514 */
  readonly port?: number;
  /** PEM CA certificate(s) that sign the collector's certificate */
  readonly ca?: string | Buffer | Array<string | Buffer>;
  /** PEM client certificate and key, when the collector asks for one (x509 mutual auth) */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** the name in the collector's certificate (default: `host` when it is a name) */
  readonly servername?: string;
  /** default "clawfence" */
  readonly appName?: string;
  /** default os.hostname() */
  readonly hostname?: string;
  /** default 13 (log audit) */
  readonly facility?: number;
  /** default "flow@32473" */
  readonly sdId?: string;
  /** frames held while disconnected or back-pressured (default 10_000) */
  readonly capacity?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly onError?: (err: Error) => void;
  /** the process id written in PROCID (default process.pid) */
  readonly procId?: string;
}

export interface SyslogExporter extends EventSink {
  readonly stats: () => { readonly queued: number; readonly sent: number; readonly dropped: number; readonly connects: number; readonly connected: boolean };
  /** send what is queued (waiting at most `timeoutMs`, default 5000), then disconnect and stop */
  close(timeoutMs?: number): Promise<void>;
}

const SD_FIELDS = ["verdict", "enforced", "rule", "reason", "kind", "name", "qtype", "rcode", "dst_ip", "dst_port", "proto", "client", "sandbox", "policy_hash", "latency_ms"] as const;

/** PARAM-VALUE escaping (RFC 5424 6.3.3): backslash, double quote and ']' get a backslash. */
export function sdEscape(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** RFC 5424 header fields: printable US-ASCII without spaces, bounded length, "-" when empty. */
function headerField(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return s === "" ? "-" : s;
}

export function severityOf(r: Pick<FlowRecord, "verdict" | "enforced">): number {
  switch (verdictLabel(r.verdict, r.enforced)) {
    case "deny":
      return 4;
    case "would-deny":
      return 5;
    case "allow":
      return 6;
  }
}

function summary(r: FlowRecord): string {
  const dst = r.dst_ip !== null ? `${r.dst_ip.includes(":") ? `[${r.dst_ip}]` : r.dst_ip}${r.dst_port !== null ? `:${r.dst_port}` : ""}${r.proto ? `/${r.proto}` : ""}` : "";
  const what = [r.name, dst].filter((x) => x !== null && x !== "").join(" ");
  return `${verdictLabel(r.verdict, r.enforced)} ${r.kind} ${what || "-"} rule=${r.rule} reason=${r.reason}`;
}

/** One RFC 5424 message (without framing). */
export function formatSyslog(e: FlowEvent, o: { appName: string; hostname: string; facility: number; sdId: string; procId: string }): string {
  const r = eventToRecord(e);
  const pri = o.facility * 8 + severityOf(r);
  const params: string[] = [];
  for (const f of SD_FIELDS) {
    const v = r[f];
    if (v === undefined || v === null) continue;
    params.push(`${f}="${sdEscape(String(v))}"`);
  }
  const ts = /^\d{4}-\d{2}-\d{2}T/.test(r.ts) ? r.ts : "-";
  return `<${pri}>1 ${ts} ${headerField(o.hostname, 255)} ${headerField(o.appName, 48)} ${headerField(o.procId, 128)} ${headerField(r.kind, 32)} [${o.sdId} ${params.join(" ")}] ${summary(r)}`;
}

/** RFC 5425 octet-counting frame: "LEN SP MSG", LEN in bytes. */
export function frame(msg: string): string {
  return `${Buffer.byteLength(msg)} ${msg}`;
}

export function createSyslogExporter(opts: SyslogOptions): SyslogExporter {
  const fmt = {
    appName: opts.appName ?? "clawfence",
    hostname: opts.hostname ?? osHostname(),
    facility: opts.facility ?? 13,
    sdId: opts.sdId ?? "flow@32473",
    procId: opts.procId ?? String(process.pid),
  };
  const capacity = opts.capacity ?? 10_000;
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  let queue: string[] = [];
  let socket: TLSSocket | null = null;
  let ready = false;
  let writable = true;
  let stopped = false;
  let backoff = minBackoff;
  let timer: NodeJS.Timeout | null = null;
  let sent = 0;
  let dropped = 0;
  let connects = 0;
  let idle: Array<() => void> = [];

  const settle = (): void => {
    if (queue.length > 0) return;
    const w = idle;
    idle = [];
    for (const f of w) f();
  };

  const pump = (): void => {
    if (!socket || !ready || !writable || queue.length === 0) {
      settle();
      return;
    }
    const batch = queue;
    queue = [];
    sent += batch.length;
    writable = socket.write(batch.join(""), () => settle());
    if (!writable) socket.once("drain", () => {
      writable = true;
      pump();
    });
  };

  const scheduleReconnect = (): void => {
    if (stopped || timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      open();
    }, backoff);
    timer.unref();
    backoff = Math.min(maxBackoff, backoff * 2);
  };

  const open = (): void => {
    if (stopped) return;
    const tlsOpts: ConnectionOptions = { host: opts.host, port: opts.port ?? 6514 };
    if (opts.ca !== undefined) tlsOpts.ca = opts.ca;
    if (opts.cert !== undefined) tlsOpts.cert = opts.cert;
    if (opts.key !== undefined) tlsOpts.key = opts.key;
    const sni = opts.servername ?? (isIP(opts.host) ? undefined : opts.host);
    if (sni !== undefined) tlsOpts.servername = sni;
    const s = connect(tlsOpts);
    socket = s;
    ready = false;
    writable = true;
    s.on("secureConnect", () => {
      ready = true;
      connects++;
      backoff = minBackoff;
      pump();
    });
    s.on("error", (err) => {
      opts.onError?.(err);
    });
    s.on("close", () => {
      if (socket === s) {
        socket = null;
        ready = false;
      }
      settle();
      scheduleReconnect();
    });
    // the collector never speaks; reading keeps the socket from stalling on a server close
    s.resume();
  };

  open();

  return {
    stats: () => ({ queued: queue.length, sent, dropped, connects, connected: ready }),
    emit(e: FlowEvent): void {
      if (stopped) {
        dropped++;
        return;
      }
      if (queue.length >= capacity) {
        dropped++;
        return;
      }
      try {
        queue.push(frame(formatSyslog(e, fmt)));
      } catch {
        dropped++;
        return;
      }
      if (queue.length === 1) queueMicrotask(pump);
    },
    async close(timeoutMs = 5000): Promise<void> {
      if (stopped) return;
      if (queue.length > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutMs);
          idle.push(() => {
            clearTimeout(t);
            resolve();
          });
          pump();
        });
      }
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      dropped += queue.length;
      queue = [];
      const s = socket;
      socket = null;
      if (s) await new Promise<void>((resolve) => {
        s.end(() => resolve());
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 1000).unref();
      });
    },
  };
}
