/**
 * import/entry — one imported destination as `host`, `host:port`, an address or CIDR
 * (`192.0.2.7`, `10.0.0.0/8`, `2001:db8::1`), or a bracketed IPv6 with a port
 * (`[2001:db8::1]:443`), checked with the policy language's own rules (policy/names.ts,
 * policy/addr.ts, policy/ports.ts) so an import never produces a destination the loader
 * refuses. The result is written in policy syntax: a normalized name, `*.suffix`, or a
 * canonical address/CIDR (a single address without `/32` or `/128`).
 *
 * Pure: no I/O.
 */
import type { PortRange } from "../ir.ts";
import { parseDestEntry } from "../names.ts";
import { parsePortEntry } from "../ports.ts";
import type { ImportCode } from "./codes.ts";

export interface ImportedDest {
  /** policy destination syntax */
  readonly dest: string;
  /** null: no port was written */
  readonly port: PortRange | null;
  /** set when the text is valid but may not mean what it says (a warning for the importer) */
  readonly ambiguous?: { readonly message: string; readonly fix: string };
}

export interface EntryProblem {
  readonly code: ImportCode;
  readonly message: string;
  readonly fix: string;
  /** the policy-language code behind it (CF3xxx), for json/sarif */
  readonly cause?: string;
}

/** `dest:port` as an entry would be written (`[v6]:port` for IPv6). */
export function showEntry(dest: string, port: PortRange | null): string {
  if (!port) return dest;
  const p = port.from === port.to ? `${port.from}` : `${port.from}-${port.to}`;
  return dest.includes(":") ? `[${dest}]:${p}` : `${dest}:${p}`;
}

export type EntryResult = { readonly ok: true; readonly value: ImportedDest } | { readonly ok: false; readonly problem: EntryProblem };

function fail(code: ImportCode, message: string, fix: string, cause?: string): EntryResult {
  return { ok: false, problem: { code, message, fix, ...(cause ? { cause } : {}) } };
}

/** Split `text` into host and port text; brackets mark an IPv6 address with a port. */
function split(text: string): { host: string; port: string | null } | EntryResult {
  if (text.startsWith("[")) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (!m) return fail("CF6001", `'${text}': an opening '[' needs a closing ']'`, "write an IPv6 address with a port as [2001:db8::1]:443");
    return { host: m[1] ?? "", port: m[2] ?? null };
  }
  const colons = text.split(":").length - 1;
  if (colons >= 2) return { host: text, port: null }; // a bare IPv6 address or network
  if (colons === 1) {
    const i = text.indexOf(":");
    return { host: text.slice(0, i), port: text.slice(i + 1) };
  }
  return { host: text, port: null };
}

/**
 * Check one entry. `text` has no surrounding whitespace. URLs, wildcards under public
 * suffixes, loose IPv4 spellings, host bits in CIDRs and bad ports are refused with a fix.
 */
export function parseImportedDest(text: string): EntryResult {
  if (text.length === 0) return fail("CF6001", "the destination is empty", "write a host name, host:port, an address or a CIDR");
  if (text.includes("://")) {
    let host = "";
    try {
      const u = new URL(text);
      host = u.port ? `${u.hostname}:${u.port}` : u.hostname;
    } catch {
      host = "";
    }
    return fail("CF6001", `'${text}' is a URL; an entry is host or host:port`, host ? `write ${host}` : "write the host name, like api.example.com:443");
  }
  const parts = split(text);
  if ("ok" in parts) return parts;
  const { host, port: portText } = parts;
  if (host.length === 0) return fail("CF6001", `'${text}' has no host before the port`, "write host:port, like api.example.com:443");
  if (portText !== null && portText.length === 0) return fail("CF6002", `'${text}' ends in ':' without a port`, `write ${host}:443 for one port, or ${host} for all ports`);
  let port: PortRange | null = null;
  if (portText !== null) {
    const p = parsePortEntry(portText);
    if (!p.ok) return fail("CF6002", `'${text}': ${p.problem.message}`, p.problem.fix, p.problem.code);
    port = p.value;
  }
  const d = parseDestEntry(host);
  if (!d.ok) {
    const unbracketed = /^(.*:.*):([0-9]{1,5})$/.exec(text);
    const fix = portText === null && unbracketed && !host.includes("/") ? `${d.problem.fix}; for an IPv6 address with a port, write [${unbracketed[1] ?? ""}]:${unbracketed[2] ?? ""}` : d.problem.fix;
    return fail("CF6001", d.problem.message, fix, d.problem.code);
  }
  const v = d.value;
  switch (v.kind) {
    case "domain":
      return { ok: true, value: { dest: v.name, port } };
    case "wildcard":
      return { ok: true, value: { dest: `*.${v.suffix}`, port } };
    case "cidr": {
      const single = v.cidr.prefix === (v.cidr.family === 4 ? 32 : 128) && !host.includes("/");
      const dest = single ? v.cidr.text.slice(0, v.cidr.text.lastIndexOf("/")) : v.cidr.text;
      const tail = /::(?:[0-9a-f]{1,4}:)+([0-9]{1,5})$/i.exec(host);
      if (v.cidr.family === 6 && portText === null && !text.startsWith("[") && tail && Number(tail[1]) <= 65535) {
        const addr = host.slice(0, host.length - (tail[1] ?? "").length - 1);
        const ambiguous = {
          message: `'${text}' is read as the IPv6 address ${dest} (all ports), not as an address with port ${tail[1] ?? ""}`,
          fix: `write [${addr}]:${tail[1] ?? ""} if port ${tail[1] ?? ""} was meant, or [${dest}] to say the address is meant`,
        };
        return { ok: true, value: { dest, port, ambiguous } };
      }
      return { ok: true, value: { dest, port } };
    }
    case "any":
    case "group":
    case "catalog":
      return fail("CF6001", `'${host}' is a policy keyword, not a destination an allowlist can name`, "write a host name, address or CIDR");
  }
}
