/**
 * presets/research-agent — seed 003's research agent: the model gateway and core on HTTPS; the
 * approved search/data APIs and document stores are site-specific and added by the extending
 * policy. Source forges, model hubs and container registries are denied by name (at priority
 * 100, so the extending file can still allow one). Pure text.
 */
import type { Preset } from "./types.ts";
import { CORE_ALLOW, GATEWAY_ALLOW, HEAD_DENIES, TAIL_DENIES, SKILLS_ALLOW } from "./guards.ts";

export const researchAgent: Preset = {
  name: "research-agent",
  description: "Model gateway and core on HTTPS; add your approved search/data APIs; package registries and uploads denied",
  yaml: `# clawfence preset: research-agent (seed 003, agent class "research agent")
# Typical permits: approved search/data APIs, document stores, model gateway, telemetry —
# add the APIs and stores your agents use in your own file (rules at the default priority 100
# come before this preset's priority-100 denies).
# Typical denies: package registries unless needed, arbitrary uploads.
version: 1
name: research-agent
description: Model gateway and core on HTTPS; add your approved search/data APIs; package registries and uploads denied
mode: enforce
rules:
${HEAD_DENIES}${GATEWAY_ALLOW}${CORE_ALLOW}${SKILLS_ALLOW}  - name: deny-code-and-packages
    description: Source forges, model hubs and container registries, unless your file allows one
    priority: 100
    deny: [catalog:github, catalog:huggingface, catalog:docker-hub]
${TAIL_DENIES}default: deny
`,
};
