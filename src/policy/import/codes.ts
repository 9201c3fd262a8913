/**
 * import/codes — diagnostic codes of `clawfence import` (area 6xxx of policy/errors.ts), with
 * a short title each, and the small helpers the importers share to report them.
 *
 * Codes are stable: never reuse or renumber one. Pure data, no I/O.
 */
import type { Diagnostic, Severity } from "../errors.ts";
import type { SourcePos } from "../ir.ts";

export const IMPORT_CODES = {
  CF6001: "invalid destination in an imported entry",
  CF6002: "invalid port in an imported entry",
  CF6003: "malformed line in allowlist.conf",
  CF6004: "nothing to import",
  CF6005: "duplicate entry",
  CF6006: "entry subsumed by an all-ports entry for the same destination",
  CF6007: "bare IPv6 address that may end in a port",
  CF6010: "YAML syntax error in the imported file",
  CF6011: "the imported YAML is not a list of destination entries",
  CF6012: "entry without destination",
  CF6013: "unknown or malformed protocol",
  CF6014: "destination without a port, and none follows from the protocol",
  CF6015: "unknown key in an entry",
  CF6016: "entry without protocol",
  CF6017: "value of the wrong type",
  CF6018: "ports given for ICMP",
  CF6019: "seed 000's flat list form was accepted",
  CF6020: "unknown import format",
} as const;

export type ImportCode = keyof typeof IMPORT_CODES;

export function importDiag(
  code: ImportCode,
  message: string,
  fix: string,
  pos: SourcePos | undefined,
  severity: Severity = "error",
  data?: Readonly<Record<string, unknown>>,
): Diagnostic {
  return { code, severity, message, fix, ...(pos ? { pos } : {}), ...(data ? { data } : {}) };
}
