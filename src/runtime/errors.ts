/**
 * runtime/errors — failures of the runtime layer (namespaces, nft, daemons, files), each with
 * a stable code and a fix. The CLI prints them and exits with `exit` (3 by default).
 * Codes: CF_RUNTIME_*.
 */
export class RuntimeError extends Error {
  readonly code: string;
  readonly fix: string;
  readonly exit: number;
  constructor(code: string, message: string, fix: string, exit = 3) {
    super(message);
    this.name = "RuntimeError";
    this.code = code;
    this.fix = fix;
    this.exit = exit;
  }
}
