/**
 * lint/rules — the registry of guardrail findings (CF5xxx): stable code, short name,
 * default severity, title and help. SARIF `tool.driver.rules` and docs/lint.md are built
 * from this table; every finding the lint emits uses a code from here.
 *
 * Codes are stable: never reuse or renumber one; retire a code by leaving it here with
 * `retired: true`. Pure data, no I/O.
 */
import type { Severity } from "../policy/errors.ts";

export interface LintRule {
  readonly code: string;
  /** kebab-case name, stable like the code (SARIF `rules[].name`) */
  readonly name: string;
  readonly severity: Severity;
  readonly title: string;
  /** what it means and how to fix it (docs, SARIF `help.text`) */
  readonly help: string;
}

export const LINT_RULES = [
  {
    code: "CF5001",
    name: "unreachable-rule",
    severity: "warning",
    title: "rule never decides anything",
    help:
      "Every flow this rule could match (destinations x protocols x ports x phases) is already matched by earlier rules, so the first match never reaches it. " +
      "Remove the rule, or move it before the rules that cover it (lower priority number) if it was meant to win.",
  },
  {
    code: "CF5002",
    name: "deny-overridden",
    severity: "error",
    title: "a deny never applies because earlier allow rules take its traffic",
    help:
      "A destination this deny rule names is entirely matched by earlier allow rules, so the traffic the deny was meant to stop is allowed. " +
      "Give the deny rule a lower priority number than the allow, or remove the destination from the allow rule.",
  },
  {
    code: "CF5003",
    name: "allow-overridden",
    severity: "error",
    title: "a destination is both allowed and denied, and the deny always wins",
    help:
      "A destination this allow rule names is entirely matched by earlier deny rules (seed 003's plan-time guardrail: the same provider both approved and denied). " +
      "Decide which list it belongs to: remove it from the allow rule, or from the deny rule / catalog rule that covers it.",
  },
  {
    code: "CF5004",
    name: "allow-deny-overlap",
    severity: "info",
    title: "allow and deny rules overlap; the first one wins the overlap",
    help:
      "Some destinations are matched by both an allow rule and a deny rule. The rule that comes first (lower priority number, then file order) decides them. " +
      "This is how exceptions are written; check that the winner is the one you meant.",
  },
  {
    code: "CF5010",
    name: "dns-to-non-upstream",
    severity: "error",
    title: "DNS (port 53/853) allowed to a destination that is not a configured upstream",
    help:
      "An agent that can reach any resolver but the configured upstreams can tunnel data through DNS queries and bypass the DNS guard. " +
      "Remove port 53/853 from the rule (add `ports:`), or restrict it to the addresses listed under dns.upstreams.",
  },
  {
    code: "CF5011",
    name: "doh-endpoint-allowed",
    severity: "error",
    title: "a known DNS-over-HTTPS endpoint is allowed",
    help:
      "An allow rule (often a wildcard) covers an endpoint of catalog doh-resolvers, so the agent can resolve names (and tunnel data) over HTTPS, past the DNS guard. " +
      "Add a rule `deny: [catalog:doh-resolvers]` with a lower priority number than the allow, or narrow the allow.",
  },
  {
    code: "CF5020",
    name: "broad-destination-without-ports",
    severity: "error",
    title: "`any` or a large network allowed on every port",
    help:
      "Allowing `any` or a network of 65536+ addresses (IPv4 /16 or larger, IPv6 /48 or larger) on every port and protocol lets the agent reach almost anything. " +
      "Add `ports:` and `protocol:`, and name the destinations.",
  },
  {
    code: "CF5021",
    name: "allow-without-ports",
    severity: "warning",
    title: "allow rule without ports",
    help: "An allow rule without `ports:` opens every port, including DNS (53), DoT (853) and plain HTTP (80). Add `ports:` (for example [443]) and `protocol: tcp`.",
  },
  {
    code: "CF5022",
    name: "wildcard-over-shared-hosting",
    severity: "warning",
    title: "wildcard over a shared-hosting or cloud-storage domain",
    help:
      "Anyone can publish under these domains (catalog shared-hosting: S3, GitHub Pages, Cloudflare Pages, ngrok, ...), so a wildcard over them allows every other tenant: an upload drop or a payload host. " +
      "List the exact bucket, site or host names you need instead of the wildcard.",
  },
  {
    code: "CF5023",
    name: "internal-too-broad",
    severity: "warning",
    title: "`internal` range broad enough for lateral movement",
    help:
      "`internal` lets allowed names and `any` resolve into these special-purpose ranges; a whole private block (IPv4 /16 or larger, IPv6 /48 or larger) exposes every neighbouring workload to DNS rebinding and lateral movement. " +
      "List the narrow networks of the services you need.",
  },
  {
    code: "CF5024",
    name: "metadata-reachable",
    severity: "error",
    title: "cloud metadata endpoint allowed",
    help:
      "A rule or an `internal` range lets the agent reach an instance metadata or credential endpoint (catalog cloud-metadata), where cloud credentials can be read. " +
      "Remove the entry, narrow the network so it excludes the endpoint, and add `deny: [catalog:cloud-metadata]` before the allow rules.",
  },
  {
    code: "CF5030",
    name: "plain-http",
    severity: "warning",
    title: "plain-text HTTP (port 80) allowed",
    help:
      "Port 80 carries unencrypted traffic that anyone on the path can read or change, and the firewall cannot check a TLS name for it. " +
      "Seed 003: many OS package mirrors (apt) are still HTTP; prefer HTTPS mirrors or an internal artifact store, and allow port 443 only.",
  },
  {
    code: "CF5040",
    name: "unused-group",
    severity: "warning",
    title: "group defined but never used",
    help: "No rule refers to this group (`group:NAME`). Remove it, or add it to the rule it was meant for.",
  },
  {
    code: "CF5041",
    name: "unused-variable",
    severity: "warning",
    title: "variable defined but never used",
    help: "No string in the policy uses `${NAME}` for this variable. Remove it, or use it where it was meant to go.",
  },
  {
    code: "CF5042",
    name: "duplicate-entry",
    severity: "warning",
    title: "duplicate or overlapping entry within a rule",
    help: "This entry is already matched by another entry of the same rule (the same name, a wildcard above it, a network containing it, or `any`). Remove the redundant entry.",
  },
  {
    code: "CF5043",
    name: "monitor-mode",
    severity: "info",
    title: "monitor mode: denies are reported, not enforced",
    help: "In monitor mode nothing is blocked; denied flows are logged as 'would deny'. Switch to `mode: enforce` once the flow log shows no legitimate denies.",
  },
  {
    code: "CF5044",
    name: "default-allow",
    severity: "warning",
    title: "`default: allow`",
    help: "Anything no rule names is allowed, so every destination you forgot is open. Use `default: deny` and allow what the agent needs.",
  },
] as const satisfies readonly LintRule[];

export type LintCode = (typeof LINT_RULES)[number]["code"];

const BY_CODE: ReadonlyMap<string, LintRule> = new Map(LINT_RULES.map((r) => [r.code, r]));

export function lintRule(code: LintCode): LintRule {
  const r = BY_CODE.get(code);
  if (!r) throw new Error(`unknown lint code ${code}`);
  return r;
}
