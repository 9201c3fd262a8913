/**
 * flows/learn/yaml-edit — add rules to a policy's YAML text without touching anything else:
 * comments, key order, quoting and blank lines stay byte for byte.
 *
 * Map: `parseDocument` (the `yaml` package) finds the `rules:` sequence and its items' source
 * ranges; the new rules are stringified by the same package (so quoting of `*.x` names and
 * flow lists is right) and spliced into the original text at a line boundary:
 *  - before the rule named `before` (the first of the policy's final catch-all denies), above
 *    the comment lines directly over it, so the catch-all keeps its comment;
 *  - else after the last item of `rules:`;
 *  - no `rules:` key at all: a new `rules:` block at the end of the document.
 * Anything else (an empty `rules: []`, a flow-style `rules:` or root, several documents) is
 * edited through the document model and re-stringified: still valid and with comments, but the
 * rest of the file may be reformatted; `EditResult.reformatted` says so.
 *
 * Pure: strings in, a string out.
 */
import { Document, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type Pair, type YAMLMap, type YAMLSeq } from "yaml";

/** A rule to add, in wire-format field order. */
export interface NewRule {
  readonly name: string;
  readonly description?: string;
  /** written only when not 100 */
  readonly priority?: number;
  readonly allow: readonly string[];
  /** numbers and "from-to" strings; null: no `ports:` (ICMP) */
  readonly ports: ReadonlyArray<number | string> | null;
  readonly protocol: "tcp" | "udp" | "icmp" | "any";
}

export interface EditResult {
  readonly text: string;
  /** true when the file had to be re-stringified (see the module header) */
  readonly reformatted: boolean;
}

const STRINGIFY = { lineWidth: 0, flowCollectionPadding: false, indent: 2 } as const;

function ruleObject(r: NewRule): Record<string, unknown> {
  const o: Record<string, unknown> = { name: r.name };
  if (r.description !== undefined) o["description"] = r.description;
  if (r.priority !== undefined && r.priority !== 100) o["priority"] = r.priority;
  o["allow"] = [...r.allow];
  if (r.ports !== null) o["ports"] = [...r.ports];
  o["protocol"] = r.protocol;
  return o;
}

/** The rules as block-sequence items, every line prefixed with `indent`, ending in a newline. */
export function renderRuleItems(rules: readonly NewRule[], indent: string, comment: readonly string[] = []): string {
  const doc = new Document(rules.map(ruleObject));
  const seq = doc.contents as YAMLSeq;
  for (const item of seq.items) {
    if (!isMap(item)) continue;
    const ports = item.get("ports", true);
    if (isSeq(ports)) ports.flow = true;
  }
  const body = doc.toString(STRINGIFY);
  const lines = [...comment.map((c) => `# ${c}`.trimEnd()), ...body.replace(/\n$/, "").split("\n")];
  return lines.map((l) => `${indent}${l}`).join("\n") + "\n";
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf("\n", offset - 1) + 1;
}

function ruleName(item: unknown): string | undefined {
  if (!isMap(item)) return undefined;
  const v = item.get("name");
  return typeof v === "string" ? v : undefined;
}

function rulesPair(root: YAMLMap): Pair | undefined {
  return root.items.find((p) => isScalar(p.key) && p.key.value === "rules");
}

/** Through the document model: correct, but may reformat the rest of the file. */
function viaModel(text: string, rules: readonly NewRule[], before: string | undefined, comment: readonly string[]): EditResult {
  const doc = parseDocument(text);
  const nodes = rules.map((r) => {
    const n = doc.createNode(ruleObject(r)) as YAMLMap;
    const ports = n.get("ports", true);
    if (isSeq(ports)) ports.flow = true;
    return n;
  });
  const first = nodes[0];
  if (first && comment.length > 0) first.commentBefore = comment.map((c) => ` ${c}`).join("\n");
  let seq = doc.get("rules", true) as YamlNode | undefined;
  if (!isSeq(seq)) {
    seq = doc.createNode([]) as YAMLSeq;
    doc.set("rules", seq);
  }
  const s = seq as YAMLSeq;
  s.flow = false;
  let at = before === undefined ? -1 : s.items.findIndex((it) => ruleName(it) === before);
  if (at === -1) at = s.items.length;
  s.items.splice(at, 0, ...nodes);
  return { text: doc.toString(STRINGIFY), reformatted: true };
}

/**
 * Add `rules` to the policy text: before the rule named `before` when the file has it, else at
 * the end of `rules:`. `comment` lines go above the first new rule.
 */
export function insertRules(text: string, rules: readonly NewRule[], before?: string, comment: readonly string[] = []): EditResult {
  if (rules.length === 0) return { text, reformatted: false };
  const doc = parseDocument(text);
  const root = doc.contents;
  if (doc.errors.length > 0 || !isMap(root) || root.flow) {
    return viaModel(text, rules, before, comment);
  }
  const pair = rulesPair(root);
  if (!pair) {
    // no rules: a new block at the end
    const sep = text === "" || text.endsWith("\n") ? "" : "\n";
    return { text: `${text}${sep}rules:\n${renderRuleItems(rules, "  ", comment)}`, reformatted: false };
  }
  const seq = pair.value;
  if (!isSeq(seq) || seq.flow || seq.items.length === 0) return viaModel(text, rules, before, comment);
  const items = seq.items as YamlNode[];
  const firstRange = items[0]?.range;
  if (!firstRange) return viaModel(text, rules, before, comment);
  // the items' indentation: what precedes "- " on the first item's line
  const firstLine = lineStart(text, firstRange[0]);
  const lead = /^([ \t]*)-[ \t]+$/.exec(text.slice(firstLine, firstRange[0]));
  if (!lead) return viaModel(text, rules, before, comment);
  const indent = lead[1] ?? "";
  const beforeIndex = before === undefined ? -1 : items.findIndex((it) => ruleName(it) === before);
  if (beforeIndex !== -1) {
    const r = items[beforeIndex]?.range;
    if (!r) return viaModel(text, rules, before, comment);
    let at = lineStart(text, r[0]);
    if (!/^[ \t]*-[ \t]+$/.test(text.slice(at, r[0]))) return viaModel(text, rules, before, comment);
    // keep the comment lines directly above the catch-all with it
    while (at > 0) {
      const prev = lineStart(text, at - 1);
      if (!/^[ \t]*#/.test(text.slice(prev, at))) break;
      at = prev;
    }
    return { text: text.slice(0, at) + renderRuleItems(rules, indent, comment) + text.slice(at), reformatted: false };
  }
  const last = items[items.length - 1]?.range;
  if (!last) return viaModel(text, rules, before, comment);
  // range[1]: the end of the last item's value; insert at the start of the next line
  let at = Math.min(last[1], text.length);
  let sep = "";
  if (at > 0 && text[at - 1] !== "\n") {
    const nl = text.indexOf("\n", at);
    if (nl === -1) {
      at = text.length;
      sep = "\n";
    } else at = nl + 1;
  }
  return { text: text.slice(0, at) + sep + renderRuleItems(rules, indent, comment) + text.slice(at), reformatted: false };
}
