/**
 * presets/regulated-data-agent — seed 003's regulated-data agent: only the approved model
 * gateway on HTTPS; the specific internal APIs and the observability endpoints are site-specific
 * and added by the extending policy (with their ranges under `internal:`). Public source,
 * model hubs, file drops and internal networks are denied by name. Pure text.
 */
import type { Preset } from "./types.ts";
import { GATEWAY_ALLOW, HEAD_DENIES, TAIL_DENIES } from "./guards.ts";

export const regulatedDataAgent: Preset = {
  name: "regulated-data-agent",
  description: "Approved model gateway on HTTPS only; add your specific internal APIs and observability; public registries, SaaS, uploads and shadow models denied",
  yaml: `# clawfence preset: regulated-data-agent (seed 003, agent class "regulated-data agent")
# Typical permits: specific internal APIs, approved model gateway, observability — add them in
# your own file, each with explicit ports, and list their address ranges under \`internal:\`.
# Typical denies: public package registries, public SaaS, external upload, shadow models.
version: 1
name: regulated-data-agent
description: Approved model gateway on HTTPS only; public registries, SaaS, uploads and shadow models denied
mode: enforce
rules:
${HEAD_DENIES}${GATEWAY_ALLOW}  - name: deny-public-code-and-packages
    description: Public source forges, model hubs and container registries
    priority: 100
    deny: [catalog:github, catalog:huggingface, catalog:docker-hub]
${TAIL_DENIES}default: deny
`,
};
