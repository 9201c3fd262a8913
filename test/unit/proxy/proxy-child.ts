/**
 * test/unit/proxy/proxy-child — runs one proxy in its own process, for the namespace tests
 * and the benchmark (started with `ip netns exec NS node proxy-child.ts CONFIG.json`).
 *
 * CONFIG: { policy: path to a policy YAML, listeners: ListenerSpec[], dns: ["ip[:port]"],
 *           events: path of a JSON-lines file (or null), limits?: Partial<ProxyLimits> }
 * Prints "READY <addresses JSON>" once listening; closes on SIGTERM. Events are written
 * through a buffered stream so the data path never waits on the file.
 */
import { readFileSync, createWriteStream } from "node:fs";
import { loadPolicy } from "../../../src/policy/load.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { createProxy, type ListenerSpec, type ProxyLimits } from "../../../src/runtime/proxy/proxy.ts";
import { createCachingResolver, createUpstreamResolver } from "../../../src/runtime/proxy/resolver.ts";
import type { EventSink } from "../../../src/runtime/events.ts";

interface Config {
  policy: string;
  listeners: ListenerSpec[];
  dns: string[];
  events: string | null;
  limits?: Partial<ProxyLimits>;
}

const cfg = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as Config;
const policy = loadPolicy(cfg.policy, (p) => readFileSync(p, "utf8"));
const out = cfg.events ? createWriteStream(cfg.events, { flags: "a" }) : null;
const sink: EventSink = { emit: (e) => void out?.write(`${JSON.stringify(e)}\n`) };
const clock = { now: () => Date.now() };
const proxy = createProxy({
  listeners: cfg.listeners,
  policy,
  decider: compileDecider(policy),
  resolver: createCachingResolver(createUpstreamResolver({ servers: cfg.dns, ipv6: false }), { minTtl: policy.dns.minTtl, clock }),
  sink,
  clock,
  ...(cfg.limits ? { limits: cfg.limits } : {}),
});
await proxy.start();
process.stdout.write(`READY ${JSON.stringify(proxy.addresses())}\n`);
process.on("SIGTERM", () => {
  void proxy.close().then(() => {
    if (out) out.end(() => process.exit(0));
    else process.exit(0);
  });
});
