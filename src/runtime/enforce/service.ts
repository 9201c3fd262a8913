/**
 * runtime/enforce/service — persistence across reboots (seed 002's "Persistence"): the text of
 * a systemd unit that runs `clawfence enforce` in the foreground (Linux), or of a LaunchDaemon
 * plist that loads the policy's pf anchor at boot and refreshes it (macOS, where there is no
 * nftables and so no DNS guard: pf resolves names once per load, seed 002's accepted risk).
 *
 * Pure text generation: no I/O. The CLI (install-service) writes the text where it is told.
 */

export interface UnitOptions {
  /** argv of clawfence itself, e.g. ["/usr/local/bin/clawfence"] or [node, main.js] */
  readonly exec: readonly string[];
  /** absolute policy path */
  readonly policy: string;
  /** host | bridge:NAME | interface:NAME */
  readonly on: string;
  /** further `enforce` flags, already split */
  readonly extra?: readonly string[];
  /** flow store (default /var/lib/clawfence/flows.db) */
  readonly flows?: string;
  readonly stateDir?: string;
}

/** systemd quotes: wrap in double quotes when needed, escaping `\`, `"`, `$` and `%`. */
export function systemdQuote(arg: string): string {
  const esc = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(esc)) return esc;
  return `"${esc.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function systemdUnit(o: UnitOptions): string {
  const flows = o.flows ?? "/var/lib/clawfence/flows.db";
  const stateDir = o.stateDir ?? "/run/clawfence";
  const docker = o.on.startsWith("bridge:");
  const argv = [...o.exec, "enforce", "--policy", o.policy, "--on", o.on, "--flows", flows, ...(o.extra ?? [])];
  const lines = [
    "# Written by `clawfence install-service`; docs/enforce.md.",
    "# Install: copy to /etc/systemd/system/clawfence-enforce.service, then",
    "#   systemctl daemon-reload && systemctl enable --now clawfence-enforce",
    "# Reload after editing the policy: systemctl reload clawfence-enforce (or `clawfence allow`).",
    "[Unit]",
    `Description=clawfence egress enforcer (${o.on})`,
    "Documentation=man:nft(8)",
    "Wants=network-online.target",
    `After=network-online.target${docker ? " docker.service" : ""}`,
    ...(docker ? ["Wants=docker.service"] : []),
    "# the rules stay in the kernel when the service stops (fail closed); `clawfence remove` deletes them",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${argv.map(systemdQuote).join(" ")}`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    "Restart=on-failure",
    "RestartSec=2s",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=20s",
    `Environment=CLAWFENCE_STATE_DIR=${systemdQuote(stateDir)}`,
    "# the state (records, names book) must outlive a restart: it is how live set elements are kept",
    "RuntimeDirectory=clawfence",
    "RuntimeDirectoryPreserve=yes",
    "StateDirectory=clawfence",
    "# hardening: network administration only",
    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_DAC_OVERRIDE",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "# not ProtectKernelTunables: the enforcer writes net.ipv4.ip_forward and disable_ipv6 of its bridge",
    "# not MemoryDenyWriteExecute: Node's JIT needs it",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

const xml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface PlistOptions {
  readonly exec: readonly string[];
  readonly policy: string;
  /** pf anchor name, e.g. clawfence/coding-agent */
  readonly anchor: string;
  /** where the compiled anchor file lives */
  readonly anchorFile: string;
  /** refresh period in seconds (pf resolves names at load only) */
  readonly intervalSec?: number;
  readonly label?: string;
}

/** How to install the plist and the pf anchor (printed by the CLI beside the plist). */
export function launchdInstructions(o: PlistOptions): string {
  const label = o.label ?? "ai.clawfence.enforce";
  return [
    `Written by clawfence install-service --platform macos (docs/enforce.md).`,
    `1. Save this file as /Library/LaunchDaemons/${label}.plist (root:wheel, 644).`,
    `2. Add the anchor to /etc/pf.conf (after the existing anchors):`,
    `     anchor "${o.anchor.split("/")[0] ?? o.anchor}/*"`,
    `3. First load by hand and check:`,
    `     sudo ${o.exec.join(" ")} compile ${o.policy} --target pf --resolve -o ${o.anchorFile}`,
    `     sudo pfctl -E && sudo pfctl -a ${o.anchor} -f ${o.anchorFile}`,
    `     sudo pfctl -a ${o.anchor} -sr      # rules loaded?`,
    `     sudo pfctl -si | grep Status        # pf enabled?`,
    `4. sudo launchctl bootstrap system /Library/LaunchDaemons/${label}.plist`,
    `pf resolves names once per load: this daemon reloads every ${o.intervalSec ?? 300} s.`,
    `Docker Desktop / OrbStack: containers live in a Linux VM; filter there with clawfence enforce --on bridge:NAME.`,
    ``,
  ].join("\n");
}

/** A LaunchDaemon that (re)compiles the policy to a pf anchor and loads it, at boot and every interval. */
export function launchdPlist(o: PlistOptions): string {
  const label = o.label ?? "ai.clawfence.enforce";
  const compile = [...o.exec, "compile", o.policy, "--target", "pf", "--resolve", "-o", `${o.anchorFile}.new`].map(shq).join(" ");
  const script = `${compile} && /bin/mv ${shq(`${o.anchorFile}.new`)} ${shq(o.anchorFile)} && /sbin/pfctl -E && /sbin/pfctl -a ${shq(o.anchor)} -f ${shq(o.anchorFile)}`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<!-- Written by clawfence install-service; install steps: docs/enforce.md -->`,
    `<plist version="1.0">`,
    `<dict>`,
    `  <key>Label</key>`,
    `  <string>${xml(label)}</string>`,
    `  <key>ProgramArguments</key>`,
    `  <array>`,
    `    <string>/bin/sh</string>`,
    `    <string>-c</string>`,
    `    <string>${xml(script)}</string>`,
    `  </array>`,
    `  <key>RunAtLoad</key>`,
    `  <true/>`,
    `  <key>StartInterval</key>`,
    `  <integer>${o.intervalSec ?? 300}</integer>`,
    `  <key>StandardErrorPath</key>`,
    `  <string>/var/log/clawfence-enforce.log</string>`,
    `</dict>`,
    `</plist>`,
    ``,
  ].join("\n");
}
