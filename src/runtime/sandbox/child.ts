/**
 * runtime/sandbox/child — start the contained command: inside the sandbox's namespace, with
 * the guard as its resolver, the proxy variables set, and no privileges.
 *
 * Map: `ip netns exec` enters the network namespace and a private mount namespace in which
 * /etc/netns/<ns>/resolv.conf is bound over /etc/resolv.conf; `setpriv` then drops to the
 * target uid/gid, clears supplementary groups, drops every capability (bounding set
 * included) and sets no_new_privs, and execs the command. Both exec in place, so the pid we
 * hold is the command's: signals reach it directly. Never runs a shell.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { RuntimeError } from "../errors.ts";

export interface Identity {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

export function proxyEnv(proxyUrl: string, socksUrl: string, noProxy: string): Record<string, string> {
  return {
    HTTP_PROXY: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    ALL_PROXY: socksUrl,
    NO_PROXY: noProxy,
    http_proxy: proxyUrl,
    https_proxy: proxyUrl,
    all_proxy: socksUrl,
    no_proxy: noProxy,
  };
}

export function spawnContained(ns: string, who: Identity, cmd: string, args: readonly string[], env: Readonly<Record<string, string | undefined>>): ChildProcess {
  if (who.uid === 0) {
    throw new RuntimeError("CF_RUNTIME_ROOT_CHILD", "refusing to run the contained command as root: root could change its own enforcement", "pass --user NAME (an unprivileged user), or run clawfence through sudo so the invoking user is used", 2);
  }
  const priv = [
    "setpriv",
    `--reuid=${who.uid}`,
    `--regid=${who.gid}`,
    "--clear-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    "--ambient-caps=-all",
    "--bounding-set=-all",
    "--",
    cmd,
    ...args,
  ];
  return spawn("ip", ["netns", "exec", ns, ...priv], { stdio: "inherit", env: { ...env } });
}

/** The exit status clawfence returns for the child: its code, or 128+N for signal N. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal !== null) return 128 + (constants.signals[signal] ?? 0);
  return 1;
}
