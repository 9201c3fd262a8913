/**
 * catalogs/openclaw-skills — where OpenClaw agents install skills and plugins from (seed 003
 * lists the hub with the core services). Kept apart from `openclaw-core` because a malicious
 * skill is one of the threats clawfence exists for: the `locked-down` preset does not allow it,
 * the agent-class presets that install skills do. Pure data.
 */
import type { Catalog } from "./types.ts";

const SEED_003 = "Aviatrix VCA for OpenClaw/NemoClaw, Appendix 'Default terminal workflow destinations' (seed 003)";

export const openclawSkills: Catalog = {
  name: "openclaw-skills",
  version: "2026-11-21",
  description: "OpenClaw skill and plugin hub",
  entries: [{ dest: "clawhub.ai", source: SEED_003, note: "skill registry and plugin catalog feed; OpenClaw fetches it at gateway start-up" }],
};
