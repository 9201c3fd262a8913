/**
 * test/unit/proxy/origin-child — origin servers for the proxy's namespace tests and benchmark,
 * run in the "server" namespace: HTTPS (self-signed cert made by the test with openssl)
 * answering "hello https HOST", plain HTTP answering "hello http HOST", git smart HTTP under
 * /repo.git via `git http-backend` (CGI), and GET /bulk/N answering N bytes.
 *
 * CONFIG (argv[2], JSON): { cert, key, http: ["ip:port"], https: ["ip:port"], gitRoot }
 * Prints "READY" when listening.
 */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { spawn } from "node:child_process";

interface Config {
  cert: string;
  key: string;
  http: string[];
  https: string[];
  gitRoot: string;
}

const cfg = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as Config;

function split(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(":");
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
}

function gitCgi(req: http.IncomingMessage, res: http.ServerResponse): void {
  const u = new URL(req.url ?? "/", "https://x");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    GIT_PROJECT_ROOT: cfg.gitRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    REQUEST_METHOD: req.method ?? "GET",
    PATH_INFO: decodeURIComponent(u.pathname),
    QUERY_STRING: u.search.slice(1),
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_ADDR: req.socket.remoteAddress ?? "",
  };
  if (req.headers["content-length"]) env["CONTENT_LENGTH"] = req.headers["content-length"];
  if (req.headers["content-encoding"]) env["HTTP_CONTENT_ENCODING"] = req.headers["content-encoding"];
  if (req.headers["git-protocol"]) env["GIT_PROTOCOL"] = String(req.headers["git-protocol"]);
  const cgi = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "inherit"] });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let inBody = false;
  cgi.stdout.on("data", (d: Buffer) => {
    if (inBody) {
      res.write(d);
      return;
    }
    head = Buffer.concat([head, d]);
    let end = head.indexOf("\r\n\r\n");
    let sep = 4;
    if (end < 0) {
      end = head.indexOf("\n\n");
      sep = 2;
    }
    if (end < 0) return;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString("latin1").split(/\r?\n/)) {
      const c = line.indexOf(":");
      if (c < 0) continue;
      const k = line.slice(0, c).trim();
      const v = line.slice(c + 1).trim();
      if (k.toLowerCase() === "status") status = Number(v.split(" ")[0]);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    inBody = true;
    res.write(head.subarray(end + sep));
  });
  cgi.on("close", () => res.end());
}

/** GET /bulk/N: N bytes, written in 1 MiB chunks with backpressure (the benchmark's source). */
function bulk(n: number, res: http.ServerResponse): void {
  let left = Number.isSafeInteger(n) && n > 0 ? n : 0;
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": left });
  const pump = (): void => {
    while (left > 0) {
      const k = Math.min(left, chunk.length);
      left -= k;
      if (!res.write(k === chunk.length ? chunk : chunk.subarray(0, k))) {
        res.once("drain", pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function handler(kind: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if ((req.url ?? "").startsWith("/repo.git")) return gitCgi(req, res);
    if ((req.url ?? "").startsWith("/bulk/")) return bulk(Number((req.url ?? "").slice(6)), res);
    const body = `hello ${kind} ${req.headers.host ?? "-"}\n`;
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
}

const chunk = Buffer.alloc(1 << 20, 0x61);
const waits: Array<Promise<void>> = [];
const tlsOpts = { cert: readFileSync(cfg.cert), key: readFileSync(cfg.key) };
for (const hp of cfg.https) {
  const { host, port } = split(hp);
  const s = https.createServer(tlsOpts, handler("https"));
  waits.push(new Promise((r) => s.listen(port, host, r)));
}
for (const hp of cfg.http) {
  const { host, port } = split(hp);
  const s = http.createServer(handler("http"));
  waits.push(new Promise((r) => s.listen(port, host, r)));
}
await Promise.all(waits);
process.stdout.write("READY\n");
process.on("SIGTERM", () => process.exit(0));
