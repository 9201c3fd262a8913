/**
 * Golden files for the Linux backends: every conformance case (and the presets, once the
 * policy loader can read them) compiled to nftables, iptables, ip6tables and hosts, compared
 * byte for byte with test/golden/<backend>/<case>.txt. Regenerate with UPDATE_GOLDEN=1 and
 * review the diff: a golden change is a change of what users load into their kernel. Notes
 * are inline comments here (one file per case); the compare step is golden-runner.ts's.
 */
import { describe, it } from "node:test";
import { join } from "node:path";
import { BACKENDS } from "../../../src/compile/index.ts";
import { CASES } from "../../../src/compile/conformance.ts";
import { UnsupportedFeature, type TargetName } from "../../../src/compile/backend.ts";
import { checkGolden, GOLDEN_ROOT, loadPreset, pins, slug } from "./golden-runner.ts";
import { PRESETS } from "../../../src/policy/presets/index.ts";
import type { CompileOptions } from "../../../src/compile/backend.ts";
import type { Policy } from "../../../src/policy/ir.ts";

const MINE: readonly TargetName[] = ["nftables", "iptables", "ip6tables", "hosts"];

function render(target: TargetName, c: { readonly policy: Policy; readonly opts?: CompileOptions }): string {
  const backend = BACKENDS[target];
  if (!backend) throw new Error(`no backend ${target}`);
  try {
    const out = backend.compile(c.policy, c.opts ?? {});
    return out.text + (out.notes.length ? `\n# notes:\n${out.notes.map((n) => `#   ${n}\n`).join("")}` : "");
  } catch (e) {
    if (e instanceof UnsupportedFeature) return `# UnsupportedFeature ${e.code}: ${e.message}\n# rule: ${e.rule}\n# fix: ${e.fix}\n`;
    throw e;
  }
}

for (const target of MINE) {
  void describe(`golden ${target}`, () => {
    const dir = join(GOLDEN_ROOT, target);
    for (const c of CASES) void it(c.name, () => checkGolden(join(dir, `${slug(c.name)}.txt`), render(target, c)));
    // the presets: nftables keeps names dynamic (the DNS guard fills the sets); iptables,
    // ip6tables and hosts cannot follow DNS, so names are pinned as `--resolve` would
    for (const [name, preset] of Object.entries(PRESETS)) {
      void it(`preset ${name}`, () => {
        const policy = loadPreset(name, preset.yaml);
        const pinned = target === "nftables" ? {} : { resolved: pins(policy) };
        checkGolden(join(dir, `preset-${name}.txt`), render(target, { policy, opts: pinned }));
        for (const phase of policy.phases.slice(1)) checkGolden(join(dir, `preset-${name}-${phase}.txt`), render(target, { policy, opts: { ...pinned, phase } }));
      });
    }
  });
}
