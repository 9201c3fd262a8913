/**
 * presets/coding-agent — seed 003's coding agent: GitHub, package registries, Hugging Face and
 * Docker Hub on HTTPS, git over SSH to github.com, the model gateway and core. The npm and
 * Debian entries of `package-registries` come from `${npm_registry}` / `${debian_mirror}`,
 * which the CLI supplies from the machine's npm and apt configuration. Pure text.
 */
import type { Preset } from "./types.ts";
import { CORE_ALLOW, GATEWAY_ALLOW, HEAD_DENIES, TAIL_DENIES, SKILLS_ALLOW } from "./guards.ts";

export const codingAgent: Preset = {
  name: "coding-agent",
  description: "GitHub, package registries, model hubs and the model gateway on HTTPS (git over SSH to github.com); shadow models, external DNS and internal networks denied",
  yaml: `# clawfence preset: coding-agent (seed 003, agent class "coding agent")
# Typical denies: shadow models, external DNS, unapproved SaaS, production networks.
# Internal artifact stores are yours to add, e.g. a rule allowing artifacts.corp.example.com on 443
# (and its range under \`internal:\` if it resolves to private addresses).
version: 1
name: coding-agent
description: GitHub, package registries, model hubs and the model gateway on HTTPS; shadow models, external DNS and internal networks denied
mode: enforce
rules:
${HEAD_DENIES}${GATEWAY_ALLOW}${CORE_ALLOW}${SKILLS_ALLOW}  - name: allow-packages
    description: Package registries (npm and Debian from the machine's own configuration)
    priority: 60
    allow: [catalog:package-registries]
    ports: [443]
    protocol: tcp
  - name: allow-source-control
    description: GitHub web, API, archives, release assets and container registry
    priority: 61
    allow: [catalog:github]
    ports: [443]
    protocol: tcp
  - name: allow-git-ssh
    description: git over SSH to GitHub, which serves SSH on port 22 (and on 443 at ssh.github.com)
    priority: 62
    allow: [github.com]
    ports: [22]
    protocol: tcp
  - name: allow-model-hub
    description: Hugging Face Hub models and datasets
    priority: 63
    allow: [catalog:huggingface]
    ports: [443]
    protocol: tcp
  - name: allow-container-images
    description: Docker Hub image pulls
    priority: 64
    allow: [catalog:docker-hub]
    ports: [443]
    protocol: tcp
${TAIL_DENIES}default: deny
`,
};
