/**
 * catalogs/nvidia-model-gateways — the sanctioned model endpoints of seed 003's default
 * `wg-approved-model-gateways` (NVIDIA). Pure data.
 */
import type { Catalog } from "./types.ts";

const SEED_003 = "Aviatrix VCA for OpenClaw/NemoClaw, Appendix 'Approved model gateways' (seed 003)";

export const nvidiaModelGateways: Catalog = {
  name: "nvidia-model-gateways",
  version: "2026-11-21",
  description: "NVIDIA inference endpoints sanctioned by default (seed 003); prefer an enterprise model gateway",
  entries: [
    {
      dest: "integrate.api.nvidia.com",
      source: "https://docs.api.nvidia.com/nim/reference/",
      note: `NVIDIA API catalog (OpenAI-compatible /v1); listed in ${SEED_003}`,
    },
    {
      dest: "inference-api.nvidia.com",
      source: SEED_003,
      note: "NVIDIA inference hub (OpenAI-compatible /v1), used by NemoClaw/OpenShell onboarding",
    },
  ],
};
