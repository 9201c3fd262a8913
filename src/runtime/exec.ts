/**
 * runtime/exec — run a system tool (ip, nft, setpriv, ...) and fail with a coded error.
 *
 * One place that spawns helper programs for the runtime, so every failure names the command,
 * its stderr and a fix. Never uses a shell; arguments are passed as a list.
 */
import { execFile } from "node:child_process";
import { RuntimeError } from "./errors.ts";

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

export function execTool(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 256 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
        reject(
          new RuntimeError(
            missing ? "CF_RUNTIME_TOOL_MISSING" : "CF_RUNTIME_EXEC",
            missing ? `'${cmd}' was not found` : `'${cmd} ${args.join(" ")}' failed: ${String(stderr).trim() || err.message}`,
            missing ? `install it (Debian: apt-get install ${toolPackage(cmd)})` : "see the message above; run as root, on Linux with nftables and iproute2",
          ),
        );
        return;
      }
      resolve({ stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

function toolPackage(cmd: string): string {
  switch (cmd) {
    case "ip":
      return "iproute2";
    case "nft":
      return "nftables";
    case "setpriv":
      return "util-linux";
    default:
      return cmd;
  }
}
