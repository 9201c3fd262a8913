import type { CliIo } from "../errors.ts";
export async function run(_argv: readonly string[], io: CliIo): Promise<number> { io.stdout.write("{}\n"); return 0; }
