/**
 * catalogs/private-networks — address ranges of adjacent internal workloads: RFC 1918, CGNAT,
 * IPv6 ULA, link-local. Presets deny them (seed 003's east-west deny) at priority 100, so a
 * rule you write at the default priority in your own file still comes first. Pure data.
 */
import type { Catalog } from "./types.ts";

const V4 = "https://www.iana.org/assignments/iana-ipv4-special-registry/";
const V6 = "https://www.iana.org/assignments/iana-ipv6-special-registry/";

export const privateNetworks: Catalog = {
  name: "private-networks",
  version: "2026-11-21",
  description: "Private, shared (CGNAT), unique-local and link-local address ranges",
  entries: [
    { dest: "10.0.0.0/8", source: V4, note: "RFC 1918" },
    { dest: "172.16.0.0/12", source: V4, note: "RFC 1918" },
    { dest: "192.168.0.0/16", source: V4, note: "RFC 1918" },
    { dest: "100.64.0.0/10", source: V4, note: "RFC 6598 shared address space (CGNAT)" },
    { dest: "169.254.0.0/16", source: V4, note: "RFC 3927 link-local" },
    { dest: "fc00::/7", source: V6, note: "RFC 4193 unique-local" },
    { dest: "fe80::/10", source: V6, note: "RFC 4291 link-local" },
  ],
};
