/**
 * policy/names — domain names and destination entries, checked and normalized once.
 *
 * Map: the normalizer calls `parseDestEntry` on every destination a user (or a catalog)
 * wrote, and `normalizeName` where only a name may stand. Results are branded `Fqdn`s:
 * lowercase, A-labels (punycode), no trailing dot, label and name lengths checked — nothing
 * downstream normalizes again. Addresses and CIDRs go to policy/addr.ts (strict spelling).
 * Failures are `Problem`s (code, message, fix) without a position; the caller adds where
 * the entry was written.
 *
 * Wildcards: `*.suffix` matches one or more labels below `suffix`, never `suffix` itself.
 * A wildcard directly under a Public Suffix List entry is refused. Decision: the private
 * section of the list counts too (`allowPrivateDomains: true`), because `*.github.io`,
 * `*.s3.amazonaws.com` or `*.cloudfront.net` let anyone who can create a site or bucket
 * there receive the agent's traffic, just like `*.com`. Unknown TLDs (`*.internal`,
 * `*.corp`) are not on the list and are accepted: they are private namespaces.
 *
 * Pure: node:url's domainToASCII (IDNA, no I/O) and tldts's bundled list. No I/O.
 */
import { domainToASCII, domainToUnicode } from "node:url";
import { parse as parseDomain } from "tldts";
import { checkAddressEntry, endsInNumber } from "./addr.ts";
import { problem, type Checked } from "./codes.ts";
import type { Cidr, Fqdn } from "./ir.ts";

export const MAX_NAME_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;

const LABEL_RE = /^[a-z0-9_-]+$/;

function printable(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Normalize a domain name: lowercase, one trailing dot removed, IDN to punycode; labels
 * 1..63 characters of letters, digits, '-' and '_' (for `_srv._tcp`-style labels), no label
 * starting or ending with '-', the name at most 253 characters, and not ending in a number
 * (such a "name" is an IPv4 address to every resolver library).
 */
export function normalizeName(text: string): Checked<Fqdn> {
  const shown = printable(text);
  if (text.length === 0 || text === ".") {
    return problem("CF3002", "the name is empty", "write a domain name like example.com");
  }
  if (/\s/.test(text)) {
    return problem("CF3001", `'${shown}' contains whitespace`, "remove the spaces; write one name per list item");
  }
  const t = text.endsWith(".") ? text.slice(0, -1) : text;
  // ASCII-only input never goes through IDNA: domainToASCII would also turn `0x7f.1` into an address
  let ascii: string;
  // oxlint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(t)) {
    ascii = t.toLowerCase();
  } else {
    if (t.length > MAX_NAME_LENGTH * 4) {
      return problem("CF3003", `'${shown}' is longer than a domain name can be`, `write a name of at most ${MAX_NAME_LENGTH} characters`);
    }
    ascii = domainToASCII(t);
    if (ascii === "") {
      return problem("CF3005", `'${shown}' is not a valid internationalized domain name`, "check the name's spelling, or write its punycode form (xn--...)");
    }
  }
  const labels = ascii.split(".");
  for (const label of labels) {
    if (label.length === 0) {
      return problem("CF3002", `'${shown}' has an empty label (two dots in a row, or a leading dot)`, "remove the extra dot");
    }
    if (label.length > MAX_LABEL_LENGTH) {
      return problem("CF3002", `'${shown}': the label '${printable(label)}' is ${label.length} characters; the limit is ${MAX_LABEL_LENGTH}`, "check the name; DNS labels are at most 63 characters");
    }
    if (!LABEL_RE.test(label)) {
      const bad = /[^a-z0-9_-]/.exec(label)?.[0] ?? "?";
      const hint = bad === "*" ? "a `*` is only allowed as the whole leftmost label: `*.example.com`" : "names use letters, digits, '-' and '_'";
      return problem("CF3001", `'${shown}' contains '${bad}', which is not allowed in a domain name`, hint);
    }
    if (label.startsWith("-") || label.endsWith("-")) {
      return problem("CF3004", `'${shown}': the label '${label}' starts or ends with '-'`, "check the name's spelling; a label cannot start or end with a hyphen");
    }
    if (label.startsWith("xn--")) {
      const u = domainToUnicode(label);
      if (u === "" || u === label) {
        return problem("CF3005", `'${shown}': '${label}' is not valid punycode`, "write the name in Unicode or check the xn-- label");
      }
    }
  }
  if (ascii.length > MAX_NAME_LENGTH) {
    return problem("CF3003", `'${shown}' is ${ascii.length} characters; a domain name is at most ${MAX_NAME_LENGTH}`, "check the name");
  }
  if (endsInNumber(ascii)) {
    return problem(
      "CF3006",
      `'${shown}' ends in a number, so resolvers read it as an IPv4 address, not a name`,
      "write an address as four decimal parts (192.0.2.7) or a CIDR (192.0.2.0/24); names end in a letter label",
    );
  }
  return { ok: true, value: ascii as Fqdn };
}

/** A problem when `*.suffix` would be a wildcard directly under a public suffix, else null. */
export function publicSuffixWildcardProblem(suffix: Fqdn): Checked<never> | null {
  const r = parseDomain(suffix, { allowPrivateDomains: true, extractHostname: false, validateHostname: false });
  if (r.publicSuffix !== suffix || !(r.isIcann || r.isPrivate)) return null;
  const kind = r.isPrivate ? "a shared-hosting suffix on the Public Suffix List: anyone can get a name there" : "a public suffix: anyone can register a name there";
  return problem(
    "CF3010",
    `\`*.${suffix}\` would allow every site under ${suffix} (${kind})`,
    `list the domains you need, e.g. \`*.example.${suffix}\` or \`api.example.${suffix}\``,
  );
}

/** A destination entry as written, before groups and catalogs are expanded. */
export type DestSpec =
  | { readonly kind: "any" }
  | { readonly kind: "group"; readonly name: string }
  | { readonly kind: "catalog"; readonly name: string }
  | { readonly kind: "domain"; readonly name: Fqdn }
  | { readonly kind: "wildcard"; readonly suffix: Fqdn }
  | { readonly kind: "cidr"; readonly cidr: Cidr };

function wildcard(text: string): Checked<DestSpec> {
  const shown = printable(text);
  if (text === "*" || text === "*.") {
    return problem("CF3012", "a bare `*` would match every destination", "write `any` if you mean every destination (special-purpose addresses stay excluded), or list the domains, e.g. `*.example.com`");
  }
  const m = /^\*\.(.*)$/.exec(text);
  if (m && !(m[1] ?? "").includes("*")) {
    const suffix = normalizeName(m[1] ?? "");
    if (!suffix.ok) return suffix;
    const ps = publicSuffixWildcardProblem(suffix.value);
    if (ps) return ps;
    return { ok: true, value: { kind: "wildcard", suffix: suffix.value } };
  }
  if (/^(\*\.)*\*\*/.test(text) || /^\*\.(\*\.)+/.test(text)) {
    const rest = text.replace(/^[*.]+/, "");
    return problem(
      "CF3011",
      `'${shown}' repeats the wildcard`,
      `write \`*.${rest || "example.com"}\`: it already matches names any number of labels below ${rest || "the suffix"}`,
    );
  }
  const labels = text.split(".");
  const first = labels[0] ?? "";
  if (first.includes("*") && first !== "*") {
    const rest = labels.slice(1).join(".") || "example.com";
    return problem(
      "CF3011",
      `'${shown}' uses \`*\` inside a label; a wildcard must be a whole label`,
      `write \`*.${rest}\` for every name below ${rest}, or list the names you need (e.g. \`${first.replaceAll("*", "api")}.${rest}\`)`,
    );
  }
  const tail = labels.slice(labels.findLastIndex((l) => l.includes("*")) + 1).join(".") || "example.com";
  return problem(
    "CF3011",
    `'${shown}' has a \`*\` that is not the leftmost label; a wildcard may only be the first label`,
    `list the names you need, or write \`*.${tail}\` if every name below ${tail} is meant`,
  );
}

/**
 * Parse one destination entry (after `${var}` substitution): `any`, `group:NAME`,
 * `catalog:NAME`, an exact domain, a `*.suffix` wildcard, or an address/CIDR. Refuses, each
 * with what to write instead: partial-label and repeated wildcards, a bare `*`, wildcards
 * under public suffixes, URLs, `host:port`, loose or leading-zero IPv4 spellings.
 * Does not resolve group or catalog names (the normalizer knows which exist).
 */
export function parseDestEntry(text: string): Checked<DestSpec> {
  const shown = printable(text);
  if (text === "any") return { ok: true, value: { kind: "any" } };
  if (text.toLowerCase() === "any") return problem("CF3016", `'${text}' is not a keyword; keywords are lowercase`, "write `any`");
  const colon = text.indexOf(":");
  const prefix = colon === -1 ? "" : text.slice(0, colon);
  if (prefix === "group" || prefix === "catalog") {
    return { ok: true, value: { kind: prefix, name: text.slice(colon + 1) } };
  }
  if (prefix.toLowerCase() === "group" || prefix.toLowerCase() === "catalog") {
    return problem("CF3016", `'${shown}': \`${prefix.toLowerCase()}:\` is written in lowercase`, `write \`${prefix.toLowerCase()}:${text.slice(colon + 1)}\``);
  }
  if (/\s/.test(text)) {
    return problem("CF3001", `'${shown}' contains whitespace`, "write one destination per list item, without spaces");
  }
  if (text.includes("://")) {
    let host = "";
    try {
      host = new URL(text).hostname;
    } catch {
      host = "";
    }
    return problem("CF3013", `'${shown}' is a URL; a destination is a host name, address or CIDR`, host ? `write \`${host}\` (and the port under \`ports:\`)` : "write the host name only, like api.example.com");
  }
  const hostPort = /^\[([^\]]*)\]:([0-9]+)$/.exec(text) ?? /^([^:[\]]+):([0-9]+)$/.exec(text);
  if (hostPort) {
    return problem("CF3014", `'${shown}' includes a port; ports go under \`ports:\``, `write \`${hostPort[1] ?? ""}\` and add \`ports: [${hostPort[2] ?? ""}]\` to the rule`);
  }
  if (text.includes("*")) return wildcard(text);
  if (text.includes(":") || text.includes("/") || text.startsWith("[") || endsInNumber(text)) {
    const a = checkAddressEntry(text);
    if (!a.ok) return problem("CF3015", a.message, a.fix);
    return { ok: true, value: { kind: "cidr", cidr: a.cidr } };
  }
  const n = normalizeName(text);
  if (!n.ok) return n;
  return { ok: true, value: { kind: "domain", name: n.value } };
}
