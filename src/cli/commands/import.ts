/**
 * cli/commands/import — `clawfence import FILE [--format allowlist-conf|attestation-yaml]
 * [-o FILE] [--name NAME]`: another allowlist format to a v1 policy.
 *
 * Map: read FILE, pick the format (given, or detected by policy/import's `detectFormat`:
 * a .yaml/.yml file or a `destination:` key means attestation-yaml, anything else
 * allowlist-conf), convert with the pure importer, then load the result with the policy
 * loader as a self-check (an import never hands out a policy that does not load), and
 * write it to stdout or `-o`. Warnings and notes go to stderr as diagnostics.
 * Exit: 0 ok; 1 input errors (each with file:line and a fix, CF6xxx); 2 usage or I/O.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { parseCommandArgs } from "../args.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";
import { formatDiagnostic } from "../../policy/errors.ts";
import { IMPORT_FORMATS, importPolicy, isImportFormat } from "../../policy/import/index.ts";
import { loadPolicyText } from "../../policy/load.ts";

const HELP = `usage: clawfence import FILE [--format FORMAT] [-o FILE] [--name NAME]

Convert an allowlist into a clawfence policy (YAML on stdout, or in -o FILE).

formats:
  allowlist-conf     OpenClaw network-egress allowlist.conf: host, host:port, IP, CIDR, [v6]:port, # comments
  attestation-yaml   attested-runtime list: - destination / purpose / protocol / required

options:
  -f, --format F     the input format (default: detected: a .yaml/.yml file, or one with
                     \`destination:\` keys, is attestation-yaml; anything else allowlist-conf)
  -o, --output FILE  write the policy to FILE instead of stdout
  --name NAME        the policy's name (default: from the input file's name)
`;

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        format: { type: "string", short: "f" },
        output: { type: "string", short: "o" },
        name: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence import --help' for the options",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new CliError(
      "CF_USAGE_ARGS",
      positionals.length === 0 ? "import needs the file to convert" : `import converts one file; got ${positionals.length}`,
      "run 'clawfence import FILE [--format allowlist-conf|attestation-yaml] [-o OUT]'",
      2,
    );
  }
  const file = positionals[0] ?? "";
  if (values.format !== undefined && !isImportFormat(values.format)) {
    throw new CliError("CF_USAGE_FORMAT", `unknown import format '${values.format}'`, `use --format ${IMPORT_FORMATS.join(" or --format ")}`, 2);
  }
  if (values.name !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(values.name)) {
    throw new CliError("CF_USAGE_ARGS", `'${values.name}' is not a policy name`, "use lowercase letters, digits and '-', starting with a letter or digit (at most 63 characters)", 2);
  }

  let text: string;
  try {
    text = readFileSync(resolvePath(io.cwd, file), "utf8");
  } catch (e) {
    throw new CliError("CF_IO_READ", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, "check the path and its permissions", 2);
  }

  // PolicyError (CF6xxx, with file:line) propagates: cli/main prints the diagnostics, exit 1
  const result = importPolicy(text, file, {
    ...(values.format !== undefined ? { format: values.format } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
  });
  for (const d of result.diagnostics) io.stderr.write(`${formatDiagnostic(d)}\n`);

  // self-check: the generated policy must load (it extends nothing and uses no variables)
  const outName = values.output ?? `${file}.policy.yaml`;
  loadPolicyText(result.yaml, resolvePath(io.cwd, outName), (p) => {
    throw new CliError("CF_INTERNAL", `an imported policy read ${p}`, "report this as a bug", 3);
  });

  if (values.output !== undefined) {
    try {
      writeFileSync(resolvePath(io.cwd, values.output), result.yaml);
    } catch (e) {
      throw new CliError("CF_IO_WRITE", `cannot write ${values.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, "check the directory exists and is writable", 2);
    }
    io.stderr.write(`clawfence: wrote ${values.output} (imported ${file} as ${result.format})\n`);
  } else {
    io.stdout.write(result.yaml);
  }
  return 0;
};
