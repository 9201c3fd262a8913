/**
 * presets/locked-down — seed 003's "locked-down demo" class: the model gateway and the
 * OpenClaw/NemoClaw core on HTTPS, nothing else. Pure text.
 */
import type { Preset } from "./types.ts";
import { CORE_ALLOW, GATEWAY_ALLOW, HEAD_DENIES, TAIL_DENIES } from "./guards.ts";

export const lockedDown: Preset = {
  name: "locked-down",
  description: "Model gateway and OpenClaw/NemoClaw core on HTTPS only; everything else denied and logged",
  yaml: `# clawfence preset: locked-down (seed 003, agent class "locked-down demo")
# Typical denies: package registries, broad web, SaaS APIs.
version: 1
name: locked-down
description: Model gateway and OpenClaw/NemoClaw core on HTTPS only; everything else denied and logged
mode: enforce
rules:
${HEAD_DENIES}${GATEWAY_ALLOW}${CORE_ALLOW}${TAIL_DENIES}default: deny
`,
};
