/**
 * verify/scenarios-file — the user's scenarios file (YAML, version 1): its zod schema, the
 * JSON Schema editors use, and the load step that turns it into `Scenario`s for one policy.
 *
 * Map: cli/commands/verify.ts reads `--scenarios F` and calls `loadScenariosText(text, file,
 * policy)`. The text goes through policy/parse.ts (the same YAML-with-positions parser, size
 * and alias limits as policy files), then `ScenariosDocV1`, then a semantic pass against the
 * loaded policy (destinations parse, rule names and phases exist, ids are unique, disabled
 * built-ins exist). Every problem is a Diagnostic with a code (verify/codes.ts), the
 * file:line:column and a fix; all of them are thrown together as one `PolicyError`.
 *
 * ```yaml
 * version: 1
 * builtin:
 *   disable: [doh, internal-ranges]        # built-in ids or families (clawfence verify --list)
 * scenarios:
 *   - id: model-gateway
 *     destination: integrate.api.nvidia.com:443/tcp
 *     expect: allow                        # allow | deny | would-deny
 *     rule: allow-model-gateways           # optional: the rule that must decide
 * ```
 *
 * Pure: no I/O (the caller passes the text).
 */
import { z } from "zod";
import { REASONS, type Flow } from "../match/decision.ts";
import { didYouMean, listNames } from "../policy/codes.ts";
import { PolicyError, type Diagnostic } from "../policy/errors.ts";
import type { FlowProtocol, Policy, SourcePos } from "../policy/ir.ts";
import { normalizeName } from "../policy/names.ts";
import { parseYaml, type ParsedYaml, type PathSeg } from "../policy/parse.ts";
import { pathLabel } from "../policy/wire-errors.ts";
import { IDENT_RE } from "../policy/wire.ts";
import { BUILTINS, BUILTIN_IDS } from "./builtin.ts";
import { vdiag } from "./codes.ts";
import { formatDestination, parseDestination } from "./destination.ts";
import { EXPECTS, type Probe, type Scenario } from "./scenario.ts";

export const SCENARIOS_SCHEMA_ID = "https://clawfence.dev/schema/verify-scenarios-v1.json";

export const ScenarioV1 = z
  .strictObject({
    id: z.string().regex(IDENT_RE).meta({ description: "Unique name of the scenario: letters, digits, '_', '.', '-'; at most 63 characters.", examples: ["model-gateway"] }),
    description: z.string().optional().meta({ description: "What the scenario shows, for the report." }),
    destination: z.string().min(1).meta({
      description: "host[:port][/tcp|udp|icmp], an IPv4/IPv6 address (any notation a client accepts), or [IPv6]:port. Without a port, 443; without a protocol, tcp.",
      examples: ["integrate.api.nvidia.com:443/tcp", "8.8.8.8:53/udp", "[2001:db8::1]:443", "169.254.169.254"],
    }),
    protocol: z.enum(["tcp", "udp", "icmp"]).optional().meta({ description: "The protocol, when the destination does not say it." }),
    port: z.int().min(1).max(65535).optional().meta({ description: "The port 1..65535, when the destination does not say it." }),
    phase: z.string().regex(IDENT_RE).optional().meta({ description: "Decide in this phase of the policy (default: --phase, else the policy's first phase)." }),
    expect: z.enum(EXPECTS).meta({ description: "allow, deny (an enforced deny), or would-deny (a deny downgraded by monitor mode)." }),
    rule: z.string().regex(IDENT_RE).optional().meta({ description: "The rule that must decide (`default` when no rule should match)." }),
    reason: z.enum(REASONS).optional().meta({ description: "The reason code the decision must carry." }),
    names: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .meta({ description: "For an IP destination: the names it is known by (as if a DNS answer for these names contained it), e.g. to test DNS rebinding." }),
  })
  .meta({ description: "One expectation: a destination and the decision it must get." });

export const ScenariosDocV1 = z
  .strictObject({
    version: z.literal(1).meta({ description: "Format version; must be 1." }),
    scenarios: z.array(ScenarioV1).optional().meta({ description: "Your expectations, judged against the policy as loaded." }),
    builtin: z
      .strictObject({
        disable: z
          .array(z.string())
          .optional()
          .meta({ description: "Built-in scenario ids or families to switch off (see `clawfence verify --list`).", examples: [["doh", "allowed-destinations:allow-core"]] }),
      })
      .optional()
      .meta({ description: "Settings of the built-in scenarios." }),
  })
  .meta({ description: "clawfence verify scenarios file" });

export type ScenariosDocV1 = z.infer<typeof ScenariosDocV1>;

/** The JSON Schema (draft 2020-12) of the scenarios file (`clawfence verify --schema`). */
export function scenariosJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(ScenariosDocV1, { target: "draft-2020-12" }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return { $schema, $id: SCENARIOS_SCHEMA_ID, title: "clawfence verify scenarios v1", ...rest };
}

export interface LoadedScenarios {
  readonly file: string;
  readonly scenarios: readonly Scenario[];
  /** built-in ids/families switched off, with the reason to show (where it was written) */
  readonly disable: ReadonlyMap<string, string>;
}

export interface ScenarioLoadOptions {
  /** phase for scenarios that do not name one (`--phase`) */
  readonly phase?: string;
}

/** YAML problems keep their CF1xxx codes; messages about "the policy" are about this file here. */
function fromParse(ds: readonly Diagnostic[]): Diagnostic[] {
  return ds.map((d) => {
    switch (d.code) {
      case "CF1007":
        return { ...d, message: "the scenarios file is empty", fix: "start with `version: 1` and a `scenarios:` list" };
      case "CF1004":
        return { ...d, message: "the scenarios file must be a mapping (`key: value` lines) at the top level", fix: "start with `version: 1` on its own line, then `scenarios:`" };
      case "CF1006":
        return { ...d, message: d.message.replace("the policy", "the scenarios file"), fix: "split the scenarios into several files and run verify once per file" };
      case "CF1003":
        return { ...d, fix: "keep one scenarios document per file" };
      default:
        return d;
    }
  });
}

function valueAt(value: unknown, path: readonly PathSeg[]): unknown {
  let v = value;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

const SCENARIO_KEYS = Object.keys(ScenarioV1.shape);
const TOP_KEYS = Object.keys(ScenariosDocV1.shape);

function invalidValue(issue: Extract<z.core.$ZodIssue, { code: "invalid_value" }>, path: readonly PathSeg[], label: string, value: unknown, doc: ParsedYaml, out: Diagnostic[]): void {
  const allowed = issue.values.map(String);
  if (path.length === 1 && path[0] === "version") {
    out.push(vdiag("CF7001", `unsupported scenarios file version ${JSON.stringify(value)}; this clawfence reads version 1`, "write `version: 1`", doc.posAt(path)));
    return;
  }
  const guess = typeof value === "string" ? didYouMean(value, allowed) : null;
  out.push(vdiag("CF7005", `${label} is ${JSON.stringify(value)}; it must be one of ${allowed.join(" | ")}`, guess ? `write \`${guess}\`` : `write one of ${listNames(allowed)}`, doc.posAt(path)));
}

function schemaDiagnostics(issues: readonly z.core.$ZodIssue[], doc: ParsedYaml): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    const path = issue.path as PathSeg[];
    const label = pathLabel(path) === "the policy" ? "the file" : pathLabel(path);
    const value = valueAt(doc.value, path);
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = path.length === 0 ? TOP_KEYS : path[0] === "builtin" ? ["disable"] : SCENARIO_KEYS;
        for (const key of issue.keys) {
          const guess = didYouMean(key, known);
          out.push(
            vdiag("CF7002", `unknown key \`${key}\` in ${label}`, guess ? `did you mean \`${guess}\`? Known keys here: ${listNames(known)}` : `remove it; known keys here: ${listNames(known)}`, doc.posAt([...path, key], { key: true }), {
              key,
            }),
          );
        }
        break;
      }
      case "invalid_type":
      case "invalid_value":
        if (value === undefined) {
          const parent = path.slice(0, -1);
          out.push(vdiag("CF7003", `\`${String(path[path.length - 1])}\` is required in ${pathLabel(parent) === "the policy" ? "the file" : pathLabel(parent)}`, requiredFix(path), doc.posAt(parent)));
        } else if (issue.code === "invalid_type") {
          out.push(vdiag("CF7004", `${label} must be ${issue.expected === "array" ? "a list" : issue.expected === "object" ? "a mapping" : issue.expected}`, requiredFix(path), doc.posAt(path)));
        } else {
          invalidValue(issue, path, label, value, doc, out);
        }
        break;
      case "invalid_format":
        out.push(vdiag("CF7006", `${label} is ${JSON.stringify(value)}, which has the wrong form`, requiredFix(path), doc.posAt(path)));
        break;
      case "too_small":
      case "too_big":
        out.push(vdiag("CF7007", `${label}: ${issue.message}`, requiredFix(path), doc.posAt(path)));
        break;
      case "custom":
      case "invalid_element":
      case "invalid_key":
      case "invalid_union":
      case "not_multiple_of":
        out.push(vdiag("CF7099", `${label}: ${issue.message}`, requiredFix(path), doc.posAt(path)));
        break;
      default: {
        const never: never = issue;
        out.push(vdiag("CF7099", `${label}: ${String((never as { message?: string }).message)}`, requiredFix(path), doc.posAt(path)));
      }
    }
  }
  return out;
}

function requiredFix(path: readonly PathSeg[]): string {
  const key = [...path].reverse().find((s): s is string => typeof s === "string") ?? "";
  switch (key) {
    case "version":
      return "write `version: 1` as the first line";
    case "id":
      return "give each scenario an `id:` of letters, digits, '_', '.', '-', e.g. `id: model-gateway`";
    case "destination":
      return "write `destination: host[:port][/tcp|udp|icmp]`, e.g. `destination: api.example.com:443/tcp`";
    case "expect":
      return "write `expect: allow`, `expect: deny` or `expect: would-deny`";
    case "port":
      return "write a port number 1..65535, e.g. `port: 443`";
    case "names":
      return "list the names the address is known by, e.g. `names: [api.example.com]`";
    case "scenarios":
      return "write `scenarios:` followed by `- id: ...` items";
    case "builtin":
    case "disable":
      return "write `builtin: { disable: [doh] }` with ids from `clawfence verify --list`";
    default:
      return "see `clawfence verify --schema` for the form of a scenarios file";
  }
}

/** Parse, check and resolve a scenarios file against `policy`. Throws PolicyError with every problem found. */
export function loadScenariosText(text: string, file: string, policy: Policy, opts: ScenarioLoadOptions = {}): LoadedScenarios {
  const parsed = parseYaml(text, file);
  if (!parsed.ok) throw new PolicyError(fromParse(parsed.diagnostics));
  const doc = parsed.doc;
  if (valueAt(doc.value, ["version"]) === undefined) {
    throw new PolicyError([vdiag("CF7001", "`version` is missing", "add `version: 1` as the first line", doc.posAt([]))]);
  }
  const r = ScenariosDocV1.safeParse(doc.value);
  if (!r.success) throw new PolicyError(schemaDiagnostics(r.error.issues, doc));
  const wire = r.data;
  const diagnostics: Diagnostic[] = [];
  const scenarios: Scenario[] = [];
  const seen = new Map<string, SourcePos>();
  const ruleNames = policy.rules.map((x) => x.name);

  (wire.scenarios ?? []).forEach((s, i) => {
    const at = (key?: string): SourcePos => doc.posAt(key === undefined ? ["scenarios", i] : ["scenarios", i, key]);
    const before = diagnostics.length;
    const prev = seen.get(s.id);
    if (prev) diagnostics.push(vdiag("CF7014", `scenario id \`${s.id}\` is used twice (first at line ${prev.line})`, "give every scenario its own id", at("id"), { id: s.id }));
    else seen.set(s.id, at("id"));
    if (BUILTINS.some((b) => b.id === s.id)) {
      diagnostics.push(vdiag("CF7016", `scenario id \`${s.id}\` is the id of a built-in scenario`, `rename it (e.g. \`my-${s.id}\`); to switch the built-in off, list it under builtin.disable`, at("id")));
    }
    const d = parseDestination(s.destination);
    if (!d.ok) {
      diagnostics.push(vdiag("CF7010", `destination '${s.destination}': ${d.message}`, d.fix, at("destination")));
      return;
    }
    const parts = d.value;
    if (s.protocol !== undefined && parts.protocol !== undefined && s.protocol !== parts.protocol) {
      diagnostics.push(vdiag("CF7011", `protocol: ${s.protocol} contradicts the destination's /${parts.protocol}`, "say the protocol once, in the destination or in `protocol:`", at("protocol")));
    }
    if (s.port !== undefined && parts.port !== undefined && s.port !== parts.port) {
      diagnostics.push(vdiag("CF7011", `port: ${s.port} contradicts the destination's port ${parts.port}`, "say the port once, in the destination or in `port:`", at("port")));
    }
    const protocol: FlowProtocol = s.protocol ?? parts.protocol ?? "tcp";
    const explicitPort = s.port ?? parts.port;
    if (protocol === "icmp" && explicitPort !== undefined) {
      diagnostics.push(vdiag("CF7018", "ICMP has no ports", "drop the port, or use tcp or udp", at(s.port !== undefined ? "port" : "destination")));
    }
    const port = protocol === "icmp" ? undefined : (explicitPort ?? 443);
    const names: string[] = [];
    if (s.names !== undefined) {
      if (parts.ip === undefined) {
        diagnostics.push(vdiag("CF7017", "`names:` is for an IP destination (the names a DNS answer gave it); this destination is already a name", "drop `names:`, or write the address as the destination", at("names")));
      }
      s.names.forEach((n, j) => {
        const nn = normalizeName(n);
        if (nn.ok) names.push(nn.value);
        else diagnostics.push(vdiag("CF7017", `names[${j}]: ${nn.problem.message}`, nn.problem.fix, doc.posAt(["scenarios", i, "names", j])));
      });
    }
    if (parts.name !== undefined) names.unshift(parts.name);
    const phase = s.phase ?? opts.phase;
    if (phase !== undefined && !policy.phases.includes(phase)) {
      diagnostics.push(
        vdiag(
          "CF7013",
          policy.phases.length === 0 ? `phase \`${phase}\`: the policy declares no phases` : `phase \`${phase}\` is not a phase of the policy`,
          policy.phases.length === 0 ? "drop `phase:`" : `use one of ${listNames(policy.phases)}`,
          at(s.phase !== undefined ? "phase" : undefined),
        ),
      );
    }
    if (s.rule !== undefined && s.rule !== "default" && !ruleNames.includes(s.rule)) {
      const guess = didYouMean(s.rule, ruleNames);
      diagnostics.push(vdiag("CF7012", `rule \`${s.rule}\` is not a rule of policy ${policy.name}`, guess ? `did you mean \`${guess}\`?` : `use one of ${listNames(ruleNames)} (or \`default\`)`, at("rule"), { rule: s.rule }));
    }
    if (diagnostics.length > before) return;

    const flow: Flow = {
      protocol,
      ...(port !== undefined ? { port } : {}),
      ...(parts.ip ? { ip: parts.ip } : {}),
      ...(names.length > 0 ? { names } : {}),
      ...(phase !== undefined ? { phase } : {}),
    };
    const shown = formatDestination({ ...(parts.ip ? { ip: parts.ip } : {}), ...(names[0] !== undefined ? { name: names.join(",") } : {}), protocol, ...(port !== undefined ? { port } : {}) });
    const probe: Probe = {
      destination: phase === undefined ? shown : `${shown} @${phase}`,
      check: { kind: "flow", flow },
      expect: s.expect,
      ...(s.rule !== undefined ? { rule: s.rule } : {}),
      ...(s.reason !== undefined ? { reasons: [s.reason] } : {}),
      variant: { kind: "policy" },
    };
    scenarios.push({
      id: s.id,
      family: s.id,
      group: "user",
      description: s.description ?? `${s.destination}: expect ${s.expect}${s.rule !== undefined ? ` by rule ${s.rule}` : ""}`,
      probes: [probe],
      exempt: [],
      pos: at(),
    });
  });

  const disable = new Map<string, string>();
  (wire.builtin?.disable ?? []).forEach((id, j) => {
    const pos = doc.posAt(["builtin", "disable", j]);
    const family = id.includes(":") ? id.slice(0, id.indexOf(":")) : id;
    if (!BUILTIN_IDS.includes(family)) {
      const guess = didYouMean(family, BUILTIN_IDS);
      diagnostics.push(vdiag("CF7015", `\`${id}\` is not a built-in scenario`, guess ? `did you mean \`${guess}\`?` : `use ids from \`clawfence verify --list\`: ${listNames(BUILTIN_IDS)}`, pos, { id }));
      return;
    }
    if (family !== id) {
      // only allowed-destinations has one instance per rule
      const allowRules = policy.rules.filter((x) => x.action === "allow").map((x) => x.name);
      const detail = id.slice(family.length + 1);
      if (family !== "allowed-destinations" || !allowRules.includes(detail)) {
        const fix = family === "allowed-destinations" ? `use \`allowed-destinations:RULE\` with an allow rule: ${listNames(allowRules)}` : `write \`${family}\` to switch the whole scenario off`;
        diagnostics.push(vdiag("CF7015", `\`${id}\` is not a built-in scenario of this policy`, fix, pos, { id }));
        return;
      }
    }
    disable.set(id, `disabled in ${file}:${pos.line}:${pos.column}`);
  });

  if (diagnostics.length > 0) throw new PolicyError(diagnostics);
  return { file, scenarios, disable };
}
