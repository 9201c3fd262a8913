/**
 * runtime/nflog/reader — the kernel's packet log (nft `log group N prefix "<rule>"`) as flow
 * events: runs `tcpdump -i nflog:N -U -w -` (libpcap's NFLOG capture; Node cannot open a
 * netlink socket without a native addon) and decodes its pcap stream (parse.ts) into one
 * `FlowEvent` of kind "packet" per logged packet (map.ts), handed to the injected sink.
 * Why tcpdump and not ulogd2: docs/nflog.md.
 *
 * Map: start() spawns tcpdump (inside `ip netns exec NS` when `netns` is given) and resolves
 * on its "listening on" line (the NFLOG group is bound from then on) -> stdout chunks ->
 * pcap decoder -> NFLOG TLVs -> IP header -> mapPrefix(prefix) -> packetEvent -> emitFlow.
 * close() sends SIGTERM; tcpdump then prints its counters (kernel drops) and exits; the
 * records still in the pipe are decoded before close() resolves.
 *
 * Never crashes the host: a bad record is counted (`parseErrors`) and skipped; a broken
 * stream or tcpdump exiting on its own stops the reader and is reported once through
 * `onError` (a RuntimeError with a code and a fix); the sink cannot throw into us (emitFlow).
 * The data path never waits on us: the kernel drops log messages when the netlink buffer is
 * full (never the packet), and tcpdump reports those drops (`dropped`).
 *
 * Owns the child process. Clock injected (used only for records without a timestamp).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { emitFlow, type EventSink } from "../events.ts";
import { RuntimeError } from "../errors.ts";
import { createPcapDecoder, NflogParseError, parseIpPacket, parseNflog, type IpPacket, type PcapRecord } from "./parse.ts";
import { packetEvent, type PrefixMapper, type PrefixMapping } from "./map.ts";

export interface NflogReaderOptions {
  /** the NFLOG group of the ruleset's `log group N` (0..65535) */
  readonly group: number;
  /** run the capture in this network namespace (`ip netns exec NS`); the log statements must live there */
  readonly netns?: string;
  readonly mapPrefix: PrefixMapper;
  readonly sink: EventSink;
  readonly sandbox?: string;
  readonly policyHash?: string;
  readonly clock: { now(): number };
  /** failures after start() resolved: tcpdump exited, the stream broke, the first bad record */
  readonly onError?: (e: RuntimeError) => void;
  /** how long start() waits for the capture to be live, default 5000 ms */
  readonly startTimeoutMs?: number;
  /** netlink receive buffer in KiB (tcpdump -B), default 4096: bursts beyond it are dropped by the kernel and counted */
  readonly bufferKiB?: number;
  /**
   * The capture command instead of tcpdump (argv; must write a DLT_NFLOG pcap stream to stdout
   * and a line containing "listening on" to stderr). For tests of the failure paths.
   */
  readonly command?: readonly string[];
}

export interface NflogStats {
  /** pcap records read */
  readonly packets: number;
  /** flow events emitted */
  readonly events: number;
  /** records (or the stream) that could not be decoded; events for unreadable payloads count here too */
  readonly parseErrors: number;
  /** events whose prefix `mapPrefix` did not know */
  readonly unmapped: number;
  /** log messages the kernel dropped (netlink buffer full), as tcpdump last reported them */
  readonly dropped: number;
  readonly running: boolean;
}

export interface NflogReader {
  /** Resolves once the capture is live (the group is bound); rejects with CF_RUNTIME_NFLOG_START or CF_RUNTIME_TOOL_MISSING. */
  start(): Promise<void>;
  /** Stop the capture and decode what is still in the pipe. Idempotent; never rejects. */
  close(): Promise<void>;
  stats(): NflogStats;
}

/**
 * Snapshot length, and with it libpcap's receive buffer (snaplen + 128) and the kernel's copy
 * range. It must stay at tcpdump's default: the kernel sends NFLOG messages in batches of up
 * to ~8 KiB (one datagram), and libpcap reads one datagram per recv() into that buffer, so a
 * smaller snaplen silently cuts every batch (measured: -s 1024 kept 6292 of 20000 events,
 * with 0 reported drops). docs/nflog.md has the numbers.
 */
const SNAPLEN = 262_144;
const STDERR_KEEP = 20;

export function tcpdumpCommand(o: Pick<NflogReaderOptions, "group" | "netns" | "bufferKiB">): string[] {
  const td = ["tcpdump", "-i", `nflog:${o.group}`, "-U", "-w", "-", "-s", String(SNAPLEN), "-B", String(o.bufferKiB ?? 4096)];
  return o.netns === undefined ? td : ["ip", "netns", "exec", o.netns, ...td];
}

export function createNflogReader(o: NflogReaderOptions): NflogReader {
  if (!Number.isInteger(o.group) || o.group < 0 || o.group > 65535) {
    throw new RuntimeError("CF_RUNTIME_NFLOG_GROUP", `NFLOG group ${o.group} is not an integer from 0 to 65535`, "use the --log-group the ruleset was compiled with");
  }
  const argv = o.command ?? tcpdumpCommand(o);
  const decoder = createPcapDecoder();
  let child: ChildProcess | null = null;
  let running = false;
  let closing = false;
  let reportedParse = false;
  /** the stream broke and was reported; tcpdump's exit that follows is not news */
  let streamBroken = false;
  let stopped: Promise<void> | null = null;
  const stderrTail: string[] = [];
  let stderrBuf = "";
  let listening: (() => void) | null = null;
  const s = { packets: 0, events: 0, parseErrors: 0, unmapped: 0, dropped: 0 };

  function report(e: RuntimeError): void {
    try {
      o.onError?.(e);
    } catch {
      // a throwing callback must not take the reader (or the host) down
    }
  }

  function onStderrLine(line: string): void {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_KEEP) stderrTail.shift();
    const drop = /^(\d+) packets? dropped by kernel/.exec(line);
    if (drop) s.dropped = Number(drop[1]);
    if (line.includes("listening on") && listening) {
      const l = listening;
      listening = null;
      l();
    }
  }

  function map(prefix: string): PrefixMapping | null {
    try {
      return o.mapPrefix(prefix);
    } catch {
      return null;
    }
  }

  function onRecord(data: Buffer, timeMs: number, littleEndian: boolean): void {
    s.packets++;
    let pkt;
    try {
      pkt = parseNflog(data, littleEndian);
    } catch (e) {
      badRecord(e);
      return;
    }
    let ip: IpPacket | null = null;
    let why: string | undefined;
    if (pkt.payload === null) {
      why = "no payload in the log message";
      badRecord(new NflogParseError("CF_NFLOG_NO_PAYLOAD", why, false));
    } else {
      try {
        ip = parseIpPacket(pkt.payload);
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
        badRecord(e);
      }
    }
    const mapping = map(pkt.prefix);
    if (mapping === null) s.unmapped++;
    const ctx = {
      fallbackTimeMs: timeMs > 0 ? timeMs : o.clock.now(),
      ...(o.sandbox !== undefined ? { sandbox: o.sandbox } : {}),
      ...(o.policyHash !== undefined ? { policyHash: o.policyHash } : {}),
    };
    emitFlow(o.sink, packetEvent(pkt, ip, mapping, ctx, why));
    s.events++;
  }

  function badRecord(e: unknown): void {
    s.parseErrors++;
    if (reportedParse) return;
    reportedParse = true;
    const msg = e instanceof Error ? e.message : String(e);
    const code = e instanceof NflogParseError ? e.code : "CF_NFLOG_UNKNOWN";
    report(new RuntimeError("CF_RUNTIME_NFLOG_RECORD", `an NFLOG record could not be decoded (${code}: ${msg}); further ones are only counted`, "see stats().parseErrors; if it grows, report it with a capture (tcpdump -i nflog:N -w FILE)"));
  }

  function onStdout(chunk: Buffer): void {
    let records: PcapRecord[] = [];
    try {
      records = decoder.push(chunk);
    } catch {
      // decoder.failure() says why, below
    }
    const h = decoder.header();
    if (h) {
      for (const r of records) {
        try {
          onRecord(r.data, r.timeMs, h.littleEndian);
        } catch (e) {
          // a bug of ours must cost one record, not the host process
          badRecord(e);
        }
      }
    }
    const broken = decoder.failure();
    if (broken && !streamBroken) {
      streamBroken = true;
      s.parseErrors++;
      report(new RuntimeError("CF_RUNTIME_NFLOG_STREAM", `the packet log stream from '${argv.join(" ")}' is unreadable: ${broken.message}; packet events stop here`, "restart the reader; the capture tool must write a pcap stream of link type NFLOG (239)"));
      child?.stdout?.removeListener("data", onStdout);
      child?.kill("SIGTERM");
    }
  }

  async function start(): Promise<void> {
    if (child) throw new RuntimeError("CF_RUNTIME_NFLOG_START", "the NFLOG reader was started twice", "create one reader per start()");
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new RuntimeError("CF_RUNTIME_NFLOG_START", "empty capture command", "leave `command` unset to run tcpdump");
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    running = true;
    c.stdout.on("data", onStdout);
    c.stdout.on("error", () => undefined);
    c.stderr.setEncoding("utf8");
    c.stderr.on("data", (d: string) => {
      stderrBuf += d;
      let i;
      while ((i = stderrBuf.indexOf("\n")) >= 0) {
        onStderrLine(stderrBuf.slice(0, i));
        stderrBuf = stderrBuf.slice(i + 1);
      }
      if (stderrBuf.length > 4096) stderrBuf = stderrBuf.slice(-4096);
    });
    c.stderr.on("error", () => undefined);
    stopped = new Promise<void>((resolve) => {
      // a child that failed to spawn may never emit "close"
      c.on("error", () => {
        running = false;
        resolve();
      });
      c.on("close", (code, signal) => {
        running = false;
        if (stderrBuf) onStderrLine(stderrBuf);
        stderrBuf = "";
        if (!closing && !listening && !streamBroken) {
          report(new RuntimeError("CF_RUNTIME_NFLOG_EXIT", `'${argv.join(" ")}' exited (${signal ?? `code ${code}`}): ${stderrTail.join(" | ") || "no message"}; packet events stop here`, "restart the reader (the firewall keeps dropping; only the log is lost)"));
        }
        resolve();
      });
    });

    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: RuntimeError): void => {
        if (settled) return;
        settled = true;
        listening = null;
        clearTimeout(timer);
        closing = true;
        if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
        reject(e);
      };
      const timer = setTimeout(() => {
        fail(new RuntimeError("CF_RUNTIME_NFLOG_START", `'${argv.join(" ")}' did not start capturing within ${o.startTimeoutMs ?? 5000} ms: ${stderrTail.join(" | ") || "no message"}`, "check that tcpdump runs as root and the NFLOG group is not used by another reader"));
      }, o.startTimeoutMs ?? 5000);
      listening = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      c.on("error", (err: NodeJS.ErrnoException) => {
        running = false;
        const missing = err.code === "ENOENT";
        fail(
          new RuntimeError(
            missing ? "CF_RUNTIME_TOOL_MISSING" : "CF_RUNTIME_NFLOG_START",
            missing ? `'${cmd}' was not found` : `'${argv.join(" ")}' could not start: ${err.message}`,
            missing ? `install it (Debian: apt-get install ${cmd === "ip" ? "iproute2" : "tcpdump"})` : "run as root on Linux",
          ),
        );
      });
      c.on("close", () => {
        const text = stderrTail.join(" | ");
        const missing = /exec of "tcpdump" failed|tcpdump: not found|No such file/.test(text) && text.includes("tcpdump");
        fail(
          new RuntimeError(
            missing ? "CF_RUNTIME_TOOL_MISSING" : "CF_RUNTIME_NFLOG_START",
            missing ? "'tcpdump' was not found" : `'${argv.join(" ")}' exited before capturing: ${text || "no message"}`,
            missing
              ? "install it (Debian: apt-get install tcpdump)"
              : /Can't listen on group|busy/i.test(text)
                ? `another process reads NFLOG group ${o.group} in this namespace (the kernel allows one); stop it or compile the ruleset with another --log-group`
                : /Cannot open network namespace/.test(text)
                  ? `create the namespace '${o.netns ?? ""}' first (the reader runs where the log statements are)`
                  : "run as root, with tcpdump built with NFLOG support (Debian's is)",
          ),
        );
      });
    });
  }

  async function close(): Promise<void> {
    closing = true;
    listening = null;
    const c = child;
    if (!c || !stopped) return;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGTERM");
      const kill = setTimeout(() => c.kill("SIGKILL"), 2000);
      await stopped;
      clearTimeout(kill);
    }
    await stopped;
  }

  return {
    start,
    close,
    stats: () => ({ ...s, running }),
  };
}
