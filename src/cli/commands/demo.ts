/**
 * cli/commands/demo — `clawfence demo`: the whole product in a minute, offline.
 *
 * Builds the demo world (runtime/demo/world.ts: a host namespace and an "internet" namespace
 * with a resolver and web servers), writes the demo policy (the `locked-down` preset plus one
 * rule for the agent's tool API), and runs `clawfence run` inside the host namespace on a
 * scripted agent (runtime/demo/agent.ts) that tries its API and eight ways out. Shows, live,
 * each decision with its rule, what the agent saw, and what reached the internet side.
 * Exit 0 when every step went as the policy says. Needs root, iproute2 and nftables.
 */
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { mkdtemp, rm, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError, type CliIo } from "../errors.ts";
import { createDemoWorld, DEMO_ADDRS } from "../../runtime/demo/world.ts";
import { execTool } from "../../runtime/exec.ts";
import { run as runFlows } from "./flows.ts";

export const DEMO_POLICY = `# clawfence demo policy: the locked-down preset, plus the agent's own tool API
version: 1
name: demo-agent
description: A demo agent that may call its tool API and nothing else
extends: [locked-down]
internal: [198.51.100.0/24]      # the demo world's addresses (documentation range)
dns:
  upstreams: [${DEMO_ADDRS.resolver}]
rules:
  - name: allow-tool-api
    description: The agent's tool API and its CDN
    allow: [api.tools.demo, "*.cdn.tools.demo"]
    ports: [80]
    protocol: tcp
default: deny
`;

const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
const here = (rel: string): string => fileURLToPath(new URL(`${rel}.${ext}`, import.meta.url));

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write("usage: clawfence demo [--user USER]\n\nRuns a scripted agent under the locked-down preset in an offline world made of network\nnamespaces, and shows every decision with its rule. Needs root (namespaces, nftables).\n");
    return 0;
  }
  const ui = argv.indexOf("--user");
  const user = ui >= 0 ? argv[ui + 1] : "nobody";
  if (ui >= 0 && user === undefined) throw new CliError("CF_USAGE_ARGS", "--user needs a value", "clawfence demo --user nobody");
  const unknown = argv.filter((a, i) => a.startsWith("-") && a !== "--user" && i !== ui + 1);
  if (unknown.length) throw new CliError("CF_USAGE_ARGS", `unknown option '${unknown[0] ?? ""}'`, "run 'clawfence demo --help'");
  if (process.getuid?.() !== 0) throw new CliError("CF_USAGE_ROOT", "clawfence demo needs root to create network namespaces and nftables tables", "run it with sudo: sudo ./bin/clawfence demo");
  await execTool("nft", ["--version"]);
  await execTool("ip", ["-V"]);

  const dir = await mkdtemp(join(tmpdir(), "clawfence-demo-"));
  await chmod(dir, 0o755);
  const policyFile = join(dir, "demo-policy.yaml");
  await writeFile(policyFile, DEMO_POLICY, { mode: 0o644 });
  const out = (s: string): void => {
    io.stdout.write(s);
  };
  out(`clawfence demo: an agent under this policy (${policyFile}):\n\n${DEMO_POLICY.replace(/^/gm, "    ")}\n`);
  const world = await createDemoWorld(process.execPath, here("../../runtime/demo/upstream"), (line) => out(`    ${line}\n`));
  try {
    out(`world: namespaces ${world.hostNs} (host) and ${world.upstreamNs} (internet) are up; starting the sandbox\n\n`);
    const args = [
      "netns",
      "exec",
      world.hostNs,
      process.execPath,
      here("../main"),
      "run",
      "--policy",
      policyFile,
      "--user",
      user ?? "nobody",
      "--verbose",
      "--flows",
      join(dir, "flows.db"),
      "--",
      process.execPath,
      here("../../runtime/demo/agent"),
    ];
    const child = spawn("ip", args, { stdio: ["ignore", "pipe", "pipe"], env: { ...io.env, CLAWFENCE_STATE_DIR: join(dir, "state"), NO_COLOR: "1" } });
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => out(d.replace(/^(?!agent:|\s{7}->)/gm, "")));
    child.stderr.on("data", (d: string) => out(d.replace(/^clawfence: /gm, "  clawfence decided: ")));
    const code: number = await new Promise((resolve) => child.once("exit", (c, s) => resolve(c ?? (s ? 128 : 1))));
    out(`\nthe flow log (clawfence flows --db ${join(dir, "flows.db")} --verdict deny):\n`);
    const indent = new Writable({
      write(chunk: Buffer, _enc, done) {
        out(chunk.toString("utf8").replace(/^(?=.)/gm, "  "));
        done();
      },
    });
    await runFlows(["--db", join(dir, "flows.db"), "--verdict", "deny"], { ...io, stdout: indent });
    out(
      code === 0
        ? "\ndemo: the agent reached its tool API and nothing else; every decision above names its rule.\n"
        : `\ndemo: the agent exited with status ${code}: see the lines marked UNEXPECTED above.\n`,
    );
    return code;
  } finally {
    await world.close();
    await rm(dir, { recursive: true, force: true });
  }
}
