/**
 * policy/import — other allowlist formats to v1 policy YAML text (`clawfence import`).
 *
 * Map: the CLI (cli/commands/import.ts) reads the file and calls `importPolicy`; the format
 * is given or detected (`detectFormat`), the importer checks every line against the policy
 * language's own rules (import/entry.ts) and renders YAML with the source's comments
 * (import/yaml-out.ts). Formats: `allowlist-conf` (seed 002) and `attestation-yaml` (seed 000).
 * Diagnostics use codes CF6xxx (import/codes.ts); errors are thrown as one PolicyError.
 *
 * Pure: text in, text out; no I/O.
 */
import { PolicyError } from "../errors.ts";
import { importAllowlistConf, type ImportOptions, type ImportResult } from "./allowlist-conf.ts";
import { importAttestationYaml } from "./attestation-yaml.ts";
import { importDiag } from "./codes.ts";

export { importAllowlistConf, type ImportOptions, type ImportResult } from "./allowlist-conf.ts";
export { importAttestationYaml, unflatten } from "./attestation-yaml.ts";
export { IMPORT_CODES, type ImportCode } from "./codes.ts";

export const IMPORT_FORMATS = ["allowlist-conf", "attestation-yaml"] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export function isImportFormat(x: string): x is ImportFormat {
  return (IMPORT_FORMATS as readonly string[]).includes(x);
}

/**
 * The format of `text`: `attestation-yaml` when the file name ends in .yaml/.yml or some
 * line (outside comments) is a list item `- destination:`, or a `destination:` key;
 * otherwise `allowlist-conf`.
 */
export function detectFormat(text: string, file: string): ImportFormat {
  if (/\.ya?ml$/i.test(file)) return "attestation-yaml";
  if (/^\s*(-\s+)?destination\s*:/im.test(text)) return "attestation-yaml";
  return "allowlist-conf";
}

export function importPolicy(text: string, file: string, opts: ImportOptions & { readonly format?: string } = {}): ImportResult & { readonly format: ImportFormat } {
  const format = opts.format ?? detectFormat(text, file);
  const named: ImportOptions = opts.name !== undefined ? { name: opts.name } : {};
  switch (format) {
    case "allowlist-conf":
      return { ...importAllowlistConf(text, file, named), format };
    case "attestation-yaml":
      return { ...importAttestationYaml(text, file, named), format };
    default:
      throw new PolicyError([importDiag("CF6020", `unknown import format '${format}'`, `use --format ${IMPORT_FORMATS.join(" or --format ")}`, undefined)]);
  }
}
