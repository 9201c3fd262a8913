/**
 * runtime/proxy/resolver — how the proxy turns an allowed name into addresses.
 *
 * Map: the gate (gate.ts) calls `resolve(name)` once per request for a name that passed the
 * name decision; every address that comes back is checked, and the proxy dials one of the
 * checked addresses itself (never the name), so nothing after the check can resolve again.
 * `createUpstreamResolver` asks the given upstream servers directly (node:dns `Resolver`,
 * which does not read /etc/hosts and keeps no cache of its own); the DNS guard may provide
 * another implementation of `NameResolver` backed by its cache.
 *
 * Owns: the `NameResolver` interface and one implementation. Does not decide anything.
 */
import { Resolver } from "node:dns/promises";
import type { IpAddr } from "../../match/decision.ts";
import { parseIp } from "../../match/ip.ts";

export interface Resolution {
  /** IPv4 addresses first, then IPv6, in answer order */
  readonly addresses: readonly IpAddr[];
  /** smallest TTL of the answers, seconds */
  readonly ttl: number;
}

export interface NameResolver {
  /** Throws `ResolveError` when the name has no address or no upstream answered. */
  resolve(name: string): Promise<Resolution>;
}

export class ResolveError extends Error {
  /** CF_PROXY_NXDOMAIN (no such name / no address) or CF_PROXY_DNS_FAILED (no usable answer) */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ResolveError";
    this.code = code;
  }
}

export interface UpstreamResolverOptions {
  /** "10.0.0.2", "10.0.0.3:5353", "[2001:db8::1]:53" */
  readonly servers: readonly string[];
  readonly timeoutMs?: number;
  readonly tries?: number;
  /** ask for AAAA too (default true) */
  readonly ipv6?: boolean;
}

const EMPTY = new Set(["ENODATA", "ENOTFOUND"]);

export function createUpstreamResolver(opts: UpstreamResolverOptions): NameResolver {
  if (opts.servers.length === 0) {
    throw new ResolveError("CF_PROXY_NO_UPSTREAM", "the proxy's resolver has no upstream servers; give at least one (dns.upstreams in the policy or --dns-upstream)");
  }
  const r = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: opts.tries ?? 2 });
  r.setServers([...opts.servers]);
  const v6 = opts.ipv6 ?? true;

  async function family(name: string, fam: 4 | 6): Promise<{ addrs: IpAddr[]; ttl: number } | { error: string }> {
    try {
      const recs = fam === 4 ? await r.resolve4(name, { ttl: true }) : await r.resolve6(name, { ttl: true });
      const addrs: IpAddr[] = [];
      let ttl = Number.POSITIVE_INFINITY;
      for (const rec of recs) {
        const ip = parseIp(rec.address);
        if (ip && ip.family === fam) addrs.push(ip);
        ttl = Math.min(ttl, rec.ttl);
      }
      return { addrs, ttl: Number.isFinite(ttl) ? ttl : 0 };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "EFAIL";
      return EMPTY.has(code) ? { addrs: [], ttl: 0 } : { error: code };
    }
  }

  return {
    async resolve(name: string): Promise<Resolution> {
      const [a, aaaa] = await Promise.all([family(name, 4), v6 ? family(name, 6) : Promise.resolve({ addrs: [], ttl: 0 })]);
      const addresses = [...("addrs" in a ? a.addrs : []), ...("addrs" in aaaa ? aaaa.addrs : [])];
      if (addresses.length > 0) {
        const ttls = [a, aaaa].flatMap((x) => ("addrs" in x && x.addrs.length > 0 ? [x.ttl] : []));
        return { addresses, ttl: Math.min(...ttls) };
      }
      const err = "error" in a ? a.error : "error" in aaaa ? aaaa.error : null;
      if (err) throw new ResolveError("CF_PROXY_DNS_FAILED", `resolving ${name} failed (${err}); check that the DNS upstreams answer`);
      throw new ResolveError("CF_PROXY_NXDOMAIN", `${name} has no address`);
    },
  };
}

export interface CacheOptions {
  /** seconds an answer is kept at least (the policy's `dns.min_ttl`) */
  readonly minTtl: number;
  readonly clock: { now(): number };
  readonly maxEntries?: number;
}

/**
 * Keep answers for max(TTL, minTtl) seconds, as the DNS guard does. Safe against rebinding
 * because the proxy checks every address it is handed, cached or not, and dials only those.
 * Failures are not cached.
 */
export function createCachingResolver(inner: NameResolver, opts: CacheOptions): NameResolver {
  const max = opts.maxEntries ?? 10_000;
  const cache = new Map<string, { res: Resolution; expires: number }>();
  const pending = new Map<string, Promise<Resolution>>();
  return {
    resolve(name: string): Promise<Resolution> {
      const hit = cache.get(name);
      const now = opts.clock.now();
      if (hit && hit.expires > now) return Promise.resolve(hit.res);
      if (hit) cache.delete(name);
      const inFlight = pending.get(name);
      if (inFlight) return inFlight;
      const p = inner.resolve(name).then(
        (res) => {
          pending.delete(name);
          const ttl = Math.max(res.ttl, opts.minTtl);
          if (ttl > 0) {
            if (cache.size >= max) {
              const oldest = cache.keys().next();
              if (!oldest.done) cache.delete(oldest.value);
            }
            cache.set(name, { res, expires: opts.clock.now() + ttl * 1000 });
          }
          return res;
        },
        (e: unknown) => {
          pending.delete(name);
          throw e;
        },
      );
      pending.set(name, p);
      return p;
    },
  };
}
