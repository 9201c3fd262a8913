/**
 * compile/common/k8s — what the kubernetes (NetworkPolicy) and cilium (CiliumNetworkPolicy)
 * backends share as Kubernetes objects: the object name, its metadata (namespace, the
 * managed-by label, the policy name/hash/phase annotations) and the notes for what
 * `workload.kubernetes` leaves unset.
 *
 * Map: Scope (common/slots.ts) + CompileOptions -> metadata object -> each backend's YAML.
 * Pure: no I/O, no clock; imports policy/ types, compile/backend.ts and common/ only, never
 * a backend folder.
 */
import type { Policy } from "../../policy/ir.ts";
import type { CompileOptions } from "../backend.ts";
import type { Scope } from "./slots.ts";

/** the object's name: --table if given, else the policy name */
export function objectName(policy: Policy, opts: CompileOptions): string {
  return opts.tableName ?? policy.name;
}

/** an object's metadata: name, namespace, labels, annotations */
export function metadataOf(scope: Scope, opts: CompileOptions, extra: Record<string, string>): Record<string, unknown> {
  const k8s = scope.policy.workload.kubernetes;
  const annotations: Record<string, string> = {
    "clawfence.dev/policy": scope.policy.name,
    "clawfence.dev/policy-hash": scope.policy.hash,
    ...(scope.phase !== null ? { "clawfence.dev/phase": scope.phase } : {}),
    ...extra,
  };
  return {
    name: objectName(scope.policy, opts),
    ...(k8s?.namespace !== undefined ? { namespace: k8s.namespace } : {}),
    labels: { "app.kubernetes.io/managed-by": "clawfence" },
    annotations,
  };
}

/** notes for what `workload.kubernetes` leaves unset (namespace, pod labels) */
export function workloadNotes(scope: Scope, target: string): string[] {
  const k8s = scope.policy.workload.kubernetes;
  const notes: string[] = [];
  if (k8s?.namespace === undefined) notes.push(`${target}: workload.kubernetes.namespace is not set: the object applies in the namespace you apply it to`);
  if (k8s?.podLabels === undefined || Object.keys(k8s.podLabels).length === 0) notes.push(`${target}: workload.kubernetes.podLabels is not set: the policy selects every pod in its namespace`);
  return notes;
}
