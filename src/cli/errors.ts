/**
 * cli/errors — failures with a stable code, a fix, and the exit status they map to.
 *
 * Map: any layer may throw `CliError` (usage, I/O, runtime failure); cli/main.ts catches it,
 * prints `error CODE: message` and `fix: ...`, and exits with `exit`. Policy problems travel
 * as `PolicyError` (policy/errors.ts) and are printed as diagnostics.
 * Codes: CF_USAGE_* (exit 2), CF_IO_* (exit 2), CF_RUNTIME_* (exit 3 unless said), ...
 */
export class CliError extends Error {
  readonly code: string;
  readonly fix: string;
  readonly exit: number;
  constructor(code: string, message: string, fix: string, exit = 2) {
    super(message);
    this.name = "CliError";
    this.code = code;
    this.fix = fix;
    this.exit = exit;
  }
}

/** Streams and environment a command may use; injected so tests can run commands in-process. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export type Command = (argv: readonly string[], io: CliIo) => Promise<number>;
