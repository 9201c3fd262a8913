/**
 * verify/destination — a scenario's `destination` text to the parts of a flow.
 *
 * Forms (the same as `clawfence explain`'s DEST): `host[:port][/tcp|udp|icmp]`,
 * `IP[:port][/proto]`, `[IPv6]:port[/proto]`, a bare IPv6 address. Hosts in any address
 * notation a client would accept (`127.1`, `0x7f000001`) are addresses; names are normalized
 * like the policy's (policy/names.ts). Missing port and protocol stay missing here: the
 * scenarios file may give them as separate fields, and the caller applies the defaults
 * (443, tcp).
 *
 * The grammar itself is match/destination.ts, shared with cli/commands/explain.ts's parseDest
 * (verify may not import cli/); this module adds the scenario wording and the name
 * normalization. Pure: no I/O.
 */
import { parseDestSyntax } from "../match/destination.ts";
import { formatIp, type IpAddr } from "../match/ip.ts";
import { normalizeName } from "../policy/names.ts";
import type { FlowProtocol } from "../policy/ir.ts";

export interface DestParts {
  readonly protocol?: FlowProtocol;
  readonly port?: number;
  readonly ip?: IpAddr;
  readonly name?: string;
}

export type DestResult = { readonly ok: true; readonly value: DestParts } | { readonly ok: false; readonly message: string; readonly fix: string };

const FORMS = "write host[:port][/tcp|udp|icmp], an IP address, or [IPv6]:port, e.g. api.example.com:443/tcp";

export function parseDestination(text: string): DestResult {
  const r = parseDestSyntax(text);
  if (!r.ok) {
    switch (r.kind) {
      case "empty":
        return { ok: false, message: "the destination is empty", fix: FORMS };
      case "network":
        return { ok: false, message: r.message, fix: "a scenario probes one address, not a network: write e.g. 10.0.0.1" };
      case "other":
        return { ok: false, message: r.message, fix: r.fix };
      default: {
        const never: never = r.kind;
        throw new Error(`unknown destination problem ${String(never)}`);
      }
    }
  }
  const { host, ip, ...base } = r.value;
  if (ip) return { ok: true, value: { ...base, ip } };
  const n = normalizeName(host);
  if (!n.ok) return { ok: false, message: n.problem.message, fix: n.problem.fix };
  return { ok: true, value: { ...base, name: n.value } };
}

/** `name:443/tcp`, `[2001:db8::1]:443/tcp`, `10.0.0.1/icmp` */
export function formatDestination(parts: { readonly name?: string; readonly ip?: IpAddr; readonly port?: number; readonly protocol: FlowProtocol }): string {
  const host = parts.ip ? (parts.ip.family === 6 ? `[${formatIp(parts.ip)}]` : formatIp(parts.ip)) : (parts.name ?? "?");
  const shown = parts.ip && parts.name ? `${parts.name} at ${host}` : host;
  return parts.port === undefined ? `${shown}/${parts.protocol}` : `${shown}:${parts.port}/${parts.protocol}`;
}
