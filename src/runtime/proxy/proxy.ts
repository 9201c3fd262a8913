/**
 * runtime/proxy/proxy — the egress proxy: HTTP/1.1 forward proxy with CONNECT, SOCKS5, and
 * transparent TLS / HTTP listeners for connections the firewall redirects to it.
 *
 * Map (one connection):
 *   accept -> per-client limit -> read the request (HTTP head via node:http's llhttp,
 *   SOCKS5 greeting+request via socks5.ts, ClientHello via client-hello.ts), under the
 *   handshake timeout and size limits
 *   -> target.ts turns what was asked into a name or an address, gate.ts decides it and
 *   returns the checked addresses -> dial exactly one of those (never the name: no second
 *   lookup) -> tunnels: hold the client's bytes until the first ones are classified (a TLS
 *   ClientHello must name the allowed host; required on `requireSni` ports) -> pipe the two
 *   sockets to each other (no per-chunk work) -> on close, one flow event with the decision,
 *   bytes each way (socket counters) and duration.
 *
 * Transparent listeners: the firewall redirects TCP to us and the original destination is
 * not readable from Node (SO_ORIGINAL_DST / IP_TRANSPARENT need a native addon). We do not
 * need it: the decision is on the name the client put in the SNI or Host header, and the
 * dial goes to an address the proxy resolved and checked for that name, on the listener's
 * `targetPort`. A client that lies in its SNI reaches the host it named, not the one it
 * meant to reach, and that host is allowed. Connections without a name are refused.
 *
 * Transparent HTTP is decided once per connection, like TLS: the first request head is read
 * raw (http-head.ts, same size limit and handshake timeout as the forward proxy), its Host
 * (or absolute URL) decided, the checked address dialed, the buffered bytes written, and
 * from then on the connection is a raw relay both ways. Later keep-alive requests on it go
 * on unparsed, and that is safe for the same reason: they can only reach the server this
 * connection was dialed to, an address already checked for the allowed name and port. A
 * client that names another host in a later Host header still reaches the allowed one
 * (which sees a Host it may refuse); it cannot reach anything else. The forward proxy
 * (`http` listener) is different: there each request names its own destination, so each
 * keep-alive request is parsed and decided on its own.
 *
 * Denials: 403 with `X-Clawfence-Rule` / `X-Clawfence-Reason`, SOCKS reply 0x02, or a TLS
 * `access_denied` alert inside a tunnel; upstream failures 502 / SOCKS 0x04/0x05;
 * unreadable requests 400 / SOCKS 0x01/0x07/0x08. Nothing here throws into the event loop:
 * every socket has an error handler, every parser returns errors as values.
 *
 * Owns: sockets and timers. Decisions come from the injected decider (via gate.ts), names
 * from the injected resolver, time from the injected clock; events go to the injected sink.
 * No module-level state: two proxies can run in one process.
 */
import * as net from "node:net";
import { createRequire } from "node:module";
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import * as dgram from "node:dgram";
import type { Decision, IpAddr } from "../../match/decision.ts";
import { formatIp, parseIp, unmapV4 } from "../../match/ip.ts";
import type { Policy } from "../../policy/ir.ts";
import { emitFlow, type EventSink, type FlowEvent } from "../events.ts";
import { MAX_BUFFERED, parseClientHello, type HelloStep } from "./client-hello.ts";
import { createGate, type Authorization, type FlowDecider, type Gate } from "./gate.ts";
import type { NameResolver } from "./resolver.ts";
import { createBufferPool, createRelay, type Relay } from "./relay.ts";
import { CMD_BIND, CMD_CONNECT, CMD_UDP_ASSOCIATE, METHOD_NO_AUTH, METHOD_NONE_ACCEPTABLE, REP, encodeReply, encodeUdpHeader, parseGreeting, parseRequest, parseUdpDatagram } from "./socks5.ts";
import { findHeadEnd, parseRequestHead, transparentTarget, type HeadEnd } from "./http-head.ts";
import { TargetParseError, hostText, parseAbsoluteUrl, parseAuthority, parseHost, type HttpTarget, type Target } from "./target.ts";

// node:http through require, not an ESM import: an ESM import of a builtin builds its whole
// namespace, which for node:http loads undici (~50 ms of every `clawfence run` start-up,
// measured in bench/run.bench.ts); require gives the same module object lazily
const http = createRequire(import.meta.url)("node:http") as typeof import("node:http");

export type ListenerKind = "http" | "socks5" | "transparent-tls" | "transparent-http";

export interface ListenerSpec {
  readonly kind: ListenerKind;
  readonly address: string;
  /** 0 picks a free port; see `addresses()` */
  readonly port: number;
  /** transparent listeners: the destination port the redirected traffic was for (443 / 80) */
  readonly targetPort?: number;
}

export interface ProxyLimits {
  /** request head (HTTP) limit in bytes */
  readonly maxHeaderBytes: number;
  /** from accept to a decided, classified request (head, SOCKS greeting, ClientHello) */
  readonly handshakeTimeoutMs: number;
  /** no bytes either way for this long closes a connection */
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** open connections per client address, over all listeners */
  readonly maxConnsPerClient: number;
}

export const DEFAULT_LIMITS: ProxyLimits = {
  maxHeaderBytes: 16 * 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  connectTimeoutMs: 10_000,
  maxConnsPerClient: 512,
};

export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
}

export interface ProxyOptions {
  readonly listeners: readonly ListenerSpec[];
  readonly policy: Policy;
  readonly decider: FlowDecider;
  readonly resolver: NameResolver;
  readonly sink: EventSink;
  readonly clock: Clock;
  readonly limits?: Partial<ProxyLimits>;
  readonly phase?: string | (() => string | undefined);
  /** ports on which a tunnel without a TLS SNI is refused (`no-sni`); default [443] */
  readonly requireSni?: readonly number[];
  /** copied into every flow event */
  readonly sandbox?: string;
}

export interface BoundListener {
  readonly kind: ListenerKind;
  readonly address: string;
  readonly port: number;
}

export interface ProxyStats {
  /** connections open now */
  readonly active: number;
  /** connections closed at accept because the client had too many open */
  readonly refusedOverLimit: number;
}

export interface Proxy {
  start(): Promise<void>;
  close(): Promise<void>;
  addresses(): BoundListener[];
  stats(): ProxyStats;
}

/** A connection's context for its flow event. */
interface Ctx {
  readonly t0: number;
  readonly client: string;
  via: string;
  done: boolean;
}

interface FlowFields {
  readonly name: string | null;
  readonly ip: IpAddr | null;
  readonly port: number | null;
  readonly decision: Decision;
  readonly detail?: string | undefined;
  readonly up?: number;
  readonly down?: number;
  readonly latencyMs?: number;
}

/**
 * Write buffer of the client-to-upstream pipe: with the 16-64 KiB default, pipe() pauses and
 * resumes the client on most 64 KiB reads. Memory is used only while the upstream is slower.
 */
const STREAM_HWM = 1 << 20;

const TLS_ACCESS_DENIED = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);
const MALFORMED: Decision = { verdict: "deny", enforced: true, rule: "default", reason: "malformed" };

const HOP_BY_HOP = new Set(["connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade", "host"]);

export function createProxy(opts: ProxyOptions): Proxy {
  const limits: ProxyLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const requireSni = new Set(opts.requireSni ?? [443]);
  const { clock, sink } = opts;
  const gate: Gate = createGate(opts.phase === undefined ? opts : { ...opts, phase: opts.phase });
  const servers: Array<{ spec: ListenerSpec; server: net.Server }> = [];
  const pool = createBufferPool();
  const sockets = new Set<net.Socket>();
  const udpSockets = new Set<dgram.Socket>();
  const perClient = new Map<string, number>();
  let refusedOverLimit = 0;
  let closing = false;

  // ------------------------------------------------------------------ events

  function emit(ctx: Ctx, f: FlowFields): void {
    if (ctx.done) return;
    ctx.done = true;
    const now = clock.now();
    const e: FlowEvent = {
      ts: new Date(now).toISOString(),
      kind: "proxy",
      name: f.name,
      dst_ip: f.ip ? formatIp(f.ip) : null,
      dst_port: f.port,
      proto: "tcp",
      verdict: f.decision.verdict,
      enforced: f.decision.enforced,
      rule: f.decision.rule,
      reason: f.decision.reason,
      client: ctx.client,
      duration_ms: now - ctx.t0,
      detail: f.detail === undefined ? ctx.via : `${ctx.via}: ${f.detail}`,
      ...(f.up === undefined ? {} : { bytes_up: f.up }),
      ...(f.down === undefined ? {} : { bytes_down: f.down }),
      ...(f.latencyMs === undefined ? {} : { latency_ms: f.latencyMs }),
      ...(opts.sandbox === undefined ? {} : { sandbox: opts.sandbox }),
      ...(opts.policy.hash ? { policy_hash: opts.policy.hash } : {}),
    };
    emitFlow(sink, e);
  }

  function newCtx(sock: net.Socket, via: string): Ctx {
    return { t0: clock.now(), client: `${sock.remoteAddress ?? "?"}:${sock.remotePort ?? 0}`, via, done: false };
  }

  // ------------------------------------------------------------------ accept + limits

  function admit(sock: net.Socket): boolean {
    const key = sock.remoteAddress ?? "?";
    const n = perClient.get(key) ?? 0;
    if (closing || n >= limits.maxConnsPerClient) {
      refusedOverLimit++;
      sock.on("error", () => {});
      sock.destroy();
      return false;
    }
    perClient.set(key, n + 1);
    sockets.add(sock);
    sock.once("close", () => {
      sockets.delete(sock);
      const m = (perClient.get(key) ?? 1) - 1;
      if (m <= 0) perClient.delete(key);
      else perClient.set(key, m);
    });
    return true;
  }

  // ------------------------------------------------------------------ dial + splice

  type Dialed = { ok: true; sock: net.Socket; ip: IpAddr } | { ok: false; ip: IpAddr | null; code: string };

  /**
   * Connect to exactly `ip` (an address the gate checked; never a name, so nothing resolves
   * again). With a relay, the socket reads through it (relay.ts) and starts paused.
   */
  function dialOne(ip: IpAddr, port: number, relay: Relay | null): Promise<Dialed> {
    const real = unmapV4(ip) ?? ip;
    return new Promise((resolve) => {
      const base = { host: formatIp(real), port, family: real.family, noDelay: true, allowHalfOpen: true };
      const sock = relay ? net.connect({ ...base, onread: relay.onread }) : net.connect(base);
      const timer = setTimeout(() => {
        sock.destroy();
        resolve({ ok: false, ip, code: "ETIMEDOUT" });
      }, limits.connectTimeoutMs);
      sock.once("connect", () => {
        clearTimeout(timer);
        if (relay) sock.pause();
        sock.removeAllListeners("error");
        resolve({ ok: true, sock, ip });
      });
      sock.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        sock.destroy();
        resolve({ ok: false, ip, code: e.code ?? "EFAIL" });
      });
    });
  }

  async function dial(addresses: readonly IpAddr[], port: number, relay: Relay | null): Promise<Dialed> {
    let last: Dialed = { ok: false, ip: null, code: "ENOADDR" };
    for (const ip of addresses) {
      if (closing) break;
      last = await dialOne(ip, port, relay);
      if (last.ok) {
        sockets.add(last.sock);
        const s = last.sock;
        s.once("close", () => sockets.delete(s));
        return last;
      }
    }
    return last;
  }

  /**
   * Join a client to its upstream, whose bytes already flow to the client through its relay:
   * the client's bytes are piped upstream. Half-closes travel through (pipe and the relay end
   * the other side); an error or the idle timeout on either side destroys both. `onDone` runs
   * once, after both have closed.
   */
  function splice(a: net.Socket, b: net.Socket, onDone: () => void): void {
    let open = 2;
    const kill = (): void => {
      a.destroy();
      b.destroy();
    };
    const closed = (): void => {
      if (--open === 0) onDone();
      else {
        // the other side gets its FIN (pipe did that) and may still flush; it has the idle timeout
        a.end();
        b.end();
      }
    };
    a.on("error", kill);
    b.on("error", kill);
    a.setTimeout(limits.idleTimeoutMs, kill);
    b.setTimeout(limits.idleTimeoutMs, kill);
    a.once("close", closed);
    b.once("close", closed);
    a.pipe(b);
    a.resume();
  }

  /**
   * Read from `sock` until the ClientHello parser has an answer. Bytes already read come in
   * `initial`. The socket is paused and its data listener removed afterwards.
   */
  function readHello(sock: net.Socket, initial: Buffer, timeoutMs: number | null): Promise<{ step: HelloStep | { status: "timeout" } | { status: "closed" }; buf: Buffer }> {
    return new Promise((resolve) => {
      let buf = initial;
      let timer: NodeJS.Timeout | null = null;
      const finish = (step: HelloStep | { status: "timeout" } | { status: "closed" }): void => {
        if (timer) clearTimeout(timer);
        sock.removeListener("data", onData);
        sock.removeListener("end", onEnd);
        sock.removeListener("close", onEnd);
        sock.pause();
        resolve({ step, buf });
      };
      const check = (): boolean => {
        if (buf.length === 0) return false;
        const step = parseClientHello(buf);
        if (step.status === "more") {
          if (buf.length > MAX_BUFFERED) {
            finish({ status: "error", code: "CF_PROXY_TLS_TOO_BIG", message: "the ClientHello is too large" });
            return true;
          }
          return false;
        }
        finish(step);
        return true;
      };
      const onData = (d: Buffer): void => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        check();
      };
      const onEnd = (): void => finish({ status: "closed" });
      if (check()) return;
      if (timeoutMs !== null) timer = setTimeout(() => finish({ status: "timeout" }), timeoutMs);
      sock.on("data", onData);
      sock.once("end", onEnd);
      sock.once("close", onEnd);
      sock.resume();
    });
  }

  type HelloCheck = { ok: true; detail?: string; decision?: Decision } | { ok: false; decision: Decision; detail: string; tls: boolean };

  /**
   * Is the first flight of a tunnel to `name` (or to a literal address when null) acceptable
   * on `port`? Plain text is fine except on `requireSni` ports; TLS must name `name`.
   */
  function checkHello(step: HelloStep | { status: "timeout" } | { status: "closed" }, allowed: Authorization & { kind: "allow" }, port: number): HelloCheck {
    const rule = allowed.decision.rule;
    const must = requireSni.has(port);
    switch (step.status) {
      case "more":
      case "timeout":
        return { ok: false, decision: gate.proxyDeny(rule, "no-sni"), detail: "no ClientHello before the handshake timeout", tls: false };
      case "closed":
        return { ok: false, decision: allowed.decision, detail: "client closed before sending anything", tls: false };
      case "not-tls":
        return must ? { ok: false, decision: gate.proxyDeny(rule, "no-sni"), detail: `port ${port} requires TLS with a server name`, tls: false } : { ok: true };
      case "error":
        return { ok: false, decision: MALFORMED, detail: `${step.code}: ${step.message}`, tls: true };
      case "ok": {
        if (step.ech) return { ok: false, decision: gate.proxyDeny(rule, "sni-mismatch"), detail: "Encrypted Client Hello hides the real server name", tls: true };
        if (step.sni === null) {
          return must ? { ok: false, decision: gate.proxyDeny(rule, "no-sni"), detail: "the ClientHello has no server name", tls: true } : { ok: true, detail: "TLS without server name" };
        }
        let host;
        try {
          host = parseHost(step.sni);
        } catch (e) {
          return { ok: false, decision: MALFORMED, detail: `bad server name: ${e instanceof Error ? e.message : String(e)}`, tls: true };
        }
        if (host.kind === "ip") return { ok: false, decision: gate.proxyDeny(rule, "sni-mismatch"), detail: `server name '${step.sni}' is an address`, tls: true };
        if (allowed.name !== null) {
          if (host.name === allowed.name) return { ok: true };
          const d = gate.proxyDeny(rule, "sni-mismatch");
          return d.enforced ? { ok: false, decision: d, detail: `server name ${host.name} is not ${allowed.name}`, tls: true } : { ok: true, decision: d, detail: `server name ${host.name} is not ${allowed.name}` };
        }
        // a tunnel to a literal address: the name in the hello must itself be allowed here
        const byName = gate.decideName(host.name, port);
        if (byName.verdict === "allow") return { ok: true, detail: `server name ${host.name}` };
        const d = gate.proxyDeny(byName.rule, "sni-mismatch");
        return d.enforced ? { ok: false, decision: d, detail: `server name ${host.name} is not allowed on this address`, tls: true } : { ok: true, decision: d, detail: `server name ${host.name}` };
      }
      default: {
        const never: never = step;
        return never;
      }
    }
  }

  /**
   * An allowed tunnel (CONNECT, SOCKS CONNECT): dial, tell the client, check its first
   * flight, then splice. `reply(upstream | failure)` writes the protocol's answer.
   */
  async function runTunnel(
    ctx: Ctx,
    client: net.Socket,
    initial: Buffer,
    auth: Authorization & { kind: "allow" },
    port: number,
    t0: number,
    reply: (r: { ok: true; sock: net.Socket } | { ok: false; code: string }) => void,
  ): Promise<void> {
    const relay = createRelay(pool);
    const d = await dial(auth.addresses, port, relay);
    const latencyMs = clock.now() - t0;
    if (!d.ok) {
      reply({ ok: false, code: d.code });
      emit(ctx, { name: auth.name, ip: d.ip, port, decision: auth.decision, detail: `connect failed: ${d.code}`, latencyMs });
      return;
    }
    const up = d.sock;
    up.on("error", () => up.destroy());
    if (client.destroyed) {
      up.destroy();
      emit(ctx, { name: auth.name, ip: d.ip, port, decision: auth.decision, detail: "client left before the tunnel opened", latencyMs });
      return;
    }
    reply({ ok: true, sock: up });
    // server -> client flows at once (server-first protocols); client -> server waits for the check
    relay.start(up, client);
    const hello = await readHello(client, initial, requireSni.has(port) ? limits.handshakeTimeoutMs : null);
    const verdict = checkHello(hello.step, auth, port);
    if (!verdict.ok) {
      relay.stop();
      up.destroy();
      if (verdict.tls && !client.destroyed) client.end(TLS_ACCESS_DENIED);
      else client.destroy();
      client.on("error", () => {});
      emit(ctx, { name: auth.name, ip: d.ip, port, decision: verdict.decision, detail: verdict.detail, up: 0, down: up.bytesRead, latencyMs });
      return;
    }
    if (hello.buf.length > 0) up.write(hello.buf);
    const decision = verdict.decision ?? auth.decision;
    const detail = [auth.detail, verdict.detail].filter((x) => x !== undefined).join("; ") || undefined;
    splice(client, up, () => emit(ctx, { name: auth.name, ip: d.ip, port, decision, detail, up: up.bytesWritten, down: up.bytesRead, latencyMs }));
  }

  // ------------------------------------------------------------------ HTTP listener

  function denyBody(what: string, dec: Decision, detail?: string): string {
    return `clawfence: ${what} denied by rule '${dec.rule}' (${dec.reason})${detail ? `: ${detail}` : ""}\n`;
  }

  function rawResponse(status: number, text: string, headers: Record<string, string>, body: string): string {
    const h = Object.entries({ "Content-Type": "text/plain; charset=utf-8", "Content-Length": String(Buffer.byteLength(body)), Connection: "close", ...headers })
      .map(([k, v]) => `${k}: ${v.replace(/[^\x20-\x7e]/g, "?")}\r\n`)
      .join("");
    return `HTTP/1.1 ${status} ${text}\r\n${h}\r\n${body}`;
  }

  function decisionHeaders(dec: Decision): Record<string, string> {
    return { "X-Clawfence-Rule": dec.rule, "X-Clawfence-Reason": dec.reason, "X-Clawfence-Enforced": String(dec.enforced) };
  }

  function onConnect(req: IncomingMessage, client: net.Socket, head: Buffer): void {
    client.on("error", () => client.destroy());
    client.setTimeout(limits.handshakeTimeoutMs, () => client.destroy());
    const ctx = newCtx(client, "http CONNECT");
    const t0 = clock.now();
    let target: Target;
    try {
      target = parseAuthority(req.url ?? "", null);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      client.end(rawResponse(400, "Bad Request", { "X-Clawfence-Reason": "malformed" }, `clawfence: ${msg}\n`));
      emit(ctx, { name: null, ip: null, port: null, decision: MALFORMED, detail: msg });
      return;
    }
    const what = `CONNECT ${hostText(target.host)}:${target.port}`;
    gate.authorize(target).then(
      async (auth) => {
        if (auth.kind === "deny") {
          client.end(rawResponse(403, "Forbidden", decisionHeaders(auth.decision), denyBody(what, auth.decision, auth.detail)));
          emit(ctx, { name: auth.name, ip: auth.address, port: target.port, decision: auth.decision, detail: auth.detail, latencyMs: clock.now() - t0 });
          return;
        }
        if (auth.kind === "unresolved") {
          client.end(rawResponse(502, "Bad Gateway", { "X-Clawfence-Error": auth.code }, `clawfence: ${auth.detail}\n`));
          emit(ctx, { name: auth.name, ip: null, port: target.port, decision: auth.decision, detail: auth.detail, latencyMs: clock.now() - t0 });
          return;
        }
        await runTunnel(ctx, client, head, auth, target.port, t0, (r) => {
          if (r.ok) client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
          else client.end(rawResponse(502, "Bad Gateway", { "X-Clawfence-Error": r.code }, `clawfence: connecting to ${hostText(target.host)}:${target.port} failed (${r.code})\n`));
        });
      },
      (e: unknown) => internalFailure(ctx, client, e),
    );
  }

  function internalFailure(ctx: Ctx, sock: net.Socket, e: unknown): void {
    // a bug, not a decision: close (fail closed) and say why in the event
    sock.destroy();
    emit(ctx, { name: null, ip: null, port: null, decision: MALFORMED, detail: `internal error: ${e instanceof Error ? e.message : String(e)}` });
  }

  function upstreamHeaders(raw: readonly string[], authority: string): string[] {
    const drop = new Set(HOP_BY_HOP);
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if ((raw[i] ?? "").toLowerCase() === "connection") for (const t of (raw[i + 1] ?? "").split(",")) drop.add(t.trim().toLowerCase());
    }
    const out: string[] = ["Host", authority];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const k = raw[i] ?? "";
      if (!drop.has(k.toLowerCase())) out.push(k, raw[i + 1] ?? "");
    }
    return out;
  }

  function responseHeaders(raw: readonly string[]): string[] {
    const drop = new Set(HOP_BY_HOP);
    drop.delete("host");
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if ((raw[i] ?? "").toLowerCase() === "connection") for (const t of (raw[i + 1] ?? "").split(",")) drop.add(t.trim().toLowerCase());
    }
    const out: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const k = raw[i] ?? "";
      if (!drop.has(k.toLowerCase())) out.push(k, raw[i + 1] ?? "");
    }
    return out;
  }

  function sendSimple(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  function onRequest(spec: ListenerSpec, req: IncomingMessage, res: ServerResponse): void {
    const sock = req.socket;
    const ctx = newCtx(sock, `${spec.kind} ${req.method ?? "?"}`);
    const t0 = clock.now();
    let target: HttpTarget;
    try {
      target = requestTarget(req);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      sendSimple(res, 400, { "X-Clawfence-Reason": "malformed", Connection: "close" }, `clawfence: ${msg}\n`);
      emit(ctx, { name: null, ip: null, port: null, decision: MALFORMED, detail: msg });
      return;
    }
    const what = `${req.method ?? "?"} http://${target.authority}${target.path.length > 200 ? `${target.path.slice(0, 200)}...` : target.path}`;
    req.pause();
    gate.authorize(target).then(
      async (auth) => {
        if (auth.kind === "deny") {
          sendSimple(res, 403, decisionHeaders(auth.decision), denyBody(what, auth.decision, auth.detail));
          req.resume();
          emit(ctx, { name: auth.name, ip: auth.address, port: target.port, decision: auth.decision, detail: auth.detail, latencyMs: clock.now() - t0 });
          return;
        }
        if (auth.kind === "unresolved") {
          sendSimple(res, 502, { "X-Clawfence-Error": auth.code }, `clawfence: ${auth.detail}\n`);
          req.resume();
          emit(ctx, { name: auth.name, ip: null, port: target.port, decision: auth.decision, detail: auth.detail, latencyMs: clock.now() - t0 });
          return;
        }
        const d = await dial(auth.addresses, target.port, null);
        const latencyMs = clock.now() - t0;
        if (!d.ok) {
          sendSimple(res, 502, { "X-Clawfence-Error": d.code }, `clawfence: connecting to ${target.authority} failed (${d.code})\n`);
          req.resume();
          emit(ctx, { name: auth.name, ip: d.ip, port: target.port, decision: auth.decision, detail: `connect failed: ${d.code}`, latencyMs });
          return;
        }
        const up = d.sock;
        up.on("error", () => up.destroy()); // the request below reports it too
        up.setTimeout(limits.idleTimeoutMs, () => up.destroy());
        const upReq = http.request({
          method: req.method ?? "GET",
          path: target.path,
          headers: upstreamHeaders(req.rawHeaders, target.authority),
          setHost: false,
          createConnection: () => up,
        });
        let failed: string | undefined = auth.detail;
        upReq.on("error", (e: NodeJS.ErrnoException) => {
          failed = `upstream: ${e.code ?? e.message}`;
          sendSimple(res, 502, { "X-Clawfence-Error": e.code ?? "EFAIL" }, `clawfence: ${target.authority} failed (${e.code ?? e.message})\n`);
          up.destroy();
        });
        upReq.on("response", (upRes) => {
          upRes.on("error", () => res.destroy());
          res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, responseHeaders(upRes.rawHeaders));
          upRes.pipe(res);
        });
        res.on("close", () => {
          if (!res.writableFinished) up.destroy();
        });
        up.once("close", () => emit(ctx, { name: auth.name, ip: d.ip, port: target.port, decision: auth.decision, detail: failed, up: up.bytesWritten, down: up.bytesRead, latencyMs }));
        req.pipe(upReq);
        req.resume();
      },
      (e: unknown) => internalFailure(ctx, sock, e),
    );
  }

  function requestTarget(req: IncomingMessage): HttpTarget {
    return parseAbsoluteUrl(req.url ?? "");
  }

  function onClientError(spec: ListenerSpec, err: NodeJS.ErrnoException, sock: net.Socket): void {
    sock.on("error", () => {});
    if (err.code === "ECONNRESET" || err.code === "EPIPE") {
      sock.destroy();
      return;
    }
    const [status, text] =
      err.code === "HPE_HEADER_OVERFLOW" ? [431, "Request Header Fields Too Large"] : err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "HPE_HEADERS_TIMEOUT" ? [408, "Request Timeout"] : [400, "Bad Request"];
    if (sock.writable && !sock.writableEnded) sock.end(rawResponse(status, text, { "X-Clawfence-Reason": "malformed" }, `clawfence: ${err.code ?? "bad request"}\n`));
    sock.destroy();
    emit(newCtx(sock, `${spec.kind}`), { name: null, ip: null, port: null, decision: MALFORMED, detail: `${status} ${err.code ?? err.message}` });
  }

  function httpServer(spec: ListenerSpec): HttpServer {
    const server = http.createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.handshakeTimeoutMs,
      requestTimeout: 0,
      keepAliveTimeout: limits.idleTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.handshakeTimeoutMs / 4))),
      noDelay: true,
      highWaterMark: STREAM_HWM,
      requireHostHeader: false,
      joinDuplicateHeaders: false,
    });
    server.timeout = limits.idleTimeoutMs;
    server.on("connection", (sock: net.Socket) => {
      admit(sock);
    });
    server.on("request", (req, res) => onRequest(spec, req, res));
    server.on("connect", onConnect);
    server.on("clientError", (err: NodeJS.ErrnoException, sock: net.Socket) => onClientError(spec, err, sock));
    return server;
  }

  // ------------------------------------------------------------------ SOCKS5 listener

  function onSocks(sock: net.Socket): void {
    if (!admit(sock)) return;
    const ctx = newCtx(sock, "socks5");
    let buf: Buffer = Buffer.alloc(0);
    let stage: "greeting" | "request" | "busy" = "greeting";
    const timer = setTimeout(() => {
      sock.destroy();
      emit(ctx, { name: null, ip: null, port: null, decision: MALFORMED, detail: "handshake timeout" });
    }, limits.handshakeTimeoutMs);
    const fail = (rep: number, detail: string, decision: Decision = MALFORMED, fields?: Partial<FlowFields>): void => {
      clearTimeout(timer);
      sock.removeListener("data", onData);
      if (stage === "request" || stage === "busy") sock.end(encodeReply(rep));
      else sock.end(Buffer.from([5, METHOD_NONE_ACCEPTABLE]));
      emit(ctx, { name: null, ip: null, port: null, ...fields, decision, detail });
    };
    sock.on("error", () => sock.destroy());
    sock.once("close", () => clearTimeout(timer));
    // allowHalfOpen: a client that half-closes before the tunnel exists is gone
    const onEnd = (): void => {
      if (stage !== "busy") sock.destroy();
    };
    sock.once("end", onEnd);
    const onData = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (stage === "greeting") {
        const g = parseGreeting(buf);
        if (g.status === "more") return;
        if (g.status === "error") return fail(g.rep, `${g.code}: ${g.message}`);
        if (!g.value.methods.includes(METHOD_NO_AUTH)) return fail(REP.notAllowed, "the client offers no method this proxy speaks (no authentication)");
        sock.write(Buffer.from([5, METHOD_NO_AUTH]));
        buf = buf.subarray(g.used);
        stage = "request";
      }
      if (stage !== "request") return;
      const r = parseRequest(buf);
      if (r.status === "more") return;
      if (r.status === "error") return fail(r.rep, `${r.code}: ${r.message}`);
      stage = "busy";
      sock.removeListener("data", onData);
      sock.pause();
      clearTimeout(timer);
      const rest = Buffer.from(buf.subarray(r.used));
      const { cmd, target } = r.value;
      const t0 = clock.now();
      if (cmd === CMD_BIND) return fail(REP.commandNotSupported, "BIND is not supported", MALFORMED, { name: nameOf(target), port: target.port });
      if (cmd === CMD_UDP_ASSOCIATE) {
        ctx.done = true; // the association reports one event per destination instead
        udpAssociate(sock, target).catch((e: unknown) => internalFailure({ ...ctx, done: false }, sock, e));
        return;
      }
      if (cmd !== CMD_CONNECT) return fail(REP.commandNotSupported, `command ${cmd}`);
      sock.setTimeout(limits.handshakeTimeoutMs, () => sock.destroy());
      const what = `${hostText(target.host)}:${target.port}`;
      ctx.via = "socks5 CONNECT";
      gate.authorize(target).then(
        async (auth) => {
          if (auth.kind === "deny") {
            sock.end(encodeReply(REP.notAllowed));
            emit(ctx, { name: auth.name, ip: auth.address, port: target.port, decision: auth.decision, detail: auth.detail ?? what, latencyMs: clock.now() - t0 });
            return;
          }
          if (auth.kind === "unresolved") {
            sock.end(encodeReply(REP.hostUnreachable));
            emit(ctx, { name: auth.name, ip: null, port: target.port, decision: auth.decision, detail: auth.detail, latencyMs: clock.now() - t0 });
            return;
          }
          await runTunnel(ctx, sock, rest, auth, target.port, t0, (res) => {
            if (res.ok) sock.write(encodeReply(REP.succeeded, bindOf(res.sock)));
            else sock.end(encodeReply(res.code === "ECONNREFUSED" ? REP.connectionRefused : res.code === "ENETUNREACH" ? REP.networkUnreachable : REP.hostUnreachable));
          });
        },
        (e: unknown) => internalFailure(ctx, sock, e),
      );
    };
    sock.on("data", onData);
  }

  function nameOf(t: Target): string | null {
    return t.host.kind === "name" ? t.host.name : null;
  }

  function bindOf(s: net.Socket): { ip: IpAddr; port: number } | undefined {
    const ip = s.localAddress ? parseIp(s.localAddress) : null;
    return ip ? { ip, port: s.localPort ?? 0 } : undefined;
  }

  /**
   * SOCKS5 UDP ASSOCIATE: a relay socket on the listener's address. Each datagram's
   * destination is decided (protocol udp) like a CONNECT: literal addresses as addresses,
   * names by name and then per resolved address; denied datagrams are dropped (UDP has no
   * refusal to send back), and each distinct destination gets one flow event. Only the
   * client's address may use the relay; it ends when the TCP control connection closes.
   */
  async function udpAssociate(ctrl: net.Socket, _hint: Target): Promise<void> {
    const clientIp = ctrl.remoteAddress ?? "";
    const fam = net.isIPv6(ctrl.localAddress ?? "") ? "udp6" : "udp4";
    const relay = dgram.createSocket({ type: fam });
    udpSockets.add(relay);
    relay.on("error", () => relay.close());
    await new Promise<void>((resolve) => relay.bind(0, ctrl.localAddress, resolve));
    const local = relay.address();
    const bindIp = parseIp(local.address);
    ctrl.write(encodeReply(REP.succeeded, bindIp ? { ip: bindIp, port: local.port } : undefined));
    const seen = new Map<string, { ctx: Ctx; allowed: IpAddr | null; name: string | null; port: number; decision: Decision; up: number; down: number; detail?: string }>();
    let clientPort: number | null = null;
    const finish = (): void => {
      udpSockets.delete(relay);
      try {
        relay.close();
      } catch {
        // already closed
      }
      for (const f of seen.values()) emit(f.ctx, { name: f.name, ip: f.allowed, port: f.port, decision: f.decision, detail: f.detail, up: f.up, down: f.down });
    };
    ctrl.on("error", () => ctrl.destroy());
    ctrl.on("end", () => ctrl.destroy());
    ctrl.on("data", () => {}); // nothing more is expected on the control connection
    ctrl.resume();
    ctrl.setTimeout(limits.idleTimeoutMs, () => ctrl.destroy());
    ctrl.once("close", finish);
    const key = (t: Target): string => `${hostText(t.host)}|${t.port}`;
    relay.on("message", (msg, rinfo) => {
      if (rinfo.address === clientIp || rinfo.address === `::ffff:${clientIp}`) {
        if (clientPort !== null && rinfo.port !== clientPort) return;
        clientPort = rinfo.port;
        const p = parseUdpDatagram(msg);
        if (p.status !== "ok") return;
        const { target, data } = p.value;
        const k = key(target);
        const known = seen.get(k);
        if (known) {
          if (known.allowed) {
            known.up += data.length;
            relay.send(data, known.port, formatIp(unmapV4(known.allowed) ?? known.allowed));
          }
          return;
        }
        const entry = { ctx: { t0: clock.now(), client: `${clientIp}:${rinfo.port}`, via: "socks5 UDP", done: false }, allowed: null as IpAddr | null, name: nameOf(target), port: target.port, decision: MALFORMED, up: 0, down: 0 } as {
          ctx: Ctx;
          allowed: IpAddr | null;
          name: string | null;
          port: number;
          decision: Decision;
          up: number;
          down: number;
          detail?: string;
        };
        seen.set(k, entry);
        void authorizeUdp(target).then((auth) => {
          entry.decision = auth.decision;
          if (auth.kind === "allow") {
            const ip = auth.addresses.find((a) => (fam === "udp6" ? true : (unmapV4(a) ?? a).family === 4)) ?? null;
            entry.allowed = ip;
            if (ip) {
              entry.up += data.length;
              relay.send(data, target.port, formatIp(unmapV4(ip) ?? ip));
            }
          } else if (auth.kind === "deny") {
            if (auth.detail !== undefined) entry.detail = auth.detail;
          } else entry.detail = auth.detail;
        });
        return;
      }
      // a reply from a destination the client sent to
      const from = parseIp(rinfo.address);
      if (!from || clientPort === null) return;
      for (const f of seen.values()) {
        if (f.allowed && f.port === rinfo.port && (unmapV4(f.allowed) ?? f.allowed).value === (unmapV4(from) ?? from).value) {
          f.down += msg.length;
          relay.send(Buffer.concat([encodeUdpHeader({ ip: from, port: rinfo.port }), msg]), clientPort, clientIp);
          return;
        }
      }
    });
  }

  // the same gate logic with protocol udp: every flow the UDP relay asks about is a udp flow
  const udpDecider: FlowDecider = { decide: (f) => opts.decider.decide({ ...f, protocol: "udp" }) };
  const udpGate: Gate = createGate({ policy: opts.policy, decider: udpDecider, resolver: opts.resolver, ...(opts.phase === undefined ? {} : { phase: opts.phase }) });
  function authorizeUdp(target: Target): Promise<Authorization> {
    return udpGate.authorize(target);
  }

  // ------------------------------------------------------------------ transparent TLS

  function onTransparentTls(spec: ListenerSpec, sock: net.Socket): void {
    if (!admit(sock)) return;
    sock.on("error", () => sock.destroy());
    const ctx = newCtx(sock, "transparent-tls");
    const port = spec.targetPort ?? 443;
    const t0 = clock.now();
    void readHello(sock, Buffer.alloc(0), limits.handshakeTimeoutMs)
      .then(async ({ step, buf }) => {
        const refuse = (decision: Decision, detail: string, tls: boolean, name: string | null = null, ip: IpAddr | null = null): void => {
          if (tls && !sock.destroyed) sock.end(TLS_ACCESS_DENIED);
          else sock.destroy();
          emit(ctx, { name, ip, port, decision, detail, latencyMs: clock.now() - t0 });
        };
        if (step.status === "closed") return refuse(MALFORMED, "client closed before sending a ClientHello", false);
        if (step.status === "timeout" || step.status === "more") return refuse(gate.proxyDeny("default", "no-sni"), "no ClientHello before the handshake timeout", false);
        if (step.status === "not-tls") return refuse(MALFORMED, "not TLS", false);
        if (step.status === "error") return refuse(MALFORMED, `${step.code}: ${step.message}`, true);
        if (step.ech) return refuse(gate.proxyDeny("default", "sni-mismatch"), "Encrypted Client Hello hides the real server name", true);
        if (step.sni === null) return refuse(gate.proxyDeny("default", "no-sni"), "a redirected TLS connection without a server name cannot be decided", true);
        let target: Target;
        try {
          const host = parseHost(step.sni);
          if (host.kind === "ip") return refuse(MALFORMED, `server name '${step.sni}' is an address`, true);
          target = { host, port };
        } catch (e) {
          return refuse(MALFORMED, e instanceof Error ? e.message : String(e), true);
        }
        const auth = await gate.authorize(target);
        if (auth.kind === "deny") return refuse(auth.decision, auth.detail ?? "", true, auth.name, auth.address);
        if (auth.kind !== "allow") return refuse(auth.decision, auth.kind === "unresolved" ? auth.detail : "", true, auth.name);
        const relay = createRelay(pool);
        const d = await dial(auth.addresses, port, relay);
        const latencyMs = clock.now() - t0;
        if (!d.ok) {
          sock.destroy();
          emit(ctx, { name: auth.name, ip: d.ip, port, decision: auth.decision, detail: `connect failed: ${d.code}`, latencyMs });
          return;
        }
        const up = d.sock;
        up.write(buf);
        relay.start(up, sock);
        splice(sock, up, () => emit(ctx, { name: auth.name, ip: d.ip, port, decision: auth.decision, detail: auth.detail, up: up.bytesWritten, down: up.bytesRead, latencyMs }));
      })
      .catch((e: unknown) => internalFailure(ctx, sock, e));
  }

  // ------------------------------------------------------------------ transparent HTTP

  type HeadStep = HeadEnd | { status: "timeout" } | { status: "closed" };

  /**
   * Read from `sock` until a whole request head (at most `maxHeaderBytes`) is buffered, the
   * handshake timeout passes or the client closes. The socket is paused afterwards.
   */
  function readHead(sock: net.Socket): Promise<{ step: HeadStep; buf: Buffer }> {
    return new Promise((resolve) => {
      let buf: Buffer = Buffer.alloc(0);
      const finish = (step: HeadStep): void => {
        clearTimeout(timer);
        sock.removeListener("data", onData);
        sock.removeListener("end", onEnd);
        sock.removeListener("close", onEnd);
        sock.pause();
        resolve({ step, buf });
      };
      const onData = (d: Buffer): void => {
        const searched = buf.length;
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        const step = findHeadEnd(buf, limits.maxHeaderBytes, searched);
        if (step.status !== "more") finish(step);
      };
      const onEnd = (): void => finish({ status: "closed" });
      const timer = setTimeout(() => finish({ status: "timeout" }), limits.handshakeTimeoutMs);
      sock.on("data", onData);
      sock.once("end", onEnd);
      sock.once("close", onEnd);
      sock.resume();
    });
  }

  /**
   * Answer on a raw client socket and close it: input is read and dropped until the client
   * closes its side (so no reset discards the answer), for at most the handshake timeout
   * (a client still sending, or not reading, is then cut).
   */
  function answerAndClose(sock: net.Socket, response: string): void {
    if (sock.destroyed) return;
    const timer = setTimeout(() => sock.destroy(), limits.handshakeTimeoutMs);
    sock.once("close", () => clearTimeout(timer));
    sock.on("data", () => {});
    sock.once("end", () => sock.destroy());
    sock.resume();
    sock.end(response);
  }

  function onTransparentHttp(spec: ListenerSpec, sock: net.Socket): void {
    if (!admit(sock)) return;
    sock.on("error", () => sock.destroy());
    const ctx = newCtx(sock, "transparent-http");
    const port = spec.targetPort ?? 80;
    const t0 = clock.now();
    void readHead(sock)
      .then(async ({ step, buf }) => {
        const malformed = (status: number, text: string, code: string, detail: string): void => {
          answerAndClose(sock, rawResponse(status, text, { "X-Clawfence-Reason": "malformed" }, `clawfence: ${code}\n`));
          emit(ctx, { name: null, ip: null, port: null, decision: MALFORMED, detail });
        };
        if (step.status === "closed") {
          sock.destroy();
          if (buf.length > 0) emit(ctx, { name: null, ip: null, port: null, decision: MALFORMED, detail: "client closed inside the request head" });
          return;
        }
        if (step.status === "timeout" || step.status === "more") return malformed(408, "Request Timeout", "HPE_HEADERS_TIMEOUT", "408 no complete request head before the handshake timeout");
        if (step.status === "too-big") return malformed(431, "Request Header Fields Too Large", "HPE_HEADER_OVERFLOW", `431 the request head is over ${limits.maxHeaderBytes} bytes`);
        let target: HttpTarget;
        let method = "?";
        try {
          const head = parseRequestHead(buf.subarray(0, step.length));
          method = head.method;
          ctx.via = `transparent-http ${method}`;
          target = transparentTarget(head, port);
        } catch (e) {
          const code = e instanceof TargetParseError ? e.code : "CF_PROXY_BAD_HEAD";
          const msg = e instanceof Error ? e.message : String(e);
          answerAndClose(sock, rawResponse(400, "Bad Request", { "X-Clawfence-Reason": "malformed" }, `clawfence: ${msg}\n`));
          emit(ctx, { name: null, ip: null, port: null, decision: MALFORMED, detail: `${code}: ${msg}` });
          return;
        }
        const what = `${method} http://${target.authority}${target.path.length > 200 ? `${target.path.slice(0, 200)}...` : target.path}`;
        const auth = await gate.authorize(target);
        if (auth.kind === "deny") {
          answerAndClose(sock, rawResponse(403, "Forbidden", decisionHeaders(auth.decision), denyBody(what, auth.decision, auth.detail)));
          emit(ctx, { name: auth.name, ip: auth.address, port: target.port, decision: auth.decision, detail: auth.detail, latencyMs: clock.now() - t0 });
          return;
        }
        if (auth.kind === "unresolved") {
          answerAndClose(sock, rawResponse(502, "Bad Gateway", { "X-Clawfence-Error": auth.code }, `clawfence: ${auth.detail}\n`));
          emit(ctx, { name: auth.name, ip: null, port: target.port, decision: auth.decision, detail: auth.detail, latencyMs: clock.now() - t0 });
          return;
        }
        const relay = createRelay(pool);
        const d = await dial(auth.addresses, target.port, relay);
        const latencyMs = clock.now() - t0;
        if (!d.ok) {
          answerAndClose(sock, rawResponse(502, "Bad Gateway", { "X-Clawfence-Error": d.code }, `clawfence: connecting to ${target.authority} failed (${d.code})\n`));
          emit(ctx, { name: auth.name, ip: d.ip, port: target.port, decision: auth.decision, detail: `connect failed: ${d.code}`, latencyMs });
          return;
        }
        const up = d.sock;
        if (sock.destroyed) {
          up.destroy();
          emit(ctx, { name: auth.name, ip: d.ip, port: target.port, decision: auth.decision, detail: "client left before the upstream connection opened", latencyMs });
          return;
        }
        // the head and whatever followed it go out unchanged; from here on nothing is parsed
        up.write(buf);
        relay.start(up, sock);
        splice(sock, up, () => emit(ctx, { name: auth.name, ip: d.ip, port: target.port, decision: auth.decision, detail: auth.detail, up: up.bytesWritten, down: up.bytesRead, latencyMs }));
      })
      .catch((e: unknown) => internalFailure(ctx, sock, e));
  }

  // ------------------------------------------------------------------ lifecycle

  function makeServer(spec: ListenerSpec): net.Server {
    switch (spec.kind) {
      case "http":
        return httpServer(spec);
      case "transparent-http":
        return net.createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: STREAM_HWM }, (s) => onTransparentHttp(spec, s));
      case "socks5":
        return net.createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: STREAM_HWM }, onSocks);
      case "transparent-tls":
        return net.createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: STREAM_HWM }, (s) => onTransparentTls(spec, s));
      default: {
        const never: never = spec.kind;
        throw new Error(`unknown listener kind ${String(never)}`);
      }
    }
  }

  return {
    async start(): Promise<void> {
      for (const spec of opts.listeners) {
        const server = makeServer(spec);
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen({ host: spec.address, port: spec.port, exclusive: true }, () => {
            server.removeListener("error", reject);
            resolve();
          });
        });
        server.on("error", () => {});
        servers.push({ spec, server });
      }
    },
    async close(): Promise<void> {
      closing = true;
      const waits = servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const s of sockets) s.destroy();
      for (const u of udpSockets) {
        try {
          u.close();
        } catch {
          // already closed
        }
      }
      for (const { server } of servers) if (server instanceof http.Server) server.closeAllConnections();
      await Promise.all(waits);
      servers.length = 0;
    },
    addresses(): BoundListener[] {
      return servers.map(({ spec, server }) => {
        const a = server.address();
        return typeof a === "object" && a ? { kind: spec.kind, address: a.address, port: a.port } : { kind: spec.kind, address: spec.address, port: spec.port };
      });
    },
    stats(): ProxyStats {
      return { active: sockets.size, refusedOverLimit };
    },
  };
}
