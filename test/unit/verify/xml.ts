/**
 * A minimal XML reader for tests of the JUnit output (no XML parser is a dependency): elements,
 * attributes, text, the five predefined entities and numeric character references, the XML
 * declaration. It refuses what JUnit consumers would refuse: unclosed or mismatched tags,
 * unescaped `<` or `&`, duplicate attributes, characters XML 1.0 cannot carry.
 */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(raw: string, where: number): string {
  if (/<|&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/.test(raw)) throw new Error(`unescaped '<' or '&' near offset ${where}`);
  return raw.replace(/&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g, (_m, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? "";
  });
}

export function parseXml(text: string): XmlElement {
  // oxlint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(text)) throw new Error("character not allowed in XML 1.0");
  let i = 0;
  const decl = /^<\?xml[^?]*\?>\s*/.exec(text);
  if (decl) i = decl[0].length;
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const top = stack[stack.length - 1] as XmlElement;
    if (lt === -1) {
      if (text.slice(i).trim() !== "") throw new Error("text after the root element");
      break;
    }
    if (lt > i) top.text += decode(text.slice(i, lt), i);
    if (text.startsWith("</", lt)) {
      const gt = text.indexOf(">", lt);
      const name = text.slice(lt + 2, gt).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`mismatched </${name}> at ${lt}`);
      i = gt + 1;
      continue;
    }
    const m = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"]*")*)\s*(\/?)>/.exec(text.slice(lt));
    if (!m) throw new Error(`malformed tag at ${lt}`);
    const attrs: Record<string, string> = {};
    for (const a of (m[2] ?? "").matchAll(/([A-Za-z_][\w.:-]*)="([^"]*)"/g)) {
      const k = a[1] ?? "";
      if (Object.hasOwn(attrs, k)) throw new Error(`duplicate attribute ${k}`);
      attrs[k] = decode(a[2] ?? "", lt);
    }
    const el: XmlElement = { name: m[1] ?? "", attrs, children: [], text: "" };
    top.children.push(el);
    if (m[3] !== "/") stack.push(el);
    i = lt + m[0].length;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]?.name ?? ""}>`);
  if (root.children.length !== 1) throw new Error("expected exactly one root element");
  return root.children[0] as XmlElement;
}
