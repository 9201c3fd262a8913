/**
 * cli/commands/install-service — `clawfence install-service --policy P --on TARGET
 * [--platform linux|macos] [-o FILE]`: the text that makes enforcement survive a reboot
 * (seed 002's Persistence). Linux: a systemd unit running `clawfence enforce` in the
 * foreground. macOS: a LaunchDaemon plist that compiles the policy to a pf anchor and loads it
 * at boot and every few minutes (install steps on stderr). Writes to stdout or -o; installs
 * nothing itself. Exit: 0, 1 policy errors, 2 usage/IO.
 */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { parseCommandArgs, writeOutputFile } from "../args.ts";
import { CliError, type CliIo } from "../errors.ts";
import { loadPolicyFromCli } from "../load-policy.ts";
import { parseTarget, targetText } from "../../runtime/enforce/target.ts";
import { launchdInstructions, launchdPlist, systemdUnit } from "../../runtime/enforce/service.ts";

const HELP = `usage: clawfence install-service --policy POLICY --on host|bridge:NAME|interface:NAME
                                 [--platform linux|macos] [-o FILE] [--exec PATH] [--flows DB]
                                 [--enforce-arg ARG]...

Linux: a systemd unit (copy to /etc/systemd/system/clawfence-enforce.service).
macOS: a LaunchDaemon plist that loads the policy's pf anchor; the steps go to stderr.
--exec: the clawfence to run (default: this one); --enforce-arg: more flags for 'enforce'.
`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      allowPositionals: false,
      options: {
        policy: { type: "string" },
        on: { type: "string" },
        platform: { type: "string", default: process.platform === "darwin" ? "macos" : "linux" },
        output: { type: "string", short: "o" },
        exec: { type: "string" },
        flows: { type: "string" },
        "enforce-arg": { type: "string", multiple: true },
        help: { type: "boolean", short: "h", default: false },
      },
    },
    "run 'clawfence install-service --help'",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (!values.policy) throw new CliError("CF_USAGE_ARGS", "--policy is required", "e.g. clawfence install-service --policy /etc/clawfence/policy.yaml --on host");
  const platform = values.platform;
  if (platform !== "linux" && platform !== "macos") throw new CliError("CF_USAGE_ARGS", `--platform '${platform}' is not linux or macos`, "use --platform linux or --platform macos");
  const policyPath = resolve(io.cwd, values.policy);
  const policy = loadPolicyFromCli(policyPath, io); // refuse to persist a policy that does not load
  const exec = values.exec !== undefined ? [values.exec] : selfExec();
  let text: string;
  if (platform === "linux") {
    if (!values.on) throw new CliError("CF_USAGE_ARGS", "--on is required", "e.g. --on host or --on bridge:openclaw-egress");
    const on = targetText(parseTarget(values.on));
    text = systemdUnit({ exec, policy: policyPath, on, ...(values.flows !== undefined ? { flows: values.flows } : {}), extra: values["enforce-arg"] ?? [] });
  } else {
    const anchor = `clawfence/${policy.name}`;
    const o = { exec, policy: policyPath, anchor, anchorFile: `/etc/pf.anchors/clawfence-${policy.name}` };
    text = launchdPlist(o);
    io.stderr.write(launchdInstructions(o));
  }
  if (values.output !== undefined) writeOutputFile(io, values.output, text);
  else io.stdout.write(text);
  return 0;
}

/** How this clawfence was started: the installed bin, or node + the entry file. */
function selfExec(): string[] {
  const entry = process.argv[1];
  if (entry === undefined) return ["/usr/local/bin/clawfence"];
  const real = realpathSync(entry);
  return /\.(ts|js|mjs)$/.test(real) ? [process.execPath, real] : [real];
}
