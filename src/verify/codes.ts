/**
 * verify/codes — diagnostic codes of the scenarios file (area 7xxx: verify), with a short
 * title each, and `vdiag()` to build one. YAML-level problems keep the parser's CF1xxx codes
 * (policy/codes.ts). Codes are stable: never reuse or renumber one.
 *
 * Pure data, no I/O.
 */
import type { Diagnostic } from "../policy/errors.ts";
import type { SourcePos } from "../policy/ir.ts";

export const VERIFY_CODES = {
  CF7001: "scenarios file version missing or unsupported",
  CF7002: "unknown key in a scenarios file",
  CF7003: "required key missing in a scenarios file",
  CF7004: "value has the wrong type",
  CF7005: "value is not one of the allowed choices",
  CF7006: "value has the wrong form",
  CF7007: "value out of range or list empty",
  CF7010: "invalid destination",
  CF7011: "protocol or port given twice, differently",
  CF7012: "unknown rule",
  CF7013: "unknown phase",
  CF7014: "duplicate scenario id",
  CF7015: "unknown built-in scenario",
  CF7016: "scenario id taken by a built-in scenario",
  CF7017: "invalid names for an IP destination",
  CF7018: "port on an ICMP scenario",
  CF7099: "value does not match the schema",
} as const;

export type VerifyCode = keyof typeof VERIFY_CODES;

/** A scenarios-file error; always with a fix. */
export function vdiag(code: VerifyCode, message: string, fix: string, pos: SourcePos | undefined, data?: Readonly<Record<string, unknown>>): Diagnostic {
  return { code, severity: "error", message, fix, ...(pos ? { pos } : {}), ...(data ? { data } : {}) };
}
