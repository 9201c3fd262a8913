/**
 * policy/load — a policy file (and everything it extends) to a checked, normalized `Policy`.
 *
 * Map: `loadPolicy(file, read)` reads the root through the injected `read` (policy/ does no
 * I/O; the CLI passes a node:fs reader), then, per file: parse.ts (YAML with positions) ->
 * wire-errors.ts (version gate, schema) -> follow `extends` depth-first. When every file is
 * structurally valid, normalize.ts builds the IR from all of them. All diagnostics found are
 * thrown together as one `PolicyError`; the structural round and the semantic round are
 * separate so a broken file does not cause a cascade of "unknown group" noise.
 *
 * Extends (documented for users in the schema and README):
 *  - entries are built-in preset names (`coding-agent`, parsed as file `preset:NAME`) or
 *    paths (`./base.yaml`, `../x.yml`, `/abs.yaml`, anything with '/' or a .yaml/.yml
 *    ending), relative to the extending file; a preset can only extend presets;
 *  - files are visited depth-first in the order listed; that order is the precedence order
 *    (the policy's own file first) and the rule order at equal priority;
 *  - a file reached twice through different paths (a diamond) is used once; a file reached
 *    from itself is an error naming the cycle;
 *  - at most MAX_FILES files in total.
 *
 * Pure apart from the injected `read`: node:path only computes paths (a relative root path
 * is resolved against the process working directory).
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { diag, didYouMean, listNames } from "./codes.ts";
import { PolicyError, type Diagnostic } from "./errors.ts";
import type { Policy, SourcePos } from "./ir.ts";
import { buildPolicy, type LoadInfo, type Unit } from "./normalize.ts";

export type { LoadInfo } from "./normalize.ts";
import { parseYaml } from "./parse.ts";
import { PRESETS } from "./presets/index.ts";
import { checkVersion, validateWire } from "./wire-errors.ts";

/** Most files (own + extended, presets included) one policy may be built from. */
export const MAX_FILES = 64;

export type ReadFile = (absPath: string) => string;

export interface LoadOptions {
  /** machine defaults (e.g. `npm_registry`), the lowest precedence */
  readonly vars?: Readonly<Record<string, string>>;
  /** `--var k=v` overrides, beating every file */
  readonly overrides?: Readonly<Record<string, string>>;
  /**
   * Asked for a variable nothing else defines, before it is reported undefined (lowest
   * precedence, like `vars`). For machine facts that are costly to find out (the CLI asks
   * npm for its registry only when a policy uses `${npm_registry}`). Return undefined when
   * the value cannot be determined.
   */
  readonly resolveVar?: (name: string) => string | undefined;
  /** directory a relative root path is resolved against (default: the process's) */
  readonly cwd?: string;
}

const PRESET_PREFIX = "preset:";

function isPathLike(entry: string): boolean {
  return entry.startsWith("./") || entry.startsWith("../") || entry.startsWith("/") || entry.includes("/") || /\.ya?ml$/i.test(entry);
}

/** Load and normalize the policy at `file` (its text and extended files via `read`). */
export function loadPolicy(file: string, read: ReadFile, opts: LoadOptions = {}): Policy {
  const abs = isAbsolute(file) ? file : resolve(opts.cwd ?? ".", file);
  // a failing read of the root is the caller's error to report (the CLI maps it to exit 2)
  const text = read(abs);
  return loadPolicyText(text, file, read, opts);
}

/** Like `loadPolicy`, with the root's text given; `file` names it in positions and anchors relative extends. */
export function loadPolicyText(text: string, file: string, read: ReadFile, opts: LoadOptions = {}): Policy {
  return loadPolicyTextWithInfo(text, file, read, opts).policy;
}

/** `loadPolicyText` plus what lint wants to know beyond the IR (setting positions, variable use). */
export function loadPolicyTextWithInfo(text: string, file: string, read: ReadFile, opts: LoadOptions = {}): { readonly policy: Policy; readonly info: LoadInfo } {
  const diagnostics: Diagnostic[] = [];
  const units: Unit[] = [];
  const visited = new Set<string>();

  const errorMessage = (e: unknown): { message: string; fix: string | undefined } => {
    if (e instanceof Error) {
      const fix = (e as Error & { fix?: unknown }).fix;
      return { message: e.message, fix: typeof fix === "string" ? fix : undefined };
    }
    return { message: String(e), fix: undefined };
  };

  const visit = (source: string, display: string, id: string, chain: readonly { id: string; display: string }[]): void => {
    visited.add(id);
    const parsed = parseYaml(source, display);
    if (!parsed.ok) {
      diagnostics.push(...parsed.diagnostics);
      return;
    }
    const doc = parsed.doc;
    const version = checkVersion(doc);
    diagnostics.push(...version.diagnostics);
    if (version.stop) return;
    const wire = validateWire(doc);
    if (!wire.ok) {
      diagnostics.push(...wire.diagnostics);
      return;
    }
    const unit: Unit = { id, display, doc, wire: wire.value };
    units.push(unit);

    const ext = wire.value.extends;
    const entries = ext === undefined ? [] : typeof ext === "string" ? [ext] : ext;
    const here = [...chain, { id, display }];
    entries.forEach((entry, k) => {
      const pos: SourcePos = doc.posAt(typeof ext === "string" ? ["extends"] : ["extends", k]);
      let targetId: string;
      let targetDisplay: string;
      let targetText: () => string | null;
      if (isPathLike(entry)) {
        if (id.startsWith(PRESET_PREFIX)) {
          diagnostics.push(diag("CF4013", `the preset ${display} extends the path '${entry}'`, "a preset can only extend other presets; this is a bug in the preset", pos));
          return;
        }
        targetId = resolve(dirname(id), entry);
        targetDisplay = isAbsolute(entry) ? entry : join(dirname(display), entry);
        targetText = () => {
          try {
            return read(targetId);
          } catch (e) {
            const { message, fix } = errorMessage(e);
            diagnostics.push(
              diag("CF4011", `cannot read the extended file '${entry}' (${targetId}): ${message}`, fix ?? "check the path; it is relative to the file that extends it", pos, { path: targetId }),
            );
            return null;
          }
        };
      } else {
        const preset = Object.hasOwn(PRESETS, entry) ? PRESETS[entry] : undefined;
        if (!preset) {
          const known = Object.keys(PRESETS);
          const guess = didYouMean(entry, known);
          diagnostics.push(
            diag(
              "CF4010",
              `unknown preset '${entry}'`,
              `${guess ? `did you mean \`${guess}\`? ` : ""}built-in presets: ${listNames(known)}; for a file, write a path like \`./${entry}.yaml\``,
              pos,
              { preset: entry, known },
            ),
          );
          return;
        }
        targetId = `${PRESET_PREFIX}${entry}`;
        targetDisplay = targetId;
        targetText = () => preset.yaml;
      }
      const cycleStart = here.findIndex((c) => c.id === targetId);
      if (cycleStart !== -1) {
        const cycle = [...here.slice(cycleStart).map((c) => c.display), targetDisplay].join(" -> ");
        diagnostics.push(diag("CF4012", `extends cycle: ${cycle}`, `remove '${entry}' from extends here, or the extends that leads back to this file`, pos, { cycle: cycle.split(" -> ") }));
        return;
      }
      if (visited.has(targetId)) return; // a diamond: the file is already part of the policy
      if (visited.size >= MAX_FILES) {
        diagnostics.push(diag("CF4014", `a policy may be built from at most ${MAX_FILES} files`, "flatten the extends chain: merge small files", pos));
        return;
      }
      const t = targetText();
      if (t === null) return;
      visit(t, targetDisplay, targetId, here);
    });
  };

  const rootId = isAbsolute(file) || file.startsWith(PRESET_PREFIX) ? file : resolve(opts.cwd ?? ".", file);
  visit(text, file, rootId, []);
  if (diagnostics.length > 0 || units.length === 0) throw new PolicyError(sortDiagnostics(diagnostics, units));

  const built = buildPolicy(units, opts);
  if (built.diagnostics.length > 0 || !built.policy || !built.info) throw new PolicyError(sortDiagnostics(built.diagnostics, units));
  return { policy: built.policy, info: built.info };
}

/** Own file first, then files in extends order; within a file by position; stable otherwise. */
function sortDiagnostics(ds: readonly Diagnostic[], units: readonly Unit[]): Diagnostic[] {
  const order = new Map<string, number>();
  for (const u of units) order.set(u.display, order.size);
  for (const d of ds) if (d.pos && !order.has(d.pos.file)) order.set(d.pos.file, order.size);
  const fileRank = (d: Diagnostic): number => (d.pos ? (order.get(d.pos.file) ?? order.size) : order.size);
  return [...ds].sort((a, b) => fileRank(a) - fileRank(b) || (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.column ?? 0) - (b.pos?.column ?? 0));
}
