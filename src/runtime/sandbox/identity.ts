/**
 * runtime/sandbox/identity — who the contained command runs as.
 *
 * `--user NAME|UID`, else the user who invoked sudo (SUDO_UID/SUDO_GID), else an error:
 * the command never runs as root. Users are looked up in /etc/passwd (no NSS modules: a
 * user only in LDAP must be given as a numeric uid, with its gid from SUDO_GID or = uid).
 */
import { readFileSync } from "node:fs";
import { RuntimeError } from "../errors.ts";
import type { Identity } from "./child.ts";

export function parsePasswd(text: string): Identity[] {
  const out: Identity[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || line.startsWith("#")) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) out.push({ name: f[0] ?? "", uid, gid });
  }
  return out;
}

export function resolveIdentity(user: string | undefined, env: Readonly<Record<string, string | undefined>>, passwdText?: string): Identity {
  const users = parsePasswd(passwdText ?? readPasswd());
  if (user !== undefined && user !== "") {
    const byName = users.find((u) => u.name === user);
    if (byName) return check(byName);
    if (/^\d+$/.test(user)) {
      const uid = Number(user);
      const known = users.find((u) => u.uid === uid);
      return check(known ?? { name: user, uid, gid: uid });
    }
    throw new RuntimeError("CF_RUNTIME_USER", `no user '${user}' in /etc/passwd`, "give an existing user name or a numeric uid with --user", 2);
  }
  const sudoUid = env["SUDO_UID"];
  if (sudoUid && /^\d+$/.test(sudoUid)) {
    const uid = Number(sudoUid);
    const gid = env["SUDO_GID"] && /^\d+$/.test(env["SUDO_GID"]) ? Number(env["SUDO_GID"]) : uid;
    const known = users.find((u) => u.uid === uid);
    return check({ name: known?.name ?? env["SUDO_USER"] ?? sudoUid, uid, gid });
  }
  throw new RuntimeError(
    "CF_RUNTIME_USER",
    "no user to run the command as: clawfence was not started through sudo and --user was not given",
    "pass --user NAME (an unprivileged user, e.g. --user nobody), or start clawfence with sudo from your own account",
    2,
  );
}

function check(id: Identity): Identity {
  if (id.uid === 0 || id.gid === 0) {
    throw new RuntimeError("CF_RUNTIME_ROOT_CHILD", `refusing to run the contained command as '${id.name}' (uid ${id.uid}, gid ${id.gid}): root could change its own enforcement`, "pass --user with an unprivileged user", 2);
  }
  return id;
}

function readPasswd(): string {
  try {
    return readFileSync("/etc/passwd", "utf8");
  } catch {
    return "";
  }
}
