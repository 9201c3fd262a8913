/**
 * presets/attested-runtime — seed 000's bootstrap allowlist for an attested runtime
 * (SGX/TDX/TPM): in phase `bootstrap` the attestation service, Intel PCS and the Azure PCS
 * cache, CRL/OCSP, NTP over UDP 123 and the internal software registry; in phase `workload`
 * nothing but what the extending policy adds with `phase: workload`. Pure text.
 *
 * Variables have seed 000's illustrative names as defaults so the preset loads as is; set
 * your own under `vars:` (own values win). The defaults are reserved example names: they never
 * resolve, so an unset variable fails closed.
 */
import type { Preset } from "./types.ts";
import { HEAD_DENIES, TAIL_DENIES } from "./guards.ts";

export const attestedRuntime: Preset = {
  name: "attested-runtime",
  description: "Seed 000's attested-runtime bootstrap: attestation, PCS, CRL/OCSP, NTP and internal registry in phase bootstrap only; workload rules are yours",
  yaml: `# clawfence preset: attested-runtime (seed 000)
# The runtime's own needs (attestation before secrets are released) are separate from the
# workload's: they are allowed in phase \`bootstrap\` only. Add workload rules with
# \`phase: workload\`, and set the variables below to your endpoints.
version: 1
name: attested-runtime
description: Attested runtime bootstrap (attestation, PCS, CRL/OCSP, NTP, internal registry); workload rules are yours
mode: enforce
phases: [bootstrap, workload]
vars:
  attestation_service: api.trusted-attestation.service.example.com
  ntp_server: time.example.internal
  internal_registry: internal-package-registry.corp.example.com
rules:
${HEAD_DENIES}  - name: bootstrap-attestation
    description: "Submit attestation evidence, retrieve the attestation token (seed 000: required always)"
    priority: 30
    phase: bootstrap
    allow: ["\${attestation_service}"]
    ports: [443]
    protocol: tcp
  - name: bootstrap-pcs
    description: Intel PCS and the Azure PCS cache for SGX/TDX DCAP collateral (PCK certificates, TCB info, CRLs)
    priority: 31
    phase: bootstrap
    allow: [catalog:intel-sgx-dcap]
    ports: [443]
    protocol: tcp
  - name: bootstrap-pcs-cache-http
    description: "Seed 000 lists the Azure PCS cache on TCP/HTTP 80 (SGX DCAP on Azure); the collateral is signed, so plain HTTP does not weaken it"
    priority: 32
    phase: bootstrap
    allow: [global.acccache.azure.com]
    ports: [80]
    protocol: tcp
  - name: bootstrap-revocation
    description: "CRL and OCSP for the attestation certificate chain; plain HTTP 80 by design (RFC 5280, RFC 6960; seed 000 lists crl.microsoft.com:80), HTTPS 443 where offered"
    priority: 33
    phase: bootstrap
    allow: [catalog:crl-ocsp]
    ports: [80, 443]
    protocol: tcp
  - name: bootstrap-time
    description: "NTP time synchronization for certificate validity and quote freshness (seed 000: UDP/NTP, required always)"
    priority: 34
    phase: bootstrap
    allow: ["\${ntp_server}"]
    ports: [123]
    protocol: udp
  - name: bootstrap-runtime-updates
    description: "Attested runtime component updates from the internal software registry (seed 000: periodically, governed by policy)"
    priority: 35
    phase: bootstrap
    allow: ["\${internal_registry}"]
    ports: [443]
    protocol: tcp
${TAIL_DENIES}default: deny
`,
};
