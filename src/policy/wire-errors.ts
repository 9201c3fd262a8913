/**
 * policy/wire-errors — validate a parsed document against the wire schema and turn zod's
 * issues into diagnostics that point at the node and say what to write instead.
 *
 * Map: load.ts calls `checkVersion` and then `validateWire` for each file. Messages name the
 * field by its path (`rules[2].priority`), positions come from parse.ts's `posAt`, and
 * fixes come from the schema's own descriptions (policy/wire.ts), so the JSON Schema an
 * editor shows and the error a user reads say the same thing.
 *
 * Pure: no I/O.
 */
import type { z } from "zod";
import { diag, didYouMean, listNames } from "./codes.ts";
import type { Diagnostic } from "./errors.ts";
import type { ParsedYaml, PathSeg } from "./parse.ts";
import { PolicyDocV1 } from "./wire.ts";

type AnySchema = z.ZodType;
type Issue = z.core.$ZodIssue;

/** `rules[2].ports[0]` */
export function pathLabel(path: readonly PathSeg[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out === "" ? "the policy" : out;
}

function valueAt(value: unknown, path: readonly PathSeg[]): unknown {
  let v = value;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return "empty";
  if (Array.isArray(v)) return "a list";
  switch (typeof v) {
    case "string":
      return `the text '${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
    case "number":
      return Number.isInteger(v) ? `the number ${v}` : `the number ${v} (not an integer)`;
    case "boolean":
      return `${v} (a boolean)`;
    case "object":
      return "a mapping";
    case "bigint":
    case "function":
    case "symbol":
    case "undefined":
      return typeof v;
  }
  return typeof v;
}

function defType(s: AnySchema): string {
  return (s as unknown as { def: { type: string } }).def.type;
}

function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (let i = 0; i < 8 && defType(cur) === "optional"; i++) cur = (cur as unknown as { unwrap(): AnySchema }).unwrap();
  return cur;
}

/** The schema that describes the value at `path`, or null when the path leaves the schema. */
function schemaAt(path: readonly PathSeg[], root: AnySchema = PolicyDocV1): AnySchema | null {
  let s: AnySchema = unwrap(root);
  for (const seg of path) {
    const t = defType(s);
    if (t === "object") {
      const shape = (s as unknown as { shape: Record<string, AnySchema> }).shape;
      const next = typeof seg === "string" ? shape[seg] : undefined;
      if (!next) return null;
      s = unwrap(next);
    } else if (t === "array" && typeof seg === "number") {
      s = unwrap((s as unknown as { element: AnySchema }).element);
    } else if (t === "record" && typeof seg === "string") {
      s = unwrap((s as unknown as { valueType: AnySchema }).valueType);
    } else if (t === "union") {
      const opts = (s as unknown as { options: AnySchema[] }).options.map(unwrap);
      const want = typeof seg === "number" ? "array" : "object";
      const next = opts.find((o) => defType(o) === want || (want === "object" && defType(o) === "record"));
      if (!next) return null;
      s = next;
      // re-run this segment against the chosen option
      const inner = schemaAt([seg], s);
      if (!inner) return null;
      s = inner;
    } else {
      return null;
    }
  }
  return s;
}

function describe(s: AnySchema | null): string | undefined {
  if (!s) return undefined;
  const meta = (s as unknown as { meta(): { description?: string } | undefined }).meta();
  return meta?.description;
}

function exampleOf(s: AnySchema | null): string | undefined {
  if (!s) return undefined;
  const meta = (s as unknown as { meta(): { examples?: unknown[] } | undefined }).meta();
  const ex = meta?.examples?.[0];
  return ex === undefined ? undefined : JSON.stringify(ex);
}

function fieldFix(path: readonly PathSeg[]): string {
  const s = schemaAt(path);
  const d = describe(s);
  const ex = exampleOf(s);
  const name = pathLabel(path);
  if (d && ex) return `${name}: ${d} For example ${ex}.`;
  if (d) return `${name}: ${d}`;
  return `see \`clawfence schema\` for the form of ${name}`;
}

function expectedWords(expected: string): string {
  switch (expected) {
    case "object":
      return "a mapping (`key: value` lines)";
    case "array":
      return "a list (`[a, b]` or `- a` lines)";
    case "string":
      return "text";
    case "number":
    case "int":
      return "a number";
    case "record":
      return "a mapping";
    default:
      return expected;
  }
}

function issueToDiagnostics(issue: Issue, base: readonly PathSeg[], doc: ParsedYaml, out: Diagnostic[]): void {
  const path = [...base, ...(issue.path as PathSeg[])];
  const value = valueAt(doc.value, path);
  const label = pathLabel(path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const obj = schemaAt(path);
      const known = obj && defType(obj) === "object" ? Object.keys((obj as unknown as { shape: Record<string, unknown> }).shape) : [];
      for (const key of issue.keys) {
        const guess = didYouMean(key, known);
        const where = path.length === 0 ? "at the top level" : `in ${label}`;
        out.push(
          diag(
            "CF2001",
            `unknown key \`${key}\` ${where}`,
            guess ? `did you mean \`${guess}\`? Known keys here: ${listNames(known)}` : `remove it; known keys here: ${listNames(known)}`,
            doc.posAt([...path, key], { key: true }),
            { key, known },
          ),
        );
      }
      return;
    }
    case "invalid_type": {
      if (value === undefined) {
        const parent = path.slice(0, -1);
        const key = path[path.length - 1];
        const where = parent.length === 0 ? "at the top level" : `in ${pathLabel(parent)}`;
        out.push(diag("CF2002", `\`${String(key)}\` is required ${where}`, fieldFix(path), doc.posAt(parent), { key }));
        return;
      }
      const expected = issue.expected === "int" ? "integer" : issue.expected;
      out.push(diag("CF2003", `${label} must be ${expectedWords(expected)}, not ${kindOf(value)}`, fieldFix(path), doc.posAt(path), { expected }));
      return;
    }
    case "invalid_value": {
      const allowed = issue.values.map((v) => String(v));
      const guess = typeof value === "string" ? didYouMean(value, allowed) : null;
      out.push(
        diag(
          "CF2004",
          `${label} is ${kindOf(value)}; it must be one of ${allowed.join(" | ")}`,
          guess ? `write \`${guess}\`` : `write one of ${listNames(allowed)}`,
          doc.posAt(path),
          { allowed },
        ),
      );
      return;
    }
    case "invalid_format":
      out.push(diag("CF2005", `${label} is ${kindOf(value)}, which has the wrong form`, fieldFix(path), doc.posAt(path), { format: issue.format }));
      return;
    case "invalid_key": {
      const key = path[path.length - 1];
      const parent = path.slice(0, -1);
      const keySchema = schemaAt(parent);
      const what = pathLabel(parent);
      const d = keySchema && defType(keySchema) === "record" ? describe((keySchema as unknown as { keyType: AnySchema }).keyType) : undefined;
      out.push(
        diag(
          "CF2005",
          `\`${String(key)}\` is not a valid name in ${what}`,
          d ?? (what === "vars" ? "variable names are letters, digits and '_', starting with a letter or '_'" : "names are letters, digits, '_', '.', '-', starting with a letter or digit, at most 63 characters"),
          doc.posAt(path, { key: true }),
          { key },
        ),
      );
      return;
    }
    case "too_small":
    case "too_big": {
      if (issue.origin === "array") {
        out.push(diag("CF2008", `${label} is an empty list`, `list at least one item, or remove \`${String(path[path.length - 1])}\``, doc.posAt(path)));
        return;
      }
      const bound = issue.code === "too_small" ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
      out.push(diag("CF2006", `${label} is ${kindOf(value)}; it must be ${bound}`, fieldFix(path), doc.posAt(path)));
      return;
    }
    case "invalid_union": {
      // when exactly one alternative has the right shape, its inner issues say more
      const deeper = issue.errors.filter((errs) => !errs.some((e) => e.code === "invalid_type" && e.path.length === 0));
      if (deeper.length === 1) {
        for (const e of deeper[0] ?? []) issueToDiagnostics(e, path, doc, out);
        return;
      }
      out.push(diag("CF2003", `${label} has the wrong form: ${kindOf(value)}`, fieldFix(path), doc.posAt(path)));
      return;
    }
    case "custom": {
      const params = (issue.params ?? {}) as { cf?: string; both?: boolean };
      if (params.cf === "allow-deny") {
        out.push(
          diag(
            "CF2007",
            `${label}: ${issue.message}`,
            params.both ? "split it into two rules, one with `allow:` and one with `deny:`" : "add `allow: [example.com]` or `deny: [example.com]`",
            doc.posAt(path),
          ),
        );
        return;
      }
      out.push(diag("CF2099", `${label}: ${issue.message}`, fieldFix(path), doc.posAt(path)));
      return;
    }
    case "invalid_element":
    case "not_multiple_of":
      out.push(diag("CF2099", `${label}: ${issue.message}`, fieldFix(path), doc.posAt(path)));
  }
}

/**
 * The version gate: v1 is the only format. Missing: an error, and the file is still checked
 * as v1 (most likely the line was forgotten). Any other value: refused, nothing else checked.
 */
export function checkVersion(doc: ParsedYaml): { readonly diagnostics: readonly Diagnostic[]; readonly stop: boolean } {
  const v = valueAt(doc.value, ["version"]);
  if (v === undefined) {
    return { diagnostics: [diag("CF2010", "`version` is missing", "add `version: 1` as the first line", doc.posAt([]))], stop: false };
  }
  if (v !== 1) {
    return {
      diagnostics: [
        diag(
          "CF2011",
          `unsupported policy format version ${JSON.stringify(v)}; this clawfence reads version 1 only`,
          "write `version: 1` and the v1 format (see `clawfence schema`), or use the clawfence release that supports this version",
          doc.posAt(["version"]),
          { version: v, supported: [1] },
        ),
      ],
      stop: true,
    };
  }
  return { diagnostics: [], stop: false };
}

export type WireResult = { readonly ok: true; readonly value: PolicyDocV1 } | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

/** Validate against `PolicyDocV1`; a missing version is tolerated here (checkVersion reports it). */
export function validateWire(doc: ParsedYaml): WireResult {
  const input = doc.value !== null && typeof doc.value === "object" && !("version" in doc.value) ? { ...(doc.value as object), version: 1 } : doc.value;
  const r = PolicyDocV1.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  const out: Diagnostic[] = [];
  for (const issue of r.error.issues) issueToDiagnostics(issue, [], doc, out);
  return { ok: false, diagnostics: out };
}
