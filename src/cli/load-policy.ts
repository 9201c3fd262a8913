/**
 * cli/load-policy — load a policy file for a command: the file I/O and machine facts the
 * pure loader (policy/load.ts) is not allowed to do.
 *
 * Map: commands call `loadPolicyFromCli(path, io, { overrides })`. It reads the root and
 * extended files with node:fs (a missing or unreadable root is `CliError` CF_IO_READ, exit
 * 2; a missing extended file is a policy diagnostic at its `extends:` entry), refuses files
 * over the size limit before reading them, and supplies machine-default variables lazily
 * (only when a policy uses them):
 *  - `npm_registry`: host of the npm registry this machine uses — env `npm_config_registry`
 *    / `NPM_CONFIG_REGISTRY`, else the `registry=` line of ~/.npmrc, /etc/npmrc,
 *    /usr/local/etc/npmrc, else what `npm config get registry` says (npm's own default);
 *  - `debian_mirror`: host of the first Debian archive in /etc/apt/sources.list or
 *    /etc/apt/sources.list.d/*.list|*.sources (an entry under a `/debian` path or signed by
 *    the Debian archive keyring first, else the first entry).
 * A fact that cannot be determined stays unset: a policy that uses it then fails with
 * "undefined variable", never with a guess.
 *
 * Host names are never written here: they are read from the machine's configuration.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { PolicyError } from "../policy/errors.ts";
import type { Policy } from "../policy/ir.ts";
import { loadPolicyTextWithInfo, type LoadInfo } from "../policy/load.ts";
import { MAX_POLICY_BYTES, tooLargeDiagnostic } from "../policy/parse.ts";
import { CliError, type CliIo } from "./errors.ts";

export interface CliLoadOptions {
  /** `--var k=v` overrides */
  readonly overrides?: Readonly<Record<string, string>>;
  /** machine facts; defaults to reading this machine's npm and apt configuration */
  readonly machineVar?: (name: string) => string | undefined;
}

function ioError(path: string, e: unknown): CliError {
  const code: string = (e as NodeJS.ErrnoException).code ?? "";
  switch (code) {
    case "ENOENT":
      return new CliError("CF_IO_READ", `cannot read '${path}': no such file`, "check the path (relative paths are relative to the current directory)");
    case "EACCES":
    case "EPERM":
      return new CliError("CF_IO_READ", `cannot read '${path}': permission denied`, "make the file readable by this user, or run as a user who can read it");
    case "EISDIR":
      return new CliError("CF_IO_READ", `cannot read '${path}': it is a directory`, "name the policy file itself, e.g. policy.yaml");
    default:
      return new CliError("CF_IO_READ", `cannot read '${path}': ${e instanceof Error ? e.message : String(e)}`, "check that the file exists and is readable");
  }
}

/** Read a policy file, refusing (before reading) one over the size limit. */
export function readPolicyFile(abs: string, display: string): string {
  let size: number;
  try {
    const st = statSync(abs);
    if (st.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    size = st.size;
  } catch (e) {
    throw ioError(display, e);
  }
  if (size > MAX_POLICY_BYTES) throw new PolicyError([tooLargeDiagnostic(display, size)]);
  try {
    return readFileSync(abs, "utf8");
  } catch (e) {
    throw ioError(display, e);
  }
}

/** The host of a registry URL, or undefined for anything that is not an http(s) URL. */
export function hostOfUrl(text: string): string | undefined {
  try {
    const u = new URL(text.trim());
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    const h = u.hostname;
    return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h || undefined;
  } catch {
    return undefined;
  }
}

/** The value of an unscoped `registry=` line of an .npmrc text (the last one wins, as in npm). */
export function registryFromNpmrc(text: string): string | undefined {
  let found: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^registry\s*=\s*(.+)$/.exec(line);
    if (m) found = (m[1] ?? "").trim().replace(/^["']|["']$/g, "");
  }
  return found;
}

interface AptEntry {
  readonly uri: string;
  readonly debian: boolean;
}

/** Archive entries of one apt sources file, one-line (`.list`) or deb822 (`.sources`) format. */
export function aptEntries(name: string, text: string): AptEntry[] {
  const out: AptEntry[] = [];
  const debianPath = (uri: string): boolean => /\/debian\/?$/.test(hostPath(uri));
  if (name.endsWith(".sources")) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const fields = new Map<string, string>();
      for (const line of stanza.split("\n")) {
        if (line.trimStart().startsWith("#")) continue;
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m) fields.set((m[1] ?? "").toLowerCase(), (m[2] ?? "").trim());
      }
      if (fields.get("enabled")?.toLowerCase() === "no") continue;
      const types = (fields.get("types") ?? "").split(/\s+/);
      if (!types.includes("deb") && !types.includes("deb-src")) continue;
      const keyring = fields.get("signed-by") ?? "";
      for (const uri of (fields.get("uris") ?? "").split(/\s+/).filter(Boolean)) {
        out.push({ uri, debian: debianPath(uri) || keyring.includes("debian-archive-keyring") });
      }
    }
  } else {
    for (const raw of text.split("\n")) {
      const line = raw.replace(/#.*$/, "").trim();
      const m = /^deb(?:-src)?\s+(?:\[([^\]]*)\]\s+)?(\S+)/.exec(line);
      if (!m) continue;
      const uri = m[2] ?? "";
      out.push({ uri, debian: debianPath(uri) || (m[1] ?? "").includes("debian-archive-keyring") });
    }
  }
  return out.filter((e) => hostOfUrl(e.uri) !== undefined);
}

function hostPath(uri: string): string {
  try {
    return new URL(uri).pathname;
  } catch {
    return "";
  }
}

/** The host of the first Debian archive among apt sources files given in apt's reading order. */
export function debianMirrorFromSources(files: ReadonlyArray<{ readonly name: string; readonly text: string }>): string | undefined {
  const entries = files.flatMap((f) => aptEntries(f.name, f.text));
  const pick = entries.find((e) => e.debian) ?? entries[0];
  return pick ? hostOfUrl(pick.uri) : undefined;
}

function readIf(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Machine facts from this machine's configuration (see the header). */
export function machineVarFromSystem(io: CliIo): (name: string) => string | undefined {
  const cache = new Map<string, string | undefined>();
  const compute = (name: string): string | undefined => {
    switch (name) {
      case "npm_registry": {
        const env = io.env["npm_config_registry"] ?? io.env["NPM_CONFIG_REGISTRY"];
        if (env) return hostOfUrl(env);
        const home = io.env["HOME"];
        for (const f of [home ? join(home, ".npmrc") : null, "/etc/npmrc", "/usr/local/etc/npmrc"]) {
          if (!f) continue;
          const text = readIf(f);
          const reg = text === undefined ? undefined : registryFromNpmrc(text);
          if (reg) return hostOfUrl(reg);
        }
        // npm's own default: ask npm (only reached when a policy uses ${npm_registry})
        const r = spawnSync("npm", ["config", "get", "registry"], { encoding: "utf8", timeout: 10_000, env: { ...io.env }, cwd: io.cwd });
        if (r.status !== 0 || typeof r.stdout !== "string") return undefined;
        return hostOfUrl(r.stdout.trim());
      }
      case "debian_mirror": {
        const files: Array<{ name: string; text: string }> = [];
        const main = readIf("/etc/apt/sources.list");
        if (main !== undefined) files.push({ name: "sources.list", text: main });
        let names: string[] = [];
        try {
          names = readdirSync("/etc/apt/sources.list.d").sort();
        } catch {
          names = [];
        }
        for (const n of names) {
          if (!n.endsWith(".list") && !n.endsWith(".sources")) continue;
          const text = readIf(join("/etc/apt/sources.list.d", n));
          if (text !== undefined) files.push({ name: n, text });
        }
        return debianMirrorFromSources(files);
      }
      default:
        return undefined;
    }
  };
  return (name) => {
    if (!cache.has(name)) cache.set(name, compute(name));
    return cache.get(name);
  };
}

/** Load, check and normalize the policy at `path` (relative to io.cwd). Throws CliError or PolicyError. */
export function loadPolicyFromCli(path: string, io: CliIo, opts: CliLoadOptions = {}): Policy {
  return loadPolicyFromCliWithInfo(path, io, opts).policy;
}

/** `loadPolicyFromCli` plus the loader's extra facts for lint (`check` uses it). */
export function loadPolicyFromCliWithInfo(path: string, io: CliIo, opts: CliLoadOptions = {}): { readonly policy: Policy; readonly info: LoadInfo } {
  const abs = resolve(io.cwd, path);
  const text = readPolicyFile(abs, path);
  const read = (p: string): string => readPolicyFile(p, p);
  return loadPolicyTextWithInfo(text, path, read, {
    cwd: io.cwd,
    ...(opts.overrides ? { overrides: opts.overrides } : {}),
    resolveVar: opts.machineVar ?? machineVarFromSystem(io),
  });
}
