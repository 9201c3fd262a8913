/**
 * runtime/demo/upstream — the "internet" of `clawfence demo`: one process, run inside the
 * demo's upstream namespace, serving the demo zone over DNS and a small HTTP server on each
 * demo address. Every request that reaches it is printed (`[internet] ...`), so the demo
 * shows what got through, not only what the agent was told.
 *
 *   node upstream.ts --dns ADDR --http ADDR[,ADDR...] --zone JSON
 *
 * Prints `ready` on stdout once every listener is up. Runs until SIGTERM.
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import type { Answer } from "dns-packet";
import { startZoneServer, type Zone } from "./zone-server.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dns: { type: "string" }, http: { type: "string" }, zone: { type: "string" } } });
  if (!values.dns || !values.http || !values.zone) throw new Error("usage: upstream.ts --dns ADDR --http ADDR[,ADDR] --zone JSON");
  const records = JSON.parse(values.zone) as Record<string, string>;
  const zone: Zone = {};
  for (const [name, ip] of Object.entries(records)) {
    const a: Answer = { type: "A", name, ttl: 30, data: ip } as Answer;
    zone[`${name}|A`] = { answers: [a] };
    zone[`${name}|AAAA`] = { answers: [] };
  }
  const dns = await startZoneServer(zone, values.dns, 53);
  let seen = 0;
  const servers = values.http.split(",").map(
    (addr) =>
      new Promise<void>((resolve, reject) => {
        const s = createServer((req, res) => {
          process.stdout.write(`[internet] ${addr} received ${req.method ?? "?"} http://${req.headers.host ?? addr}${req.url ?? "/"} from ${req.socket.remoteAddress ?? "?"}\n`);
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true, server: addr, path: req.url }));
        });
        s.once("error", reject);
        s.listen(80, addr, () => resolve());
      }),
  );
  await Promise.all(servers);
  setInterval(() => {
    for (; seen < dns.log.length; seen++) {
      const q = dns.log[seen];
      if (q) process.stdout.write(`[internet] resolver received ${q.type} ${q.name}\n`);
    }
  }, 50).unref();
  process.stdout.write("ready\n");
  process.on("SIGTERM", () => process.exit(0));
  await new Promise(() => undefined);
}

main().catch((e: unknown) => {
  process.stderr.write(`upstream: ${(e as Error).message}\n`);
  process.exit(1);
});
