/**
 * policy/vars — `${name}` substitution in policy strings.
 *
 * Map: the normalizer passes every string value it reads (destinations, descriptions,
 * ports written as strings, DNS upstreams, internal ranges, workload values, catalog
 * entries) through `substitute` with the merged variables (precedence, lowest first:
 * machine defaults the CLI supplies, then `vars:` of extended files, then the policy's own
 * `vars:`, then `--var` overrides).
 *
 * Syntax: `${name}` where name is `[A-Za-z_][A-Za-z0-9_]*`; `$${` writes a literal `${`;
 * a `$` not followed by `{` is literal. Values are inserted as they are and not expanded
 * again, so a value can never pull in another variable. Keys, names (policy, rule, group,
 * phase), enumerated fields and `extends` paths are not substituted.
 *
 * Pure: no I/O.
 */
import { VAR_NAME_RE } from "./wire.ts";

export type SubstResult =
  | { readonly ok: true; readonly value: string; readonly used: readonly string[] }
  | { readonly ok: false; readonly missing: readonly string[]; readonly malformed: string | null };

export function substitute(text: string, vars: Readonly<Record<string, string>>): SubstResult {
  if (!text.includes("$")) return { ok: true, value: text, used: [] };
  let out = "";
  const missing: string[] = [];
  const used: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("$${", i)) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.startsWith("${", i)) {
      const end = text.indexOf("}", i + 2);
      const name = end === -1 ? null : text.slice(i + 2, end);
      if (name === null || !VAR_NAME_RE.test(name)) {
        const shown = end === -1 ? text.slice(i, i + 40) : text.slice(i, end + 1);
        return { ok: false, missing, malformed: shown };
      }
      if (Object.hasOwn(vars, name)) {
        out += vars[name] ?? "";
        if (!used.includes(name)) used.push(name);
      } else if (!missing.includes(name)) missing.push(name);
      i = end + 1;
      continue;
    }
    out += text[i] ?? "";
    i++;
  }
  return missing.length > 0 ? { ok: false, missing, malformed: null } : { ok: true, value: out, used };
}
