/**
 * presets/guards — the rules every built-in preset shares, as YAML text, in seed 003's order:
 * shadow-model deny first (10), then the DNS-exfiltration denies (20/21: public DoH/DoT
 * resolvers on every port, any other resolver on 53 and 853), then cloud metadata (25) — all
 * ahead of any allow — and, last, the file-drop and east-west denies at priority 100, where a
 * rule written at the default priority in the extending file still comes first (own file
 * before extended files at equal priority).
 *
 * Pure text; the presets splice these blocks into their `rules:` list (two-space list indent).
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
