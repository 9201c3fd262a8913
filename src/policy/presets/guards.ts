/**
 * presets/guards — the rule blocks the built-in presets share, as YAML text. The guards follow
 * seed 003's order: shadow-model deny first (10), then the DNS-exfiltration denies (20/21:
 * public DoH/DoT resolvers on every port, any other resolver on 53 and 853), then cloud
 * metadata (25) — all ahead of any allow — and, last, the file-drop and east-west denies at
 * priority 100, where a rule written at the default priority in the extending file still comes
 * first (own file before extended files at equal priority). The two common allows (model
 * gateway at 40, OpenClaw core at 50) sit between them in the presets that grant them.
 *
 * Pure text, imports nothing; the presets splice these blocks into their `rules:` list
 * (two-space list indent), so each block is written once and every preset's YAML is unchanged.
 */

/** Priority 10-25: named denies that no allow of a preset can precede. */
export const HEAD_DENIES = `  - name: shadow-model-deny
    description: Unapproved model providers, denied ahead of every allow so a shadow-model call is logged by name (seed 003)
    priority: 10
    deny: [catalog:shadow-model-providers]
  - name: deny-doh-resolvers
    description: Public DoH/DoT resolvers on every port; a resolver reached directly would bypass the DNS guard
    priority: 20
    deny: [catalog:doh-resolvers]
  - name: deny-dns-exfil
    description: DNS (53) and DNS-over-TLS/QUIC (853) to any other resolver; names are answered only by the clawfence DNS guard
    priority: 21
    deny: [any]
    ports: [53, 853]
    protocol: any
  - name: deny-cloud-metadata
    description: Instance metadata and credential endpoints, even if a broad internal range is listed
    priority: 25
    deny: [catalog:cloud-metadata]
`;

/** Priority 100: named denies for exfiltration drops and lateral movement. */
export const TAIL_DENIES = `  - name: deny-file-drops
    description: Pastebins, file drops and request catchers where anyone can pick data up; named so attempts stand out in the flow log
    priority: 100
    deny: [catalog:paste-sites]
  - name: deny-eastwest
    description: Lateral movement to adjacent internal networks (RFC 1918, CGNAT, ULA, link-local); a rule of yours at the default priority comes first
    priority: 100
    deny: [catalog:private-networks]
`;

/** Priority 40: the sanctioned model gateways on HTTPS (every agent-class preset). */
export const GATEWAY_ALLOW = `  - name: allow-model-gateways
    description: Sanctioned NVIDIA model gateways
    priority: 40
    allow: [catalog:nvidia-model-gateways]
    ports: [443]
    protocol: tcp
`;

/** Priority 50: the OpenClaw / NemoClaw / Hermes core services on HTTPS. */
export const CORE_ALLOW = `  - name: allow-core
    description: OpenClaw / NemoClaw / Hermes core services
    priority: 50
    allow: [catalog:openclaw-core]
    ports: [443]
    protocol: tcp
`;

/** Priority 55: the skill hub on HTTPS (agent classes that install skills; not locked-down). */
export const SKILLS_ALLOW = `  - name: allow-skill-hub
    description: OpenClaw skill and plugin hub (skills are code the agent will run; leave this out to pin skills)
    priority: 55
    allow: [catalog:openclaw-skills]
    ports: [443]
    protocol: tcp
`;
