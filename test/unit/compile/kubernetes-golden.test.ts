/**
 * Golden files for the kubernetes backend: every conformance case and every built-in preset,
 * compiled and compared byte for byte with test/golden/kubernetes/<case>.yaml (the output) and
 * <case>.notes.txt (notes, or the UnsupportedFeature with its rule and fix). Presets are
 * compiled with fixed vars and, where names must be pinned (pf), a fixed --resolve map.
 * Regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../../../src/compile/kubernetes/index.ts";
import { UnsupportedFeature, type CompileOptions } from "../../../src/compile/backend.ts";
import { CASES } from "../../../src/compile/conformance.ts";
import { PRESETS } from "../../../src/policy/presets/index.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import type { Policy } from "../../../src/policy/ir.ts";

const EXT = "yaml";
const DIR = join(import.meta.dirname, "../../golden/kubernetes");
/** pf and NetworkPolicy have no names: presets are compiled with every name pinned */
const NEEDS_PINS = true;
const update = process.env["UPDATE_GOLDEN"] === "1";

/** fixed machine facts for the presets (documentation names and addresses) */
export const PRESET_VARS: Readonly<Record<string, string>> = {
  npm_registry: "registry.npm.example",
  debian_mirror: "deb.debian.example",
  aws_region: "us-east-1",
  attestation_service: "attest.example.com",
  internal_registry: "registry.internal.example",
  ntp_server: "192.0.2.123",
};

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

function check(file: string, got: string): void {
  if (update) {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(file, got);
  }
  assert.ok(existsSync(file), `missing golden ${file}: run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(got, readFileSync(file, "utf8"));
}

function golden(name: string, policy: Policy, opts: CompileOptions): void {
  let text = "";
  let notes: string;
  try {
    const out = backend.compile(policy, opts);
    text = out.text;
    notes = out.notes.map((n) => `${n}\n`).join("");
  } catch (e) {
    if (!(e instanceof UnsupportedFeature)) throw e;
    notes = `UnsupportedFeature ${e.code}: ${e.message}\nrule: ${e.rule}\nfix: ${e.fix}\n`;
  }
  if (text) check(join(DIR, `${name}.${EXT}`), text);
  else assert.ok(!existsSync(join(DIR, `${name}.${EXT}`)) || update, `${name}: the golden has output but the compile was refused`);
  check(join(DIR, `${name}.notes.txt`), notes);
}

/** every name a preset uses, pinned to an address in the IANA-held example.com blocks (public, so not skipped as special-purpose) */
function pins(p: Policy): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let i = 1;
  for (const r of p.rules) for (const d of r.dests) if (d.kind === "domain" && !m.has(d.name)) m.set(d.name, [`93.184.216.${i++ % 250}`, `2606:2800:21f::${i.toString(16)}`]);
  return m;
}

void describe("golden kubernetes: conformance cases", () => {
  for (const c of CASES) void it(c.name, () => golden(slug(c.name), c.policy, c.opts ?? {}));
});

void describe("golden kubernetes: presets", () => {
  for (const [name, preset] of Object.entries(PRESETS)) {
    void it(`preset ${name}`, () => {
      const policy = loadPolicyText(preset.yaml, `preset:${name}`, () => {
        throw new Error("presets read no files");
      }, { vars: PRESET_VARS });
      golden(`preset-${name}`, policy, NEEDS_PINS ? { resolved: pins(policy) } : {});
      for (const phase of policy.phases.slice(1)) golden(`preset-${name}-${phase}`, policy, NEEDS_PINS ? { resolved: pins(policy), phase } : { phase });
    });
  }
});
