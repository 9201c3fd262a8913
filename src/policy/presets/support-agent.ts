/**
 * presets/support-agent — seed 003's support agent: the model gateway and core on HTTPS; the
 * CRM, ticketing, knowledge base and MCP gateway are site-specific and added by the extending
 * policy. Source-code systems and package sources are denied by name at priority 100. Pure text.
 */
import type { Preset } from "./types.ts";
import { CORE_ALLOW, GATEWAY_ALLOW, HEAD_DENIES, TAIL_DENIES, SKILLS_ALLOW } from "./guards.ts";

export const supportAgent: Preset = {
  name: "support-agent",
  description: "Model gateway and core on HTTPS; add your CRM, ticketing, KB and MCP gateway; source code systems and package registries denied",
  yaml: `# clawfence preset: support-agent (seed 003, agent class "support agent")
# Typical permits: CRM, ticketing, approved KB, MCP gateway, model gateway — add your CRM,
# ticketing, KB and MCP gateway hosts in your own file.
# Typical denies: source-code systems and package registries unless required.
version: 1
name: support-agent
description: Model gateway and core on HTTPS; add your CRM, ticketing, KB and MCP gateway; source code systems and package registries denied
mode: enforce
rules:
${HEAD_DENIES}${GATEWAY_ALLOW}${CORE_ALLOW}${SKILLS_ALLOW}  - name: deny-source-code
    description: Source-code systems, model hubs and container registries, unless your file allows one
    priority: 100
    deny: [catalog:github, catalog:huggingface, catalog:docker-hub]
${TAIL_DENIES}default: deny
`,
};
