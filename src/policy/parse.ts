/**
 * policy/parse — YAML text to a plain value that remembers where every node was written.
 *
 * Map: load.ts hands the text of each policy file (or preset) here; it gets back the
 * document as plain data plus `posAt(path)`, which maps a path like ["rules", 2, "ports", 0]
 * to file:line:column, so the schema check and the normalizer can point at the offending
 * node. Every failure — syntax, duplicate keys, several documents, a non-mapping root,
 * unknown tags, alias bombs, absurd nesting, oversized text — becomes a Diagnostic with a
 * code (policy/codes.ts) and a fix; nothing here throws for bad input.
 *
 * Limits are checked before the expensive step they protect: the byte size before parsing,
 * the nesting depth before converting to plain data, the alias expansion count during it.
 *
 * Imports the `yaml` package only. No I/O: the caller passes the text.
 */
import { parseAllDocuments, LineCounter, isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from "yaml";
import { diag } from "./codes.ts";
import type { Diagnostic } from "./errors.ts";
import type { SourcePos } from "./ir.ts";

/** Largest policy text accepted, in UTF-8 bytes (8 MiB: room for 100k-entry policies). */
export const MAX_POLICY_BYTES = 8 * 1024 * 1024;
/** Deepest nesting of mappings and lists accepted (the v1 format needs 5). */
export const MAX_DEPTH = 64;
/** Alias expansions allowed while converting (yaml's own accounting, see its maxAliasCount). */
export const MAX_ALIAS_COUNT = 100;

export type PathSeg = string | number;

export interface ParsedYaml {
  readonly file: string;
  /** the document as plain data (mappings are objects, sequences arrays) */
  readonly value: unknown;
  /**
   * Where the node at `path` was written; when the path leads out of the document, the
   * deepest node that exists. `key: true` points at the mapping key of the last segment
   * instead of its value (for "unknown key" messages).
   */
  posAt(path: readonly PathSeg[], opts?: { readonly key?: boolean }): SourcePos;
}

export type ParseResult = { readonly ok: true; readonly doc: ParsedYaml } | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

const filePos = (file: string): SourcePos => ({ file, line: 1, column: 1 });

/** The diagnostic for a text over the limit; the CLI uses it when it refuses to read a big file. */
export function tooLargeDiagnostic(file: string, bytes: number): Diagnostic {
  return diag(
    "CF1006",
    `the policy is ${bytes} bytes; the limit is ${MAX_POLICY_BYTES} bytes (8 MiB)`,
    "split it: move large destination lists into groups in files you `extends:`, or use built-in catalogs",
    filePos(file),
    { bytes, limit: MAX_POLICY_BYTES },
  );
}

function tooDeep(pos: SourcePos): Diagnostic {
  return diag("CF1010", `the document is nested more than ${MAX_DEPTH} levels deep`, "a policy needs only a few levels: rules -> rule -> allow -> entry", pos, { maxDepth: MAX_DEPTH });
}

function yamlFix(code: string): string {
  switch (code) {
    case "DUPLICATE_KEY":
      return "remove one of the two keys, or merge their values";
    case "BAD_INDENT":
    case "MISSING_CHAR":
    case "UNEXPECTED_TOKEN":
      return "check the indentation (spaces only, the same amount for items of one list or mapping) and quoting";
    case "TAB_AS_INDENT":
      return "indent with spaces, not tabs";
    case "BAD_ALIAS":
    case "BAD_ANCHOR":
      return "define the anchor (&name) before using the alias (*name)";
    default:
      return "fix the YAML syntax at this place; quote values that contain ': ', '#', '{', '[', '*' or '&'";
  }
}

export function parseYaml(text: string, file: string): ParseResult {
  // size first: a 10 MB policy must fail before the parser sees it
  if (text.length > MAX_POLICY_BYTES || Buffer.byteLength(text, "utf8") > MAX_POLICY_BYTES) {
    return { ok: false, diagnostics: [tooLargeDiagnostic(file, Buffer.byteLength(text, "utf8"))] };
  }
  const lc = new LineCounter();
  const at = (offset: number | undefined): SourcePos => {
    if (offset === undefined) return filePos(file);
    const p = lc.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  let docs: Array<Document.Parsed>;
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true }) as Array<Document.Parsed>;
  } catch (e) {
    // the parser recurses on nesting; pathological input can exhaust the stack
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof RangeError) return { ok: false, diagnostics: [tooDeep(filePos(file))] };
    return { ok: false, diagnostics: [diag("CF1001", `the YAML could not be parsed: ${msg}`, "fix the YAML syntax", filePos(file))] };
  }
  if (!Array.isArray(docs) || docs.length === 0) {
    return { ok: false, diagnostics: [diag("CF1007", "the policy is empty", "start with `version: 1` and `name: my-policy`", filePos(file))] };
  }
  const diagnostics: Diagnostic[] = [];
  const first = docs[0] as Document.Parsed;
  for (const err of first.errors) {
    if (/call stack/i.test(err.message)) {
      // yaml reports its own stack exhaustion on absurd nesting as an error
      return { ok: false, diagnostics: [tooDeep(at(err.pos[0]))] };
    }
    const code = err.code === "DUPLICATE_KEY" ? "CF1002" : "CF1001";
    const message = err.code === "DUPLICATE_KEY" ? "this key appears twice in the same mapping" : err.message.split("\n")[0] ?? err.message;
    diagnostics.push(diag(code, message, yamlFix(err.code), at(err.pos[0]), { yaml: err.code }));
  }
  for (const w of first.warnings) {
    diagnostics.push(diag("CF1008", w.message.split("\n")[0] ?? w.message, "remove the YAML tag (`!name`); a policy uses plain strings, numbers, lists and mappings", at(w.pos[0]), { yaml: w.code }));
  }
  if (docs.length > 1) {
    const second = docs[1] as Document.Parsed;
    diagnostics.push(
      diag("CF1003", "the file holds more than one YAML document (a second `---`)", "keep one policy per file; use `extends:` to combine files", at(second.range[0]), {
        documents: docs.length,
      }),
    );
  }
  if (diagnostics.length > 0) return { ok: false, diagnostics };

  const root = first.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) {
    return { ok: false, diagnostics: [diag("CF1007", "the policy is empty", "start with `version: 1` and `name: my-policy`", filePos(file))] };
  }
  if (!isMap(root)) {
    return {
      ok: false,
      diagnostics: [diag("CF1004", "the policy must be a mapping (`key: value` lines) at the top level", "start with `version: 1` on its own line, then `name:`, `rules:`, ...", at(root.range[0]))],
    };
  }

  // one iterative walk: depth limit and key shapes (aliases are not followed)
  const stack: Array<{ node: unknown; depth: number }> = [{ node: root, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (isMap(node) || isSeq(node)) {
      if (depth > MAX_DEPTH) {
        return { ok: false, diagnostics: [tooDeep(at((node as YamlNode).range?.[0]))] };
      }
      for (const item of node.items) {
        if (isPair(item)) {
          if (item.key !== null && !isScalar(item.key)) {
            diagnostics.push(diag("CF1009", "a mapping key must be a plain value, not a list, mapping or alias", "write the key as a plain word, like `name:`", at((item.key as YamlNode).range?.[0])));
          }
          stack.push({ node: item.value, depth: depth + 1 });
        } else {
          stack.push({ node: item, depth: depth + 1 });
        }
      }
    }
  }
  if (diagnostics.length > 0) return { ok: false, diagnostics };

  let value: unknown;
  try {
    value = first.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/excessive alias/i.test(msg)) {
      return {
        ok: false,
        diagnostics: [
          diag("CF1005", `aliases expand to too much data (${msg})`, "write the repeated values out, or put shared destinations into a group and reference it as `group:NAME`", filePos(file), {
            maxAliasCount: MAX_ALIAS_COUNT,
          }),
        ],
      };
    }
    const fix = /alias/i.test(msg) ? yamlFix("BAD_ALIAS") : "fix the YAML at this place";
    return { ok: false, diagnostics: [diag("CF1001", `the YAML could not be converted: ${msg}`, fix, filePos(file))] };
  }

  const posAt = (path: readonly PathSeg[], opts?: { readonly key?: boolean }): SourcePos => {
    let node: unknown = root;
    let best: number | undefined = root.range[0];
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] as PathSeg;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (last && opts?.key) return at((pair.key as YamlNode).range?.[0]);
        node = pair.value;
        // `key:` with nothing after it has no value node: point at the key
        best = (pair.value as YamlNode | null)?.range?.[0] ?? (pair.key as YamlNode).range?.[0] ?? best;
      } else if (isSeq(node) && typeof seg === "number") {
        const item = node.items[seg];
        if (item === undefined) break;
        node = item;
        best = (item as YamlNode | null)?.range?.[0] ?? best;
      } else {
        // a scalar or an alias: point at it
        break;
      }
      if (isAlias(node)) break;
    }
    return at(best);
  };

  return { ok: true, doc: { file, value, posAt } };
}
