/**
 * runtime/proxy/http-head — the first HTTP/1.x request head of a transparent HTTP connection,
 * read from raw bytes: where it ends, its request line and header fields, and the target it
 * names (origin-form with the Host header, or absolute-form).
 *
 * Map: the transparent HTTP listener buffers bytes until `findHeadEnd` says the head is
 * complete (or over the limit), `parseRequestHead` splits it, `transparentTarget` turns it into
 * a `HttpTarget` through target.ts. Only this first head is parsed; the bytes are forwarded
 * unchanged, so the parser only has to be strict, not complete: anything it cannot read in
 * one way (a bare CR or LF, folded lines, a second Host, a space before the colon) is refused,
 * never guessed.
 *
 * Pure: no I/O, no clock. Throws only `TargetParseError` (from here or target.ts).
 */
import { TargetParseError, parseAbsoluteUrl, parseAuthority, type HttpTarget } from "./target.ts";

export interface RequestHead {
  readonly method: string;
  /** the request target as written (origin-form "/...", absolute-form, authority-form, "*") */
  readonly target: string;
  readonly version: "1.0" | "1.1";
  /** field names as written, values with surrounding whitespace removed, in order */
  readonly fields: ReadonlyArray<readonly [string, string]>;
}

export type HeadEnd = { status: "more" } | { status: "too-big" } | { status: "ok"; length: number };

const CRLFCRLF = Buffer.from("\r\n\r\n");

/**
 * Where the head in `buf` ends (just after the empty line), given that `from` bytes were
 * already searched. The head, empty line included, must fit in `max` bytes.
 */
export function findHeadEnd(buf: Buffer, max: number, from = 0): HeadEnd {
  const i = buf.indexOf(CRLFCRLF, Math.max(0, from - 3));
  if (i >= 0) return i + 4 > max ? { status: "too-big" } : { status: "ok", length: i + 4 };
  return buf.length >= max ? { status: "too-big" } : { status: "more" };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/;
// eslint-disable-next-line no-control-regex
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Split a complete head (as found by `findHeadEnd`, empty line included). */
export function parseRequestHead(head: Buffer): RequestHead {
  const text = head.toString("latin1");
  if (!text.endsWith("\r\n\r\n")) throw new TargetParseError("CF_PROXY_BAD_HEAD", "the request head does not end with an empty line");
  const lines = text.slice(0, -4).split("\r\n");
  const first = lines[0] ?? "";
  const m = REQUEST_LINE.exec(first);
  if (!m) throw new TargetParseError("CF_PROXY_BAD_REQUEST_LINE", `'${clip(first)}' is not an HTTP/1.x request line (METHOD target HTTP/1.1)`);
  const fields: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon);
    if (!TOKEN.test(name)) throw new TargetParseError("CF_PROXY_BAD_HEADER", `header line '${clip(line)}' is not 'Name: value' (no folding, no space before the colon)`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new TargetParseError("CF_PROXY_BAD_HEADER", `header '${clip(name)}' has a control character (a bare CR or LF) in its value`);
    fields.push([name, value]);
  }
  return { method: m[1] ?? "", target: m[2] ?? "", version: m[3] === "0" ? "1.0" : "1.1", fields };
}

/**
 * What a redirected request names: an absolute-form target by its URL, an origin-form one by
 * its single Host header (port from it, else `defaultPort`). CONNECT, `*` and a missing,
 * empty or repeated Host are refused.
 */
export function transparentTarget(head: RequestHead, defaultPort: number): HttpTarget {
  if (head.method === "CONNECT") throw new TargetParseError("CF_PROXY_CONNECT_TRANSPARENT", "CONNECT on a transparent listener; set the proxy's address as HTTP_PROXY instead");
  if (!head.target.startsWith("/")) return parseAbsoluteUrl(head.target);
  const hosts = head.fields.filter(([k]) => k.toLowerCase() === "host");
  if (hosts.length > 1) throw new TargetParseError("CF_PROXY_DUP_HOST", "the request has more than one Host header");
  const host = hosts[0]?.[1] ?? "";
  if (host === "") throw new TargetParseError("CF_PROXY_NO_HOST", "the request has no Host header; a transparent listener decides on it");
  return { ...parseAuthority(host, defaultPort), path: head.target, authority: host };
}

function clip(s: string): string {
  const t = s.length > 80 ? `${s.slice(0, 80)}...` : s;
  // eslint-disable-next-line no-control-regex
  return t.replace(/[\x00-\x1f\x7f]/g, "?");
}
