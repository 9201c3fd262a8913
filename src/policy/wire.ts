/**
 * policy/wire — the wire format v1: what users write (`PolicyDocV1`), as a zod schema, and
 * the JSON Schema (draft 2020-12) editors use for completion and help.
 *
 * Map: policy/parse.ts turns YAML text into a plain value with source positions;
 * policy/load.ts checks the `version` first (an unknown version is refused before this
 * schema is consulted), validates the value against `PolicyDocV1` (policy/wire-errors.ts turns
 * zod issues into diagnostics), then normalizes the wire doc into the IR (policy/ir.ts).
 * This file only describes shapes: no defaults are applied here (the normalizer applies
 * them, so "was it written?" stays answerable for extends merging), and checks that need
 * better messages than a regex can give (ports, destinations, addresses) are left to the
 * normalizer.
 *
 * Imports zod only. Pure data, no I/O.
 */
import { z } from "zod";

/** Policy names: lowercase DNS-label-like, so they are safe in file names and k8s objects. */
export const POLICY_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Rule, group and phase names: safe in nft comments, log prefixes and Terraform ids. */
export const IDENT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Variable names, as used in `${name}`. */
export const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const SCHEMA_ID = "https://clawfence.dev/schema/policy-v1.json";

const destEntry = z.string().meta({
  description:
    "A destination: `example.com` (that exact name), `*.example.com` (one or more labels below, never the apex), " +
    "an IPv4/IPv6 address, a CIDR (`10.0.0.0/8`), `group:NAME`, `catalog:NAME` (a built-in, versioned set), or `any`. " +
    "`${var}` is replaced.",
  examples: ["api.example.com", "*.example.com", "203.0.113.0/24", "group:model-gateways", "catalog:github"],
});

const portEntry = z
  .union([
    z.number().int().meta({ description: "A port number 1..65535.", minimum: 1, maximum: 65535 }),
    z.string().meta({ description: 'A port range "from-to" (inclusive), or a port number as a string; `${var}` is replaced.', examples: ["8000-8100"] }),
  ])
  .meta({ description: 'A port (443) or an inclusive range ("8000-8100").' });

const identifier = (what: string) =>
  z.string().regex(IDENT_RE).meta({ description: `${what}: letters, digits, '_', '.', '-'; starts with a letter or digit; at most 63 characters.` });

const labels = z.record(z.string(), z.string()).meta({ description: "Label or tag names to string values." });

export const WorkloadV1 = z
  .strictObject({
    kubernetes: z
      .strictObject({
        namespace: z.string().meta({ description: "Namespace of the pods the policy applies to." }),
        podLabels: labels.meta({ description: "Pod labels selecting the pods the policy applies to (matchLabels)." }),
      })
      .partial()
      .meta({ description: "Kubernetes selector used by the kubernetes and cilium targets." }),
    aviatrix: z
      .strictObject({ tags: labels.meta({ description: "Cloud tags of the SmartGroup the policy applies to." }) })
      .partial()
      .meta({ description: "Aviatrix SmartGroup selector used by the aviatrix target." }),
    host: z
      .strictObject({
        users: z.array(z.string()).meta({ description: "Local user names whose traffic the policy applies to (host enforcement)." }),
      })
      .partial()
      .meta({ description: "Host selector used when enforcing on a shared host." }),
  })
  .partial()
  .meta({ description: "Who the policy applies to, for engines shared by many workloads. Merged per key across extends (own file wins)." });

export const DnsV1 = z
  .strictObject({
    upstreams: z
      .array(
        z.string().meta({
          description: 'A resolver address: "10.0.0.2", "10.0.0.3:5353", "[2001:db8::1]:53" or a bare IPv6 address; port 53 when omitted.',
        }),
      )
      .min(1)
      .meta({ description: "Resolvers clawfence forwards allowed queries to. Omit to use the nameservers from /etc/resolv.conf." }),
    min_ttl: z
      .number()
      .int()
      .min(0)
      .max(86400)
      .meta({ description: "Learned addresses live max(answer TTL, min_ttl) seconds. Default 5." }),
  })
  .partial()
  .meta({ description: "DNS settings of the guard resolver." });

export const GroupV1 = z
  .strictObject({
    description: z.string().meta({ description: "What the group is for." }),
    domains: z
      .array(z.string().meta({ description: "A domain (`example.com`) or wildcard (`*.example.com`); `${var}` is replaced." }))
      .meta({ description: "Names in the group." }),
    cidrs: z
      .array(z.string().meta({ description: "An address or CIDR (`192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`); `${var}` is replaced." }))
      .meta({ description: "Addresses and networks in the group." }),
  })
  .partial()
  .meta({ description: "A named set of destinations, referenced from rules as `group:NAME`." });

export const RuleV1 = z
  .strictObject({
    name: identifier("Rule name, unique in the policy (extended files included); decisions and logs name it"),
    description: z.string().meta({ description: "Why the rule exists." }),
    priority: z
      .number()
      .int()
      .meta({ description: "Lower decides first; default 100. Ties keep file order, and the own file's rules come before extended files' rules." }),
    allow: z.array(destEntry).min(1).meta({ description: "Destinations this rule allows. A rule has exactly one of `allow` or `deny`." }),
    deny: z.array(destEntry).min(1).meta({ description: "Destinations this rule denies. A rule has exactly one of `allow` or `deny`." }),
    ports: z
      .array(portEntry)
      .min(1)
      .meta({ description: "Ports the rule applies to; omitted = all ports. With protocol `any`, the ports apply to both tcp and udp." }),
    protocol: z.enum(["tcp", "udp", "icmp", "any"]).meta({ description: "tcp | udp | icmp | any (default any). `icmp` takes no ports." }),
    phase: z
      .union([
        identifier("A phase declared in `phases`"),
        z.array(identifier("A phase declared in `phases`")).min(1),
      ])
      .meta({ description: "The phase(s) in which the rule is active; omitted = every phase." }),
    mode: z.enum(["enforce", "monitor"]).meta({ description: "Per-rule override of the policy mode: `monitor` makes this rule's denies would-deny only." }),
  })
  .partial({ description: true, priority: true, allow: true, deny: true, ports: true, protocol: true, phase: true, mode: true })
  .superRefine((rule, ctx) => {
    const n = (rule.allow === undefined ? 0 : 1) + (rule.deny === undefined ? 0 : 1);
    if (n !== 1) {
      ctx.addIssue({
        code: "custom",
        message: n === 0 ? "a rule needs `allow:` or `deny:`" : "a rule has either `allow:` or `deny:`, not both",
        params: { cf: "allow-deny", both: n === 2 },
      });
    }
  })
  .meta({ description: "One ordered, named rule: the first matching rule decides." });

export const PolicyDocV1 = z
  .strictObject({
    version: z.literal(1).meta({ description: "Format version; must be 1." }),
    name: z.string().regex(POLICY_NAME_RE).meta({ description: "Policy name: [a-z0-9][a-z0-9-]*, at most 63 characters.", examples: ["coding-agent"] }),
    description: z.string().meta({ description: "What the policy is for." }),
    mode: z.enum(["enforce", "monitor"]).meta({ description: "enforce | monitor (default enforce). In monitor mode denies are logged as would-deny and let through." }),
    extends: z
      .union([z.string(), z.array(z.string())])
      .meta({
        description:
          'Built-in preset names (`coding-agent`) or paths relative to this file ("./base.yaml"). Extended files\' rules come after this file\'s rules at equal priority; settings written in this file win.',
        examples: [["coding-agent"], ["./base.yaml"]],
      }),
    vars: z
      .record(
        z.string().regex(VAR_NAME_RE),
        z.union([z.string(), z.number()]).meta({ description: "The value; inserted literally (not expanded again)." }),
      )
      .meta({
        description: "Variables: `${name}` is replaced in every string value (not in keys, names or enumerated fields); `$${` writes a literal `${`. An undefined name is an error.",
        examples: [{ controller: "10.0.100.0/24" }],
      }),
    workload: WorkloadV1,
    dns: DnsV1,
    internal: z
      .array(z.string().meta({ description: "An address or CIDR." }))
      .meta({ description: "Special-purpose ranges (private, CGNAT, ULA, ...) that allowed names may resolve into." }),
    phases: z
      .array(identifier("Phase name"))
      .meta({ description: "Ordered phases (e.g. [bootstrap, workload]); enforcement starts in the first and only moves forward." }),
    groups: z.record(z.string().regex(IDENT_RE), GroupV1).meta({ description: "Named destination sets, referenced as `group:NAME`." }),
    rules: z.array(RuleV1).meta({ description: "Ordered rules; the first matching rule decides." }),
    default: z.enum(["deny", "allow"]).meta({ description: "deny | allow (default deny): the verdict when no rule matches; always logged." }),
  })
  .partial({ description: true, mode: true, extends: true, vars: true, workload: true, dns: true, internal: true, phases: true, groups: true, rules: true, default: true })
  .meta({ description: "A clawfence egress policy, format version 1." });

export type PolicyDocV1 = z.infer<typeof PolicyDocV1>;
export type RuleV1 = z.infer<typeof RuleV1>;
export type GroupV1 = z.infer<typeof GroupV1>;

/** Top-level keys, for "did you mean" and for the version check. */
export const TOP_LEVEL_KEYS: readonly string[] = Object.keys(PolicyDocV1.shape);

/**
 * The JSON Schema (draft 2020-12) of the v1 format, with `$id`, `title`, and a description on
 * every property. The allow/deny exclusivity (a zod refinement, which JSON Schema export
 * skips) is added as `oneOf` on the rule object.
 */
export function policyJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(PolicyDocV1, { target: "draft-2020-12" }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  const schema: Record<string, unknown> = {
    $schema,
    $id: SCHEMA_ID,
    title: "clawfence policy v1",
    ...rest,
  };
  const rule = (((schema["properties"] as Record<string, unknown>)["rules"] as Record<string, unknown>)["items"] ?? null) as Record<string, unknown> | null;
  if (rule) rule["oneOf"] = [{ required: ["allow"] }, { required: ["deny"] }];
  return schema;
}
