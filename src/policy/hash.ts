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
  // one parts array joined once: string concatenation per node is quadratic-ish on 100k entries
  const parts: string[] = [];
  const enc = (v: unknown): void => {
    if (v === null || v === undefined) {
      parts.push("null");
      return;
    }
    switch (typeof v) {
      case "bigint":
        parts.push(`"${v.toString()}"`);
        return;
      case "string":
      case "number":
      case "boolean":
        parts.push(JSON.stringify(v));
        return;
      case "object": {
        if (Array.isArray(v)) {
          parts.push("[");
          for (let i = 0; i < v.length; i++) {
            if (i > 0) parts.push(",");
            enc(v[i]);
          }
          parts.push("]");
          return;
        }
        const obj = v as Record<string, unknown>;
        const keys = Object.keys(obj)
          .filter((k) => !skip.has(k) && obj[k] !== undefined)
          .sort();
        parts.push("{");
        keys.forEach((k, i) => {
          if (i > 0) parts.push(",");
          parts.push(JSON.stringify(k), ":");
          enc(obj[k]);
        });
        parts.push("}");
        return;
      }
      case "function":
      case "symbol":
        parts.push("null");
        return;
    }
  };
  enc(value);
  return parts.join("");
}

export function policyHash(policy: Omit<Policy, "hash">): string {
  return createHash("sha256").update(canonicalJson(policy)).digest("hex");
}
