/**
 * test/integration/world/policies — policies the `clawfence run` integration tests share.
 * Names and addresses are the world's (world.ts): 198.51.100.0/24 is listed under `internal`
 * so that names may resolve into the documentation range the world uses.
 */

/** enforce-mode escape suite and its monitor-mode twin */
export const ESCAPE_POLICY = `version: 1
name: escape
internal: [198.51.100.0/24]
dns: { upstreams: [198.51.100.2], min_ttl: 60 }
rules:
  - name: web
    allow: [allowed.test, "*.tunnel.test", "*.rebind.test"]
    ports: [80, 443]
    protocol: tcp
default: deny
`;
