/**
 * cli/commands/explain — `clawfence explain POLICY DEST... [--json] [--phase P] [--var k=v]...`
 *
 * Map: load the policy (cli/load-policy.ts), compile the decider once (match/decide.ts),
 * parse every DEST into a Flow (`parseDest`, exported for tests and other commands; the
 * grammar is match/destination.ts, shared with verify's scenarios), and
 * print, per destination, the verdict, the deciding rule with its file:line:column and the
 * reason, from `explainFlow` (the linear walk that agrees with decide()).
 * DEST forms: `host[:port][/tcp|udp|icmp]`, `IP[:port][/proto]`, `[IPv6]:port[/proto]`, bare
 * IPv6. No port given: 443 (and tcp unless a protocol is given); the text output says so.
 * Names are normalized like the policy's (lowercase, trailing dot, IDN to punycode); hosts
 * in any address notation a client would accept (`127.1`, `0x7f000001`) are addresses.
 * Explain never resolves names: a name is decided as a name alone, i.e. for public answer
 * addresses (an answer in a special-purpose range is denied unless listed under `internal`).
 * Exit: 0 when every DEST parsed (whatever the verdicts); 2 usage or I/O (CliError);
 * 1 policy errors (PolicyError, printed by cli/main.ts).
 */
import { domainToASCII } from "node:url";
import { compileDecider, type Explanation } from "../../match/decide.ts";
import type { Flow } from "../../match/decision.ts";
import { parseDestSyntax } from "../../match/destination.ts";
import { formatIp } from "../../match/ip.ts";
import { formatPos } from "../../policy/errors.ts";
import type { FlowProtocol } from "../../policy/ir.ts";
import { checkPhaseArg, parseCommandArgs, parseVarOverrides } from "../args.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";
import { loadPolicyFromCli } from "../load-policy.ts";

const HELP = `usage: clawfence explain POLICY DEST... [options]

Show which rule decides each destination, where it is written, and why.

DEST: host[:port][/tcp|udp|icmp]   e.g. api.example.com, github.com:22, dns.google:53/udp
      IP[:port][/proto]            e.g. 203.0.113.7:8443, 169.254.169.254
      [IPv6]:port[/proto]          e.g. [2001:db8::1]:443
      IPv6                         e.g. 2001:db8::1
      Without a port, 443 is assumed (tcp unless a protocol is given).

options:
  --json             print a JSON array, one object per destination
  --phase PHASE      decide in this phase (default: the policy's first phase)
  --var NAME=VALUE   set a variable, overriding the policy's vars (repeatable)

exit: 0 every destination was explained (whatever the verdicts), 1 policy errors, 2 usage or I/O
`;

export interface ParsedDest {
  /** as the user wrote it */
  readonly text: string;
  readonly flow: Flow;
  readonly protocol: FlowProtocol;
  /** null for ICMP */
  readonly port: number | null;
  /** true when no port was written and 443 was assumed */
  readonly defaultPort: boolean;
  readonly name?: string;
  /** canonical address text */
  readonly ip?: string;
}

function destError(text: string, why: string, fix: string): CliError {
  return new CliError("CF_USAGE_DEST", `destination '${text}': ${why}`, fix);
}

/** A name as the policy normalizer writes it: lowercase A-labels, no trailing dot, lengths checked. */
function normalizeHost(text: string, host: string): string {
  const bare = host.endsWith(".") ? host.slice(0, -1) : host;
  const ascii = domainToASCII(bare);
  if (ascii === "" || bare === "") throw destError(text, `'${host}' is not a valid host name`, "write a name like api.example.com, an IPv4 address, or [IPv6]:port");
  const labels = ascii.split(".");
  if (ascii.length > 253 || labels.some((l) => l.length === 0 || l.length > 63)) {
    throw destError(text, `'${host}' is not a valid host name (labels 1..63 characters, 253 in all)`, "check the name for empty labels or typos");
  }
  return ascii;
}

/** Parse one DEST argument into the flow to decide (grammar: match/destination.ts). Throws CliError CF_USAGE_DEST. */
export function parseDest(text: string, phase?: string): ParsedDest {
  const r = parseDestSyntax(text);
  if (!r.ok) {
    switch (r.kind) {
      case "empty":
        throw destError(text, "empty", "write a host, host:port or [IPv6]:port");
      case "network":
        throw destError(text, r.message, "explain takes addresses, not networks: write one address, e.g. 10.0.0.1");
      case "other":
        throw destError(text, r.message, r.fix);
      default: {
        const never: never = r.kind;
        throw new Error(`unknown destination problem ${String(never)}`);
      }
    }
  }
  const { host, ip } = r.value;
  let port: number | null = r.value.port ?? null;
  const defaultPort = port === null && r.value.protocol !== "icmp";
  const protocol = r.value.protocol ?? "tcp";
  if (protocol !== "icmp") port ??= 443;
  const base = { protocol, ...(port !== null ? { port } : {}), ...(phase !== undefined ? { phase } : {}) };
  if (ip) {
    return { text, flow: { ...base, ip }, protocol, port, defaultPort, ip: formatIp(ip) };
  }
  const name = normalizeHost(text, host);
  return { text, flow: { ...base, names: [name] }, protocol, port, defaultPort, name };
}

function verdictText(e: Explanation): string {
  const d = e.decision;
  switch (d.verdict) {
    case "allow":
      return "allow";
    case "deny":
      return d.enforced ? "deny" : "would deny";
    default: {
      const never: never = d.verdict;
      throw new Error(`unknown verdict ${String(never)}`);
    }
  }
}

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        phase: { type: "string" },
        var: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence explain --help' for the options",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const [file, ...dests] = positionals;
  if (file === undefined || dests.length === 0) {
    throw new CliError(
      "CF_USAGE_ARGS",
      file === undefined ? "explain needs a policy file and at least one destination" : "explain needs at least one destination",
      "run 'clawfence explain POLICY.yaml api.example.com:443' (see 'clawfence explain --help')",
    );
  }
  const overrides = parseVarOverrides(values.var ?? []);
  const policy = loadPolicyFromCli(file, io, { overrides });
  const phase = values.phase;
  checkPhaseArg(policy, phase);
  // parse every destination before printing anything: a typo fails the whole command
  const parsedDests = dests.map((d) => parseDest(d, phase));
  const decider = compileDecider(policy);
  const effectivePhase = phase ?? policy.phases[0];
  const results = parsedDests.map((pd) => ({ pd, e: decider.explainFlow(pd.flow) }));

  if (values.json) {
    const out = results.map(({ pd, e }) => ({
      destination: pd.text,
      verdict: e.decision.verdict,
      enforced: e.decision.enforced,
      rule: e.decision.rule,
      reason: e.decision.reason,
      protocol: pd.protocol,
      port: pd.port,
      ...(pd.name !== undefined ? { name: pd.name } : {}),
      ...(pd.ip !== undefined ? { ip: pd.ip } : {}),
      ...(effectivePhase !== undefined ? { phase: effectivePhase } : {}),
      ...(e.rule ? { rule_pos: formatPos(e.rule.pos) } : {}),
      ...(e.special ? { special: e.special } : {}),
      why: e.considered.length > 0 && e.rule ? (e.considered[e.considered.length - 1]?.why ?? "") : whyDefault(e),
    }));
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }

  const blocks = results.map(({ pd, e }) => {
    const target = pd.name ?? pd.ip ?? pd.text;
    const where = pd.port === null ? `${target} ${pd.protocol}` : `${target} port ${pd.port}/${pd.protocol}`;
    const lines = [`${pd.text}: ${verdictText(e)}`, `  destination: ${where}${pd.defaultPort ? " (no port given: assumed 443)" : ""}`];
    if (pd.name !== undefined) lines.push("  decided as a name alone (explain does not resolve it; an answer in a special-purpose range outside internal would be denied)");
    if (effectivePhase !== undefined) lines.push(`  phase:       ${effectivePhase}${phase === undefined ? " (the first phase)" : ""}`);
    lines.push(e.rule ? `  rule:        ${e.rule.name} (${formatPos(e.rule.pos)})` : `  rule:        default (policy default: ${policy.default})`);
    lines.push(`  reason:      ${e.decision.reason}`);
    lines.push(`  why:         ${e.rule ? (e.considered[e.considered.length - 1]?.why ?? "") : whyDefault(e)}`);
    return lines.join("\n");
  });
  io.stdout.write(`${blocks.join("\n\n")}\n`);
  return 0;
};

function whyDefault(e: Explanation): string {
  const n = e.considered.length;
  switch (e.decision.reason) {
    case "special-range":
      return `${e.special ? `${e.special.range} is special-purpose (${e.special.name})` : "the address is special-purpose"} and not under internal; only a literal address or CIDR entry can allow it (${n} rules considered)`;
    case "phase-inactive":
      return `only a rule of another phase would match: ${e.considered.find((c) => c.why.includes("inactive in phase"))?.rule ?? "?"} (${n} rules considered)`;
    case "default-allow":
    case "default-deny":
      return n === 0 ? "the policy has no rules" : `no rule matched (${n} rules considered)`;
    case "rule-allow":
    case "rule-deny":
    case "dns-exfiltration":
    case "sni-mismatch":
    case "no-sni":
    case "malformed":
      return `${e.decision.rule}: ${e.decision.reason}`;
    default: {
      const never: never = e.decision.reason;
      throw new Error(`unknown reason ${String(never)}`);
    }
  }
}
