/**
 * compile/aviatrix — Aviatrix Distributed Cloud Firewall (DCF) as Terraform JSON (.tf.json),
 * the shape of seed 003: SmartGroups, WebGroups, one ordered policy list, a default action.
 *
 * Argument names are the provider's (AviatrixSystems/terraform-provider-aviatrix):
 *   docs/resources/aviatrix_smart_group.md  (name, selector.match_expressions: cidr | type+tags)
 *   docs/resources/aviatrix_web_group.md    (name, selector.match_expressions: snifilter)
 *   docs/resources/aviatrix_distributed_firewalling_policy_list.md  (policies: name, action
 *     PERMIT|DENY, priority, protocol TCP|UDP|ICMP|ANY, src_smart_groups, dst_smart_groups,
 *     web_groups, port_ranges {lo, hi}, logging, watch)
 *   docs/resources/aviatrix_distributed_firewalling_default_action_rule.md  (action, logging)
 *
 * Map: shared plan (common/slots.ts) -> one DCF policy per (rule, protocol, kind):
 *  - source: a SmartGroup of the workload's CSP tags (`workload.aviatrix.tags`), or a
 *    variable holding an existing SmartGroup's UUID;
 *  - addresses: a CIDR SmartGroup per rule; `any` is a SmartGroup of every address minus the
 *    special-purpose ranges not under `internal` (SmartGroups have no `except`, so the
 *    complement is listed as CIDRs);
 *  - names: a WebGroup per rule (`snifilter`, wildcards as `*.x`), matched on TLS SNI / HTTP
 *    Host, so only for TCP; the destination is the `any` SmartGroup (names never reach
 *    special-purpose addresses);
 *  - order: priorities 10, 20, ... in decision order (DCF evaluates lower first); a final
 *    "default" policy scoped to the workload, and the controller's default action rule;
 *  - monitor: `watch = true` on a would-deny (the provider's enforce-or-watch setting);
 *  - every policy has `logging = true` and a name that starts with the rule name, so a
 *    CoPilot FlowIQ line points back to the rule.
 * Refused: a name deny on UDP/ICMP that a later rule could contradict (no SNI there).
 *
 * Pure: IR -> text. Imports no I/O.
 */
import type { Policy } from "../../policy/ir.ts";
import type { RulePlan } from "../common/plan.ts";
import { UnsupportedFeature, type Backend, type CompileOptions, type CompileOutput } from "../backend.ts";
import { fromCidrs, isEmpty, overlaps, toCidrs } from "../common/addrset.ts";
import { defaultPasses, isMonitorDeny, neverAnswered, passes, scopeOf, slotText, walkSlots, type Scope } from "../common/slots.ts";

const TARGET = "aviatrix" as const;
/** the controller's built-in "Anywhere" SmartGroup (overridable variable) */
const ANYWHERE_UUID = "def000ad-0000-0000-0000-000000000000";

export const backend: Backend = {
  name: TARGET,
  description: "Aviatrix DCF Terraform (.tf.json): SmartGroups, WebGroups, ordered policy list, default action",
  compile,
};

type DcfProtocol = "TCP" | "UDP" | "ICMP" | "ANY";

export interface DcfPolicy {
  "//"?: string;
  name: string;
  action: "PERMIT" | "DENY";
  priority: number;
  protocol: DcfProtocol;
  src_smart_groups: string[];
  dst_smart_groups: string[];
  web_groups?: string[];
  port_ranges?: Array<{ lo: number; hi?: number }>;
  logging: boolean;
  watch: boolean;
}

interface Group {
  readonly name: string;
  readonly selector: { match_expressions: Array<Record<string, unknown>> };
}

/** Terraform resource labels: letters, digits, `_`, `-`, starting with a letter or `_`. */
function label(prefix: string, rp: RulePlan): string {
  return `${prefix}_${rp.rule.order}_${rp.rule.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function ref(type: string, lbl: string): string {
  return `\${${type}.${lbl}.uuid}`;
}

function protocolsOf(rp: RulePlan): DcfProtocol[] {
  const { protocol, ports } = rp.rule;
  switch (protocol) {
    case "tcp":
      return ["TCP"];
    case "udp":
      return ["UDP"];
    case "icmp":
      return ["ICMP"];
    case "any":
      return ports === null ? ["ANY"] : ["TCP", "UDP"];
    default: {
      const never: never = protocol;
      throw new Error(`unhandled protocol ${String(never)}`);
    }
  }
}

function compile(policy: Policy, opts: CompileOptions): CompileOutput {
  const scope = scopeOf(TARGET, policy, opts);
  refuseNameDenyOutsideTcp(scope);
  const base = opts.tableName ?? policy.name;
  const notes = [...scope.notes];
  const smartGroups: Record<string, Group> = {};
  const webGroups: Record<string, Group> = {};
  const variables: Record<string, unknown> = {
    anywhere_smart_group_uuid: { type: "string", default: ANYWHERE_UUID, description: "UUID of the controller's built-in Anywhere SmartGroup (destination of the final default policy)" },
  };

  const tags = policy.workload.aviatrix?.tags;
  let src: string;
  if (tags && Object.keys(tags).length) {
    smartGroups["cf_workload"] = { name: `${base}-workload`, selector: { match_expressions: [{ type: "vm", tags: { ...tags } }] } };
    src = ref("aviatrix_smart_group", "cf_workload");
  } else {
    variables["workload_smart_group_uuid"] = { type: "string", description: `UUID of the SmartGroup of the workloads policy '${policy.name}' applies to` };
    src = "${var.workload_smart_group_uuid}";
    notes.push("aviatrix: workload.aviatrix.tags is not set: pass the source SmartGroup as var.workload_smart_group_uuid");
  }

  let publicRef: string | null = null;
  const publicGroup = (): string => {
    if (publicRef === null) {
      const cidrs = toCidrs(scope.pub);
      smartGroups["cf_any"] = { name: `${base}-any`, selector: { match_expressions: cidrs.map((c) => ({ cidr: c.text })) } };
      publicRef = ref("aviatrix_smart_group", "cf_any");
    }
    return publicRef;
  };

  const policies: DcfPolicy[] = [];
  for (const rp of scope.active) {
    const r = rp.rule;
    const monitor = isMonitorDeny(r);
    const action = r.action === "allow" ? "PERMIT" : "DENY";
    const portRanges = r.ports?.map((p) => (p.from === p.to ? { lo: p.from } : { lo: p.from, hi: p.to }));
    const dst: string[] = [];
    const cidrs = [...rp.v4, ...rp.v6];
    if (cidrs.length) {
      const lbl = label("cf", rp);
      smartGroups[lbl] = { name: `${base}-${r.name}`, selector: { match_expressions: toCidrs(fromCidrs(cidrs)).map((c) => ({ cidr: c.text })) } };
      dst.push(ref("aviatrix_smart_group", lbl));
    }
    if (rp.any) dst.push(publicGroup());
    let web: string | null = null;
    if (rp.dynamicNames.length) {
      const lbl = label("cf", rp);
      webGroups[lbl] = { name: `${base}-${r.name}`, selector: { match_expressions: rp.dynamicNames.map((n) => ({ snifilter: n })) } };
      web = ref("aviatrix_web_group", lbl);
    }
    const parts: Array<{ protocol: DcfProtocol; names: boolean }> = [];
    for (const protocol of protocolsOf(rp)) {
      if (dst.length) parts.push({ protocol, names: false });
      if (web !== null && (protocol === "TCP" || protocol === "ANY")) parts.push({ protocol: "TCP", names: true });
    }
    if (web !== null && !protocolsOf(rp).some((p) => p === "TCP" || p === "ANY")) {
      notes.push(`aviatrix: rule '${r.name}': WebGroups match TLS SNI / HTTP Host (TCP only): its names are not written for ${r.protocol}`);
    } else if (web !== null && r.protocol === "any") {
      notes.push(`aviatrix: rule '${r.name}': its names are matched for TCP only (WebGroups read TLS SNI / HTTP Host); UDP${r.ports === null ? " and ICMP" : ""} ${passes(r) ? "to them is not allowed by this rule" : "is decided by the later rules by address, as clawfence decides it (see docs/targets.md)"}`);
    }
    if (parts.length === 0) notes.push(`aviatrix: rule '${r.name}': nothing to write (no addresses or names in this phase)`);
    parts.forEach((part, i) => {
      const suffix = parts.length === 1 ? "" : `-${part.protocol.toLowerCase()}${part.names ? "-sni" : ""}`;
      const withPorts = part.protocol !== "ICMP" && part.protocol !== "ANY" && portRanges !== undefined;
      policies.push({
        "//": `rule ${r.name} (${r.action}${monitor ? ", monitor: watch only" : ""}) ${r.pos.file}:${r.pos.line}${r.description ? ` - ${r.description}` : ""}`,
        name: `${r.name}${suffix}`,
        action,
        priority: (r.order + 1) * 10 + i,
        protocol: part.protocol,
        src_smart_groups: [src],
        dst_smart_groups: part.names ? [publicGroup()] : dst,
        ...(part.names && web !== null ? { web_groups: [web] } : {}),
        ...(withPorts ? { port_ranges: portRanges } : {}),
        logging: true,
        watch: monitor,
      });
    });
  }
  const monitorDefault = policy.default === "deny" && policy.mode === "monitor";
  policies.push({
    "//": `default (${policy.default}${monitorDefault ? ", monitor: watch only" : ""}): everything the rules above do not decide, for this workload`,
    name: "default",
    action: policy.default === "allow" ? "PERMIT" : "DENY",
    priority: (policy.rules.length + 1) * 10,
    protocol: "ANY",
    src_smart_groups: [src],
    dst_smart_groups: ["${var.anywhere_smart_group_uuid}"],
    logging: true,
    watch: monitorDefault,
  });

  const doc = {
    "//": [
      `clawfence policy '${policy.name}' (${policy.hash.slice(0, 12)}) compiled for Aviatrix DCF${scope.phase !== null ? `, phase ${scope.phase}` : ""}.`,
      "Needs terraform-provider-aviatrix 3.2.2+ (web_groups: 3.1.0+, default action rule: 3.2.2+). Run terraform fmt/validate/plan, and apply in monitor mode first.",
    ].join(" "),
    variable: variables,
    resource: {
      aviatrix_smart_group: smartGroups,
      ...(Object.keys(webGroups).length ? { aviatrix_web_group: webGroups } : {}),
      aviatrix_distributed_firewalling_policy_list: { cf: { policies } },
      aviatrix_distributed_firewalling_default_action_rule: {
        cf: { action: defaultPasses(policy) ? "PERMIT" : "DENY", logging: true },
      },
    },
  };
  notes.push(
    "aviatrix: aviatrix_distributed_firewalling_policy_list manages the controller's whole DCF policy list, and the default action rule is controller-wide: merge with other blueprints' policies before applying",
    "aviatrix: names are matched on TLS SNI / HTTP Host by the spoke gateway, not through DNS; wildcard semantics (`*.x` and the apex) follow the controller",
  );
  if (monitorDefault) notes.push("aviatrix: monitor mode: the final 'default' policy watches (watch = true) and the default action is PERMIT, so unmatched traffic passes and is logged");
  for (const r of policy.rules) if (!scope.active.some((a) => a.rule === r)) notes.push(`rule '${r.name}': not active in phase ${scope.phase ?? "-"}: left out`);
  return { text: `${JSON.stringify(doc, null, 2)}\n`, notes };
}

/**
 * WebGroups see TLS SNI / HTTP Host, so a name deny covers TCP only. Its UDP/ICMP part may
 * be left out only when nothing after it lets such traffic to a public address pass.
 */
function refuseNameDenyOutsideTcp(scope: Scope): void {
  for (const w of walkSlots(scope)) {
    if (w.slot.proto === "tcp") continue;
    w.steps.forEach((step, i) => {
      const dn = step.rp;
      if (passes(dn.rule) || dn.dynamicNames.length === 0 || neverAnswered(scope, dn)) return;
      const later = w.steps.slice(i + 1).find((s) => passes(s.rp.rule) && (overlaps(s.take, scope.pub) || s.rp.dynamicNames.length > 0));
      const dflt = defaultPasses(scope.policy) && !isEmpty(w.rest);
      if (later || dflt) {
        throw new UnsupportedFeature(
          TARGET,
          dn.rule.name,
          `WebGroups match names on TCP only (TLS SNI / HTTP Host), and ${later ? `the later rule '${later.rp.rule.name}'` : "the default"} lets ${slotText(w.slot)} to public addresses pass`,
          "set `protocol: tcp` on the name deny and deny UDP/ICMP by address, or narrow the later allow",
        );
      }
    });
  }
}
