/**
 * catalogs/openclaw-core — OpenClaw / NemoClaw / Hermes core services (seed 003's
 * `wg-openclaw-core` WebGroup), without the skill hub: installing skills is a separate
 * decision (catalog `openclaw-skills`). Pure data.
 */
import type { Catalog } from "./types.ts";

const SEED_003 = "Aviatrix VCA for OpenClaw/NemoClaw, Appendix 'Default terminal workflow destinations' (seed 003)";

export const openclawCore: Catalog = {
  name: "openclaw-core",
  version: "2026-11-21",
  description: "OpenClaw, NemoClaw and Hermes core services, docs and terminal endpoints",
  entries: [
    { dest: "openclaw.ai", source: SEED_003 },
    { dest: "www.openclaw.ai", source: SEED_003 },
    { dest: "docs.openclaw.ai", source: SEED_003 },
    { dest: "www.nvidia.com", source: SEED_003, note: "NemoClaw pages" },
  ],
};
