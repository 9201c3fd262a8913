/**
 * cli/commands/cleanup — `clawfence cleanup`: remove what crashed `clawfence run` processes
 * left behind (namespace, veth, nftables tables, address slot, state record). Sandboxes whose
 * clawfence is still running are left alone.
 */
import { type CliIo, CliError } from "../errors.ts";
import { cleanupLeftovers } from "../../runtime/sandbox/index.ts";

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write("usage: clawfence cleanup\n\nRemoves the leftovers of crashed `clawfence run` sandboxes (needs root).\n");
    return 0;
  }
  if (argv.length > 0) throw new CliError("CF_USAGE_ARGS", `unexpected argument '${argv[0] ?? ""}'`, "run 'clawfence cleanup' without arguments");
  if (process.getuid?.() !== 0) throw new CliError("CF_USAGE_ROOT", "clawfence cleanup needs root", "run it with sudo");
  const removed = await cleanupLeftovers(io.env);
  io.stdout.write(removed.length ? `removed ${removed.length} leftover sandbox(es): ${removed.join(", ")}\n` : "nothing to clean up\n");
  return 0;
}
