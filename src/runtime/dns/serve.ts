/**
 * runtime/dns/serve — run the DNS guard alone, for tests, benchmarks and manual use:
 *
 *   node src/runtime/dns/serve.ts --policy P.yaml --listen 10.9.0.1:53 --table T
 *        [--upstream 10.9.1.2[:53]]... [--phase P] [--events FILE.jsonl] [--no-load] [--upstream-timeout MS]
 *        [--heuristics JSON]   (e.g. '{"maxUniquePerDomain":100000}', see heuristics.ts)
 *
 * Loads the policy, compiles the decider, opens an `nft -i` session for table T (which must
 * already exist: `clawfence compile --target nftables` + `nft -f`), reads back the live set
 * elements (a restart keeps them), and prints `ready ADDR:PORT` on stdout once listening.
 * Flow events go to FILE as JSON lines (default: stdout after the ready line). SIGTERM/SIGINT
 * close it. `clawfence run` embeds the guard directly instead of running this script.
 *
 * The only file under runtime/dns that reads argv or exits the process.
 */
import { createWriteStream, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadPolicy } from "../../policy/load.ts";
import { compileDecider } from "../../match/decide.ts";
import { createNftSession } from "../nft/session.ts";
import { createSetProgrammer } from "../nft/programmer.ts";
import type { EventSink } from "../events.ts";
import { createDnsGuard } from "./guard.ts";
import { parseHostPort, systemUpstreams } from "./upstreams.ts";
import type { HeuristicsConfig } from "./heuristics.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      policy: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:53" },
      upstream: { type: "string", multiple: true },
      table: { type: "string" },
      phase: { type: "string" },
      events: { type: "string" },
      "no-load": { type: "boolean", default: false },
      "upstream-timeout": { type: "string" },
      heuristics: { type: "string" },
    },
  });
  if (!values.policy || !values.table) {
    process.stderr.write("usage: serve.ts --policy FILE --table NFT_TABLE [--listen ADDR:PORT] [--upstream ADDR[:PORT]]... [--phase P] [--events FILE]\n");
    process.exit(2);
  }
  const policy = loadPolicy(values.policy, (p) => readFileSync(p, "utf8"));
  const listen = parseHostPort(values.listen, 53);
  if (!listen) throw new Error(`bad --listen '${values.listen}'`);
  const upstreams = (values.upstream ?? []).map((t) => {
    const u = parseHostPort(t, 53);
    if (!u) throw new Error(`bad --upstream '${t}'`);
    return u;
  });
  const resolved = upstreams.length > 0 ? upstreams : (policy.dns.upstreams ?? systemUpstreams(readFileSync("/etc/resolv.conf", "utf8")));
  const clock = { now: () => Date.now() };
  const runner = createNftSession();
  const programmer = createSetProgrammer({ policy, table: values.table, runner, clock });
  if (!values["no-load"]) await programmer.load();
  // buffered, never blocking the data path: the lines of one turn of the event loop are
  // written together when it is free (one write per batch, not per query)
  const out = values.events ? createWriteStream(values.events, { flags: "a" }) : process.stdout;
  let lines = "";
  const flush = (): void => {
    if (lines === "") return;
    out.write(lines);
    lines = "";
  };
  const sink: EventSink = {
    emit(e) {
      if (lines === "") setImmediate(flush);
      lines += `${JSON.stringify(e)}\n`;
    },
  };
  const guard = createDnsGuard({
    listen: { address: listen.address, port: listen.port },
    policy,
    decider: compileDecider(policy),
    upstreams: resolved,
    programmer,
    sink,
    clock,
    ...(values.phase !== undefined ? { phase: values.phase } : {}),
    ...(values.heuristics !== undefined ? { heuristics: JSON.parse(values.heuristics) as Partial<HeuristicsConfig> } : {}),
    ...(values["upstream-timeout"] !== undefined ? { limits: { upstreamTimeoutMs: Number(values["upstream-timeout"]) } } : {}),
  });
  await guard.start();
  const a = guard.addresses().udp;
  process.stdout.write(`ready ${a.address}:${a.port}\n`);
  const stop = (): void => {
    void guard
      .close()
      .then(() => {
        flush();
        return runner.close();
      })
      .then(() => new Promise<void>((r) => (out === process.stdout ? r() : out.end(() => r()))))
      .then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`serve: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
