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
 * Two paths, one result. Most policies are written in a small, regular part of YAML: block
 * mappings with word keys, block sequences, one-line flow sequences, and one-line plain or
 * quoted scalars without escapes. `parseSimple` reads exactly that part in one pass over the
 * lines (a 100k-entry policy in a fraction of the `yaml` package's time) and gives up, returning
 * null, at the first thing outside it: tabs, CR, anchors, tags, block scalars, multi-line
 * values, escapes, duplicate keys, empty values, anything odd. Then the `yaml` package parses
 * the text (`parseWithLibrary`), and every error and warning comes from there. Plain scalars
 * are resolved with the `yaml` package's own core-schema tags, so `443`, `true`, `~` or `0x1f`
 * mean the same on both paths; positions are the same offsets (test/unit/policy/parse-fast.test.ts
 * compares both paths on every fixture and on generated documents).
 *
 * Imports the `yaml` package only. No I/O: the caller passes the text.
 */
import { Document as YamlDocument, parseAllDocuments, LineCounter, isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from "yaml";
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
  const simple = parseSimple(text);
  if (simple) return { ok: true, doc: simpleDoc(simple, file) };
  return parseWithLibrary(text, file);
}

/**
 * The `yaml` package's path alone, for any text (the size limit is `parseYaml`'s). Exported for
 * the tests that hold the fast path to the same result.
 */
export function parseWithLibrary(text: string, file: string): ParseResult {
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

// ---------------------------------------------------------------------------------------------
// The fast path: a one-pass reader for the regular part of YAML that policies are written in.

/** A node of the fast path's tree: its start offset (what yaml calls range[0]) and its content. */
type SimpleNode = SimpleScalar | SimpleSeq | SimpleMap;
interface SimpleScalar {
  readonly kind: "scalar";
  readonly offset: number;
}
interface SimpleSeq {
  readonly kind: "seq";
  readonly offset: number;
  readonly items: SimpleNode[];
}
interface SimpleMap {
  readonly kind: "map";
  readonly offset: number;
  readonly keys: string[];
  readonly keyOffsets: number[];
  readonly values: SimpleNode[];
}

interface Simple {
  readonly root: SimpleMap;
  readonly value: Record<string, unknown>;
  readonly lineStarts: readonly number[];
}

/** Thrown inside the fast path to give up; never escapes `parseSimple`. */
const GIVE_UP = new Error("outside the simple subset");

/** The core-schema tags of the `yaml` package (YAML 1.2), in its order: how it resolves plain scalars. */
const CORE_TAGS = new YamlDocument(null).schema.tags.filter((t) => t.default === true && t.test !== undefined && !t.collection);
const NO_BIGINT = { intAsBigInt: false };
/**
 * Every null, bool, int and float of the core schema starts with one of these (or is empty), so
 * a plain scalar starting otherwise is a string without trying the tags. Only while the tags are
 * the ones this was worked out for; another `yaml` version's tags disable the shortcut.
 */
const MAYBE_NOT_STRING = new Set("0123456789+-.~nNtTfF".split(""));
const KNOWN_CORE_TESTS = [
  "^(?:~|[Nn]ull|NULL)?$",
  "^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$",
  "^0o[0-7]+$",
  "^[-+]?[0-9]+$",
  "^0x[0-9a-fA-F]+$",
  "^(?:[-+]?\\.(?:inf|Inf|INF)|\\.nan|\\.NaN|\\.NAN)$",
  "^[-+]?(?:\\.[0-9]+|[0-9]+(?:\\.[0-9]*)?)[eE][-+]?[0-9]+$",
  "^[-+]?(?:\\.[0-9]+|[0-9]+\\.[0-9]*)$",
];
const FIRST_CHAR_SHORTCUT = CORE_TAGS.map((t) => t.test?.source).join("\n") === KNOWN_CORE_TESTS.join("\n");

/** A plain scalar's value the way the `yaml` package resolves it (null, bool, int, float or string). */
function resolvePlain(text: string): unknown {
  // every core-schema null, bool, int and float starts with one of these (or is empty)
  if (FIRST_CHAR_SHORTCUT && text.length > 0 && !MAYBE_NOT_STRING.has(text[0] as string)) return text;
  for (const tag of CORE_TAGS) {
    if (tag.test?.test(text)) {
      let failed = false;
      const res = tag.resolve(text, () => (failed = true), NO_BIGINT as never) as unknown;
      if (failed) throw GIVE_UP;
      return isScalar(res) ? res.value : res;
    }
  }
  return text;
}

// a key: a word starting with a letter or '_' (no indicator, never a number, bool or null)
const KEY_RE = /[A-Za-z_][A-Za-z0-9_./-]*/y;
// characters YAML forbids or that change how a line reads: C0 controls but LF, DEL, C1, BOM, non-characters
// eslint-disable-next-line no-control-regex
const UNSAFE_RE = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\uFEFF\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// a plain scalar may not start with one of these (YAML's c-indicator), nor with a space
const INDICATOR = new Set(["-", "?", ":", ",", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">", "'", '"', "%", "@", "`", " "]);

/**
 * The fast path alone: the document, or null when the text is outside the simple subset (then
 * the `yaml` package decides). Exported for the tests that hold it to the library's result.
 */
export function parseFast(text: string, file: string): ParsedYaml | null {
  const s = parseSimple(text);
  return s ? simpleDoc(s, file) : null;
}

/** The document as a tree and as plain data, or null when the text is outside the simple subset. Never throws. */
function parseSimple(text: string): Simple | null {
  if (text.length === 0 || UNSAFE_RE.test(text)) return null;
  try {
    return new SimpleReader(text).read();
  } catch (e) {
    if (e === GIVE_UP) return null;
    // a bug in the fast path must not change the outcome: let the library decide
    return null;
  }
}

class SimpleReader {
  private readonly text: string;
  /** offset of the first character of each line */
  private readonly starts: number[] = [];
  /** per line: the indentation, or -1 for a blank or comment-only line */
  private readonly indents: number[] = [];
  private line = 0;

  constructor(text: string) {
    this.text = text;
    let start = 0;
    for (;;) {
      this.starts.push(start);
      const nl = text.indexOf("\n", start);
      const end = nl === -1 ? text.length : nl;
      let i = start;
      while (i < end && text.charCodeAt(i) === 32) i++;
      this.indents.push(i === end || text.charCodeAt(i) === 35 /* # */ ? -1 : i - start);
      if (nl === -1) break;
      start = nl + 1;
    }
  }

  read(): Simple {
    this.skipBlank();
    if (this.line >= this.indents.length || this.indents[this.line] !== 0) throw GIVE_UP;
    const value: Record<string, unknown> = {};
    const root = this.map(0, this.starts[this.line] as number, value, 1);
    this.skipBlank();
    if (this.line < this.indents.length) throw GIVE_UP;
    return { root, value, lineStarts: this.starts };
  }

  private skipBlank(): void {
    while (this.line < this.indents.length && this.indents[this.line] === -1) this.line++;
  }

  private lineEnd(line: number): number {
    const next = this.starts[line + 1];
    return next === undefined ? this.text.length : next - 1;
  }

  /** A block mapping whose keys sit at column `col`; the first key starts at offset `at` on the current line. */
  private map(col: number, at: number, out: Record<string, unknown>, depth: number): SimpleMap {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    const node: SimpleMap = { kind: "map", offset: at, keys: [], keyOffsets: [], values: [] };
    let p = at;
    for (;;) {
      const t = this.text;
      const end = this.lineEnd(this.line);
      KEY_RE.lastIndex = p;
      if (!KEY_RE.test(t)) throw GIVE_UP;
      const keyEnd = KEY_RE.lastIndex;
      if (keyEnd >= end || t.charCodeAt(keyEnd) !== 58 /* : */) throw GIVE_UP;
      const key = t.slice(p, keyEnd);
      if (key === "__proto__" || typeof resolvePlain(key) !== "string" || Object.hasOwn(out, key)) throw GIVE_UP;
      let v = keyEnd + 1;
      if (v < end && t.charCodeAt(v) !== 32) throw GIVE_UP;
      while (v < end && t.charCodeAt(v) === 32) v++;
      node.keys.push(key);
      node.keyOffsets.push(p);
      if (v === end || t.charCodeAt(v) === 35 /* # */) {
        // the value is a block on the following lines
        this.line++;
        this.skipBlank();
        const ind = this.indents[this.line];
        if (ind === undefined) throw GIVE_UP;
        const start = (this.starts[this.line] as number) + ind;
        if (ind >= col && t.charCodeAt(start) === 45 /* - */) {
          const arr: unknown[] = [];
          node.values.push(this.seq(ind, arr, depth + 1));
          out[key] = arr;
        } else if (ind > col) {
          const obj: Record<string, unknown> = {};
          node.values.push(this.map(ind, start, obj, depth + 1));
          out[key] = obj;
        } else throw GIVE_UP; // `key:` with nothing: the library says what that is
      } else {
        const r = this.inline(v, end, depth + 1);
        node.values.push(r.node);
        out[key] = r.value;
        this.line++;
        this.skipBlank();
      }
      // next key of this mapping, or its end
      const ind = this.indents[this.line];
      if (ind === undefined || ind < col) return node;
      if (ind > col) throw GIVE_UP;
      p = (this.starts[this.line] as number) + col;
      if (t.charCodeAt(p) === 45 /* - */) return node; // a sequence at the parent key's column ends here
    }
  }

  /** A block sequence whose `-` sit at column `col`, starting on the current line. */
  private seq(col: number, out: unknown[], depth: number): SimpleSeq {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    const t = this.text;
    const node: SimpleSeq = { kind: "seq", offset: (this.starts[this.line] as number) + col, items: [] };
    for (;;) {
      const dash = (this.starts[this.line] as number) + col;
      const end = this.lineEnd(this.line);
      if (t.charCodeAt(dash) !== 45 /* - */ || dash + 1 >= end || t.charCodeAt(dash + 1) !== 32) throw GIVE_UP;
      let v = dash + 2;
      while (v < end && t.charCodeAt(v) === 32) v++;
      if (v === end || t.charCodeAt(v) === 35 /* # */) throw GIVE_UP;
      KEY_RE.lastIndex = v;
      const keyLike = KEY_RE.test(t) && KEY_RE.lastIndex < end && t.charCodeAt(KEY_RE.lastIndex) === 58 /* : */;
      if (keyLike) {
        // `- key: value`: a mapping whose keys sit at the column of this first key
        const obj: Record<string, unknown> = {};
        node.items.push(this.map(v - (this.starts[this.line] as number), v, obj, depth + 1));
        out.push(obj);
      } else {
        const r = this.inline(v, end, depth + 1);
        node.items.push(r.node);
        out.push(r.value);
        this.line++;
        this.skipBlank();
      }
      const ind = this.indents[this.line];
      if (ind === undefined || ind < col) return node;
      if (ind > col) throw GIVE_UP;
      if (t.charCodeAt((this.starts[this.line] as number) + col) !== 45 /* - */) return node;
    }
  }

  /** A value that ends on this line: a flow sequence, a quoted or a plain scalar, then maybe a comment. */
  private inline(p: number, end: number, depth: number): { node: SimpleNode; value: unknown } {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    const t = this.text;
    const c = t[p] as string;
    let value: unknown;
    let after: number;
    let node: SimpleNode;
    if (c === "[") {
      const items: SimpleNode[] = [];
      const arr: unknown[] = [];
      let q = p + 1;
      while (q < end && t.charCodeAt(q) === 32) q++;
      if (t.charCodeAt(q) === 93 /* ] */) {
        after = q + 1;
      } else {
        for (;;) {
          const item = this.flowItem(q, end);
          items.push({ kind: "scalar", offset: q });
          arr.push(item.value);
          q = item.end;
          while (q < end && t.charCodeAt(q) === 32) q++;
          const sep = t.charCodeAt(q);
          if (sep === 93 /* ] */) {
            after = q + 1;
            break;
          }
          if (sep !== 44 /* , */) throw GIVE_UP;
          q++;
          while (q < end && t.charCodeAt(q) === 32) q++;
          if (q >= end || t.charCodeAt(q) === 93 /* ] */) throw GIVE_UP; // a trailing comma, or the list goes on on the next line
        }
      }
      node = { kind: "seq", offset: p, items };
      value = arr;
    } else if (c === '"' || c === "'") {
      const close = t.indexOf(c, p + 1);
      if (close === -1 || close >= end) throw GIVE_UP;
      const body = t.slice(p + 1, close);
      if (c === '"' && body.includes("\\")) throw GIVE_UP;
      if (c === "'" && t[close + 1] === "'") throw GIVE_UP; // '' is an escaped quote
      node = { kind: "scalar", offset: p };
      value = body;
      after = close + 1;
    } else {
      if (INDICATOR.has(c)) throw GIVE_UP;
      // a plain scalar runs to the end of the line or to a comment (` #`)
      let stop = p;
      while (stop < end && !(t.charCodeAt(stop) === 35 /* # */ && t.charCodeAt(stop - 1) === 32)) stop++;
      while (stop > p && t.charCodeAt(stop - 1) === 32) stop--;
      const body = t.slice(p, stop);
      if (body.includes(": ") || body.endsWith(":")) throw GIVE_UP;
      node = { kind: "scalar", offset: p };
      value = resolvePlain(body);
      after = stop;
    }
    // the rest of the line: spaces, then nothing or a comment
    let r = after;
    while (r < end && t.charCodeAt(r) === 32) r++;
    if (r < end && !(t.charCodeAt(r) === 35 /* # */ && r > after)) throw GIVE_UP;
    return { node, value };
  }

  /** One item of a one-line flow sequence: a quoted scalar without escapes, or a plain word. */
  private flowItem(p: number, end: number): { value: unknown; end: number } {
    const t = this.text;
    const c = t[p] as string;
    if (c === '"' || c === "'") {
      const close = t.indexOf(c, p + 1);
      if (close === -1 || close >= end) throw GIVE_UP;
      const body = t.slice(p + 1, close);
      if (c === '"' && body.includes("\\")) throw GIVE_UP;
      if (c === "'" && t[close + 1] === "'") throw GIVE_UP;
      return { value: body, end: close + 1 };
    }
    if (INDICATOR.has(c)) throw GIVE_UP;
    let q = p;
    for (; q < end; q++) {
      const ch = t.charCodeAt(q);
      if (ch === 44 /* , */ || ch === 93 /* ] */) break;
      // a space ends the word; '#', other flow indicators and quotes are the library's business
      if (ch === 32 || ch === 35 || ch === 91 || ch === 123 || ch === 125 || ch === 34 || ch === 39) break;
      if (ch === 58 /* : */) {
        const n = q + 1 < end ? t.charCodeAt(q + 1) : -1;
        // ':' followed by a space, a flow indicator or the end makes a key: not here
        if (n === -1 || n === 32 || n === 44 || n === 93 || n === 91 || n === 123 || n === 125) throw GIVE_UP;
      }
    }
    if (q >= end) throw GIVE_UP;
    const ch = t.charCodeAt(q);
    if (ch !== 44 && ch !== 93) {
      // only spaces may follow the word before the separator
      if (ch !== 32) throw GIVE_UP;
      let r = q;
      while (r < end && t.charCodeAt(r) === 32) r++;
      const s = t.charCodeAt(r);
      if (s !== 44 && s !== 93) throw GIVE_UP;
    }
    return { value: resolvePlain(t.slice(p, q)), end: q };
  }
}

/** The fast path's tree behind the same `ParsedYaml` interface as the library's. */
function simpleDoc(s: Simple, file: string): ParsedYaml {
  const at = (offset: number): SourcePos => {
    // the last line start at or before the offset (yaml's LineCounter does the same search)
    const starts = s.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file, line: lo + 1, column: offset - (starts[lo] as number) + 1 };
  };
  const posAt = (path: readonly PathSeg[], opts?: { readonly key?: boolean }): SourcePos => {
    let node: SimpleNode = s.root;
    let best = s.root.offset;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] as PathSeg;
      if (node.kind === "map") {
        const k = node.keys.indexOf(String(seg));
        if (k === -1) break;
        if (i === path.length - 1 && opts?.key) return at(node.keyOffsets[k] as number);
        node = node.values[k] as SimpleNode;
        best = node.offset;
      } else if (node.kind === "seq" && typeof seg === "number") {
        const item: SimpleNode | undefined = node.items[seg];
        if (item === undefined) break;
        node = item;
        best = item.offset;
      } else break;
    }
    return at(best);
  };
  return { file, value: s.value, posAt };
}
