/**
 * The fast YAML path (parse.ts `parseFast`) against the `yaml` package (`parseWithLibrary`):
 * whenever the fast path accepts a text, the library parses it without error or warning to the
 * same plain value, and every position (`posAt` of every node, every key, and paths that lead
 * out of the document) is the same file:line:column. Checked on every policy, lint, verify and
 * example fixture, every preset, the benchmark's shape, and generated and mutated documents.
 * The fast path must also actually run on ordinary policies (else this proves nothing).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { parseFast, parseWithLibrary, parseYaml, type ParsedYaml, type PathSeg } from "../../../src/policy/parse.ts";
import { PRESETS } from "../../../src/policy/presets/index.ts";

const ROOT = join(import.meta.dirname, "../../..");

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/** Every path into the value, with the paths one step past each node (which lead out of it). */
function paths(value: unknown, prefix: PathSeg[] = []): PathSeg[][] {
  const out: PathSeg[][] = [prefix];
  if (Array.isArray(value)) {
    value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
    out.push([...prefix, value.length], [...prefix, "x"]);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
    out.push([...prefix, "no-such-key"], [...prefix, 0]);
  } else {
    out.push([...prefix, "beyond"], [...prefix, 0]);
  }
  return out;
}

const show = (p: { line: number; column: number }): string => `${p.line}:${p.column}`;

/** Asserts the fast result equals the library's, value and positions. */
function sameAsLibrary(text: string, fast: ParsedYaml, what: string): void {
  const lib = parseWithLibrary(text, "f.yaml");
  assert.ok(lib.ok, `${what}: the fast path accepted a text the library refuses: ${lib.ok ? "" : lib.diagnostics.map((d) => `${d.code} ${d.message}`).join("; ")}\n${text}`);
  assert.deepStrictEqual(fast.value, lib.doc.value, `${what}: values differ\n${text}`);
  // the library's sequences and mappings convert to plain arrays and objects; so do the fast path's
  for (const p of paths(lib.doc.value)) {
    assert.equal(show(fast.posAt(p)), show(lib.doc.posAt(p)), `${what}: posAt(${JSON.stringify(p)})\n${text}`);
    assert.equal(show(fast.posAt(p, { key: true })), show(lib.doc.posAt(p, { key: true })), `${what}: posAt(${JSON.stringify(p)}, key)\n${text}`);
  }
}

void test("the fast path gives the library's value and positions on every fixture, example and preset", () => {
  const files = [...yamlFiles(join(ROOT, "test/fixtures")), ...yamlFiles(join(ROOT, "examples"))];
  assert.ok(files.length > 50);
  let fastCount = 0;
  const texts: Array<[string, string]> = files.map((f) => [f, readFileSync(f, "utf8")]);
  for (const [name, p] of Object.entries(PRESETS)) texts.push([`preset:${name}`, p.yaml]);
  for (const [name, text] of texts) {
    const fast = parseFast(text, "f.yaml");
    if (fast === null) continue;
    fastCount++;
    sameAsLibrary(text, fast, name);
  }
  // most valid policies are in the subset: the comparison above is not vacuous
  assert.ok(fastCount >= texts.length / 2, `${fastCount} of ${texts.length} took the fast path`);
});

void test("every preset and a policy shaped like the benchmark's take the fast path", () => {
  for (const [name, p] of Object.entries(PRESETS)) assert.ok(parseFast(p.yaml, "p.yaml"), name);
  const rule = (i: number): string =>
    `  - name: rule-${i}   # c\n    ${i % 2 ? "deny" : "allow"}: [a${i}.example.com, "*.w${i}.example", 10.${i}.0.0/16, 2400:${i}::/48]\n    ports: [443, "8000-8100"]\n    protocol: tcp\n`;
  const text = `version: 1\nname: big\nphases: [bootstrap, workload]\ndns:\n  upstreams: [10.0.0.2]\nrules:\n${Array.from({ length: 50 }, (_, i) => rule(i)).join("")}default: deny\n`;
  const fast = parseFast(text, "b.yaml");
  assert.ok(fast);
  sameAsLibrary(text, fast, "bench-shaped");
});

void test("texts outside the subset go to the library, which reports what is wrong", () => {
  const cases = [
    "version: 1\nname: a\nname: b\n", // duplicate key
    "version: 1\n\tname: a\n", // tab
    "version: 1\r\nname: a\r\n", // CR
    "version: 1\nname: &x a\nother: *x\n", // anchor, alias
    "version: 1\ndescription: |\n  text\n", // block scalar
    "version: 1\ndescription: two\n  lines\n", // multi-line plain scalar
    'version: 1\ndescription: "esc\\n"\n', // escape
    "version: 1\nrules:\n", // empty value
    "version: 1\nrules: [a,\n  b]\n", // multi-line flow sequence
    "version: 1\nx: [a, b,]\n", // trailing comma
    "version: 1\nx: {a: 1}\n", // flow mapping
    "version: 1\nx: a: b\n", // nested mapping on one line
    "version: 1\nx: !tag a\n", // tag
    "version: 1\n---\nname: b\n", // second document
    "- a\n- b\n", // root not a mapping
    "", // empty
    "version: 1\nx: [a: b]\n", // pair in a flow sequence
    "version: 1\nx:\n  - - a\n", // nested compact sequence
    "version: 1\n? x\n: y\n", // explicit key
    "\uFEFFversion: 1\n", // byte order mark
    "version: 1\nx: [a]]\n", // junk after the list
    "version: 1\nx: 'it''s'\n", // escaped single quote
    "version: 1\n  name: a\n", // indentation that does not match
  ];
  for (const text of cases) {
    assert.equal(parseFast(text, "f.yaml"), null, JSON.stringify(text));
    // and parseYaml gives the library's answer for them
    const a = parseYaml(text, "f.yaml");
    const b = parseWithLibrary(text, "f.yaml");
    assert.deepStrictEqual(a.ok ? a.doc.value : a.diagnostics, b.ok ? b.doc.value : b.diagnostics, JSON.stringify(text));
  }
});

void test("plain scalars resolve as the library's core schema does", () => {
  const atoms = ["1", "+1", "0o17", "0x1F", "1.5", ".5", "1e3", "1.", ".inf", "+.Inf", ".nan", "~", "null", "Null", "NULL", "true", "False", "TRUE", "yes", "no", "on", "0", "00", "012", "1_000", "10.0.0.1", "2400:cb00::/32", "a:b", "*.x", "nul", "tru", "3.0", "-"];
  const text = `version: 1\nlist: [${atoms.filter((a) => !a.startsWith("*") && a !== "-").join(", ")}]\n${atoms
    .filter((a) => !a.startsWith("*") && a !== "-")
    .map((a, i) => `k${i}: ${a}`)
    .join("\n")}\n`;
  const fast = parseFast(text, "f.yaml");
  assert.ok(fast, text);
  sameAsLibrary(text, fast, "atoms");
});

// ---- generated documents: policy-shaped trees printed in the many ways YAML allows

const WORDS = ["a", "b", "name", "allow", "deny", "ports", "rules", "vars", "x_1", "k.y", "a-b", "x/y"];
const ATOMS = ["api.example.com", "*.example.com", "10.0.0.0/8", "2001:db8::/32", "443", "8000-8100", "-1", "1.5", "~", "true", "no", "hello world", "a#b", "a #b", "x: y", "x:y", "[a]", "é", "${v}", "", "'q'", '"d"', "a,b", "0x1f", ":x", "?x", "-x", "@x"];

type Tree = string | Tree[] | { [k: string]: Tree };
const tree: fc.Arbitrary<Tree> = fc.letrec((tie) => ({
  t: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...ATOMS),
    fc.array(tie("t"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...WORDS), tie("t"), { maxKeys: 4 }),
  ),
})).t as fc.Arbitrary<Tree>;

interface Style {
  readonly indent: number;
  readonly seqSameColumn: boolean;
  readonly flow: boolean;
  readonly quote: "none" | "double" | "single";
  readonly comments: boolean;
  readonly blank: boolean;
  readonly trailing: boolean;
}

function scalar(s: string, st: Style, inFlow: boolean): string {
  if (st.quote === "double") return `"${s}"`;
  if (st.quote === "single") return `'${s}'`;
  return inFlow ? s : s;
}

function print(t: Tree, st: Style, col: number): string[] {
  const pad = " ".repeat(col);
  const tail = (line: string): string => `${line}${st.trailing ? "  " : ""}${st.comments ? " # c" : ""}`;
  if (typeof t === "string") return [scalar(t, st, false)];
  if (Array.isArray(t)) {
    if (st.flow || t.length === 0) return [`[${t.map((x) => (typeof x === "string" ? scalar(x, st, true) : "[]")).join(", ")}]`];
    const lines: string[] = [];
    for (const item of t) {
      if (typeof item === "string" || (Array.isArray(item) && (st.flow || item.length === 0))) {
        lines.push(tail(`${pad}- ${print(item, st, col + 2)[0] ?? ""}`));
      } else if (!Array.isArray(item) && Object.keys(item).length > 0) {
        const inner = print(item, st, col + 2);
        lines.push(`${pad}- ${(inner[0] ?? "").trimStart()}`, ...inner.slice(1));
      } else {
        lines.push(`${pad}- ${print(item, st, col + 2)[0] ?? ""}`);
      }
      if (st.blank) lines.push("");
    }
    return lines;
  }
  const keys = Object.keys(t);
  if (keys.length === 0) return ["{}"];
  const lines: string[] = [];
  for (const k of keys) {
    const v = t[k] as Tree;
    if (typeof v === "string" || (Array.isArray(v) && (st.flow || v.length === 0)) || (!Array.isArray(v) && Object.keys(v).length === 0)) {
      lines.push(tail(`${pad}${k}: ${print(v, st, col)[0] ?? ""}`));
    } else {
      lines.push(st.comments ? `${pad}${k}: # c` : `${pad}${k}:`);
      const childCol = Array.isArray(v) && st.seqSameColumn ? col : col + st.indent;
      lines.push(...print(v, st, childCol));
    }
    if (st.comments) lines.push(`${pad}# comment`);
  }
  return lines;
}

const style: fc.Arbitrary<Style> = fc.record({
  indent: fc.integer({ min: 1, max: 4 }),
  seqSameColumn: fc.boolean(),
  flow: fc.boolean(),
  quote: fc.constantFrom("none", "none", "double", "single"),
  comments: fc.boolean(),
  blank: fc.boolean(),
  trailing: fc.boolean(),
});

const doc: fc.Arbitrary<string> = fc
  .tuple(fc.dictionary(fc.constantFrom(...WORDS), tree, { minKeys: 1, maxKeys: 5 }), style, fc.boolean())
  .map(([t, st, lead]) => `${lead ? "# policy\n\n" : ""}${print(t, st, 0).join("\n")}\n`);

void test("generated documents: whatever the fast path accepts, it reads as the library does", () => {
  let accepted = 0;
  fc.assert(
    fc.property(doc, (text) => {
      const fast = parseFast(text, "f.yaml");
      if (fast === null) return;
      accepted++;
      sameAsLibrary(text, fast, "generated");
    }),
    { numRuns: 600, seed: 0x5eed },
  );
  assert.ok(accepted > 100, `only ${accepted} generated documents took the fast path`);
});

const TRICKY = [":", "#", "-", "[", "]", "{", "}", "'", '"', "&", "*", "!", "|", ">", " ", "\t", "\n", ",", "?", "%", "@", "`", "\\", "\r", "\u0085", "\u2028", "é"];

void test("mutated documents: whatever the fast path accepts, it reads as the library does", () => {
  const bases = [
    readFileSync(join(ROOT, "test/fixtures/policy/product_example.yaml"), "utf8"),
    "version: 1\nname: m\nrules:\n  - name: r\n    allow: [a.example.com, \"*.b.example\", 10.0.0.0/8]\n    ports: [443, \"8000-8100\"]\n",
  ];
  let accepted = 0;
  fc.assert(
    fc.property(
      fc.constantFrom(...bases),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...TRICKY), fc.boolean()), { minLength: 1, maxLength: 3 }),
      (base, edits) => {
        let text = base;
        for (const [at, ch, replace] of edits) {
          const i = at % (text.length + 1);
          text = text.slice(0, i) + ch + text.slice(replace ? i + 1 : i);
        }
        const fast = parseFast(text, "f.yaml");
        if (fast === null) return;
        accepted++;
        sameAsLibrary(text, fast, "mutated");
      },
    ),
    { numRuns: 1500, seed: 0xbad5eed },
  );
  assert.ok(accepted > 100, `only ${accepted} mutated documents took the fast path`);
});
