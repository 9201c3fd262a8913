/**
 * runtime/nft/session — one long-lived `nft -i` process that applies `nft -f` text and says
 * when the kernel has it.
 *
 * Why a session: spawning `nft -f -` per DNS answer costs ~3-5 ms (process start plus
 * netlink cache fill); a resident `nft -i` applies an element in ~0.5 ms (bench/dns.bench.ts
 * measures both). nft -i handles one line at a time, each line its own transaction, and
 * prints nothing on success; so after each batch we send `describe tcp dport`, a purely
 * userspace command whose output marks "everything before me is done". stderr is merged
 * into stdout (`2>&1` through /bin/sh, which then execs nft) so an `Error:` arrives in order,
 * before the marker.
 *
 * Batching: requests that arrive while a batch is in the kernel are sent together as the
 * next batch. An error anywhere in a batch fails every request of it (fail closed: the
 * guard answers SERVFAIL). A batch without its marker within `timeoutMs` kills the process;
 * the next request starts a new one.
 *
 * Owns the child process; no policy knowledge, no clock beyond the timeout timer.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { RuntimeError } from "../errors.ts";

export interface NftRunner {
  /** Apply `nft -f` text; resolves once the kernel has it, rejects with CF_RUNTIME_NFT_* otherwise. */
  apply(text: string): Promise<void>;
  close(): Promise<void>;
}

export interface NftSessionOptions {
  /** command that runs nft, default ["nft"]; tests use ["ip", "netns", "exec", NS, "nft"] */
  readonly nft?: readonly string[];
  readonly timeoutMs?: number;
}

const MARKER_CMD = "describe tcp dport\n";
const MARKER_TEXT = "payload expression, datatype inet_service";

interface Pending {
  readonly text: string;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export function createNftSession(opts: NftSessionOptions = {}): NftRunner {
  const nft = opts.nft ?? ["nft"];
  const timeoutMs = opts.timeoutMs ?? 2000;
  let child: ChildProcessWithoutNullStreams | null = null;
  let queue: Pending[] = [];
  let inflight: Pending[] | null = null;
  let out = "";
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  function fail(batch: readonly Pending[], err: Error): void {
    for (const p of batch) p.reject(err);
  }

  function startChild(): ChildProcessWithoutNullStreams {
    const c = spawn("/bin/sh", ["-c", 'exec "$0" "$@" -i 2>&1', ...nft], { stdio: ["pipe", "pipe", "pipe"] });
    c.stdout.setEncoding("utf8");
    c.stdout.on("data", (d: string) => {
      out += d;
      const at = out.indexOf(MARKER_TEXT);
      if (at < 0 || inflight === null) return;
      const lineEnd = out.indexOf("\n", at);
      if (lineEnd < 0) return;
      const before = out.slice(0, at);
      out = out.slice(lineEnd + 1);
      const batch = inflight;
      inflight = null;
      if (timer) clearTimeout(timer);
      timer = null;
      if (before.includes("Error")) {
        fail(batch, new RuntimeError("CF_RUNTIME_NFT_ELEMENT", `nft refused set elements: ${before.trim().split("\n")[0] ?? ""}`, "check that the policy's table is loaded (clawfence apply) and matches this policy"));
      } else for (const p of batch) p.resolve();
      pump();
    });
    c.on("error", (err) => {
      died(new RuntimeError("CF_RUNTIME_NFT_SPAWN", `cannot run ${nft.join(" ")}: ${err.message}`, "install nftables (Debian: apt-get install nftables) and run as root"));
    });
    c.on("exit", (code, signal) => {
      died(new RuntimeError("CF_RUNTIME_NFT_EXIT", `nft -i exited (${signal ?? code})`, "see the lines above; the next answer starts a new nft process"));
    });
    c.stdin.on("error", () => {
      /* the exit handler reports it */
    });
    return c;
  }

  function died(err: Error): void {
    if (timer) clearTimeout(timer);
    timer = null;
    child = null;
    out = "";
    if (inflight) fail(inflight, err);
    inflight = null;
    if (closed) {
      fail(queue, err);
      queue = [];
    } else pump();
  }

  function pump(): void {
    if (inflight !== null || queue.length === 0 || closed) return;
    child ??= startChild();
    const batch = queue;
    queue = [];
    inflight = batch;
    const c = child;
    timer = setTimeout(() => {
      const b = inflight;
      inflight = null;
      if (b) fail(b, new RuntimeError("CF_RUNTIME_NFT_TIMEOUT", `nft did not confirm set elements within ${timeoutMs} ms`, "the system may be overloaded; nft was restarted"));
      c.kill("SIGKILL");
    }, timeoutMs);
    c.stdin.write(batch.map((p) => p.text).join("") + MARKER_CMD);
  }

  return {
    apply(text) {
      if (closed) return Promise.reject(new RuntimeError("CF_RUNTIME_NFT_CLOSED", "the nft session is closed", "create a new session"));
      if (text.length === 0) return Promise.resolve();
      const t = text.endsWith("\n") ? text : `${text}\n`;
      return new Promise<void>((resolve, reject) => {
        queue.push({ text: t, resolve, reject });
        pump();
      });
    },
    close() {
      closed = true;
      const c = child;
      if (!c) {
        fail(queue, new RuntimeError("CF_RUNTIME_NFT_CLOSED", "the nft session is closed", "create a new session"));
        queue = [];
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        c.once("exit", () => resolve());
        c.stdin.end();
        setTimeout(() => c.kill("SIGKILL"), 1000).unref();
      });
    },
  };
}

/** The contrast to a session: one `nft -f -` process per batch (for the benchmark and as a fallback). */
export function createNftOneShot(opts: NftSessionOptions = {}): NftRunner {
  const nft = opts.nft ?? ["nft"];
  return {
    apply(text) {
      return new Promise<void>((resolve, reject) => {
        const c = spawn(nft[0] ?? "nft", [...nft.slice(1), "-f", "-"], { stdio: ["pipe", "ignore", "pipe"] });
        let err = "";
        c.stderr.setEncoding("utf8");
        c.stderr.on("data", (d: string) => (err += d));
        c.on("error", (e) => reject(new RuntimeError("CF_RUNTIME_NFT_SPAWN", `cannot run nft: ${e.message}`, "install nftables and run as root")));
        c.on("exit", (code) =>
          code === 0 ? resolve() : reject(new RuntimeError("CF_RUNTIME_NFT_ELEMENT", `nft refused set elements: ${err.trim().split("\n")[0] ?? ""}`, "check that the policy's table is loaded")),
        );
        c.stdin.end(text);
      });
    },
    close: () => Promise.resolve(),
  };
}
