/**
 * policy/presets — the built-in agent-class presets, by name, as complete v1 policy YAML text.
 *
 * Map: a policy names a preset in `extends: [NAME]`; the loader (policy/load.ts) parses the
 * preset's YAML as the file `preset:NAME` and merges it like an extended file (the extending
 * file's settings win; at equal priority its rules come first). Presets reference the built-in
 * catalogs (policy/catalogs) and share their guard rules (presets/guards.ts). Classes follow
 * seed 003 (locked-down, coding, research, support, regulated-data) and seed 000
 * (attested-runtime). docs/catalogs.md describes them.
 *
 * Pure text, no I/O. Must not import the loader (the loader imports this).
 */
import type { Preset } from "./types.ts";
import { attestedRuntime } from "./attested-runtime.ts";
import { codingAgent } from "./coding-agent.ts";
import { lockedDown } from "./locked-down.ts";
import { regulatedDataAgent } from "./regulated-data-agent.ts";
import { researchAgent } from "./research-agent.ts";
import { supportAgent } from "./support-agent.ts";

export type { Preset } from "./types.ts";

const ALL: readonly Preset[] = [lockedDown, codingAgent, researchAgent, supportAgent, regulatedDataAgent, attestedRuntime];

export const PRESETS: Readonly<Record<string, Preset>> = Object.freeze(Object.fromEntries(ALL.map((p) => [p.name, p])));
