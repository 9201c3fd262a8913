/**
 * policy/hash — the identity of a policy: sha256 of a canonical JSON of its IR.
 *
 * Map: load.ts computes `Policy.hash` with `policyHash` as the last step; flows, reports
 * and compiled artifacts carry it so an event can be tied to the exact rules that decided.
 *
 * Canonical form: object keys sorted, bigints as decimal strings, and left out: `pos`
 * (formatting moves it), `sources` (where the files were, not what they say), `vars`
 * (their effect is already in the destinations; unused machine defaults must not change
 * the hash) and `hash` itself. Everything else counts, including descriptions and the
 * catalog versions in entry origins.
 *
 * Pure: node:crypto's hash is computation, not I/O.
 */
import { createHash } from "node:crypto";
import type { Policy } from "./ir.ts";

const SKIP = new Set(["pos", "sources", "vars", "hash"]);

/** Deterministic JSON: sorted keys, bigint as string, undefined members dropped. */
export function canonicalJson(value: unknown, skip: ReadonlySet<string> = SKIP): string {
  const enc = (v: unknown): string => {
    if (v === null) return "null";
    switch (typeof v) {
      case "bigint":
        return JSON.stringify(v.toString());
      case "string":
      case "number":
      case "boolean":
        return JSON.stringify(v);
      case "object": {
        if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : enc(x))).join(",")}]`;
        const keys = Object.keys(v as object)
          .filter((k) => !skip.has(k) && (v as Record<string, unknown>)[k] !== undefined)
          .sort();
        return `{${keys.map((k) => `${JSON.stringify(k)}:${enc((v as Record<string, unknown>)[k])}`).join(",")}}`;
      }
      case "undefined":
      case "function":
      case "symbol":
        return "null";
    }
    return "null";
  };
  return enc(value);
}

export function policyHash(policy: Omit<Policy, "hash">): string {
  return createHash("sha256").update(canonicalJson(policy)).digest("hex");
}
