/**
 * import/yaml-out — builds the imported policy as a YAML document (the `yaml` package's
 * Document API), so descriptions are plain values and the source's comments survive as YAML
 * comments beside the entries they annotated.
 *
 * Map: the importers describe rules as `OutRule`s; `renderPolicy` lays out a v1 document in
 * the order PRODUCT.md section 3 writes it (version, name, description, phases, rules,
 * default) and prints it. Pure: no I/O.
 */
import { Document, YAMLMap, YAMLSeq, type Scalar } from "yaml";
import type { PortRange } from "../ir.ts";

export interface OutDest {
  readonly dest: string;
  /** YAML comment lines written above the entry */
  readonly commentBefore?: string;
}

export interface OutRule {
  readonly name: string;
  readonly description: string;
  readonly allow: readonly OutDest[];
  readonly ports: readonly PortRange[] | null;
  readonly protocol: "tcp" | "udp" | "icmp" | "any";
  readonly phase?: string;
  /** YAML comment lines written above the rule */
  readonly commentBefore?: string;
}

export interface OutPolicy {
  readonly name: string;
  readonly description: string;
  /** YAML comment lines at the top of the document */
  readonly header: string;
  readonly phases?: readonly string[];
  readonly rules: readonly OutRule[];
  /** YAML comment lines at the end of the document */
  readonly trailer?: string;
}

/** "# "-less comment text: every line gets one leading space, as `# text`. */
export function commentText(lines: readonly string[]): string {
  return lines.map((l) => (l.length ? ` ${l}` : "")).join("\n");
}

function portValue(r: PortRange): number | string {
  return r.from === r.to ? r.from : `${r.from}-${r.to}`;
}

export function renderPolicy(p: OutPolicy): string {
  const doc = new Document(new YAMLMap());
  const root = doc.contents as YAMLMap;
  doc.commentBefore = p.header;
  root.add(doc.createPair("version", 1));
  root.add(doc.createPair("name", p.name));
  root.add(doc.createPair("description", p.description));
  if (p.phases) {
    const phases = doc.createNode([...p.phases]) as YAMLSeq;
    phases.flow = true;
    root.add(doc.createPair("phases", phases));
  }
  const rules = new YAMLSeq();
  for (const r of p.rules) {
    const m = new YAMLMap();
    if (r.commentBefore) m.commentBefore = r.commentBefore;
    m.add(doc.createPair("name", r.name));
    m.add(doc.createPair("description", r.description));
    if (r.phase !== undefined) m.add(doc.createPair("phase", r.phase));
    const allow = new YAMLSeq();
    for (const d of r.allow) {
      const s = doc.createNode(d.dest) as Scalar;
      if (d.commentBefore) s.commentBefore = d.commentBefore;
      allow.items.push(s);
    }
    m.add(doc.createPair("allow", allow));
    if (r.ports) {
      const ports = doc.createNode(r.ports.map(portValue)) as YAMLSeq;
      ports.flow = true;
      m.add(doc.createPair("ports", ports));
    }
    m.add(doc.createPair("protocol", r.protocol));
    rules.items.push(m);
  }
  if (p.rules.length === 0) rules.flow = true;
  root.add(doc.createPair("rules", rules));
  root.add(doc.createPair("default", "deny"));
  if (p.trailer) doc.comment = p.trailer;
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** A policy name from a file name: lowercase [a-z0-9-], at most 63 characters. */
export function policyNameFrom(file: string, fallback: string): string {
  const base = file.replace(/^.*[\\/]/, "").replace(/\.[^.]*$/, "");
  const slug = base
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return /^[a-z0-9][a-z0-9-]{0,62}$/.test(slug) ? slug : fallback;
}

/** A rule-name-safe slug of a destination (`api.example.com` -> `api-example-com`). */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/** `base`, or `base-2`, `base-3`, ... whichever is not taken yet (at most 63 characters). */
export function uniqueName(base: string, taken: Set<string>): string {
  const trimmed = base.slice(0, 63).replace(/-+$/, "");
  let name = trimmed;
  for (let i = 2; taken.has(name); i++) name = `${trimmed.slice(0, 63 - String(i).length - 1).replace(/-+$/, "")}-${i}`;
  taken.add(name);
  return name;
}
