/**
 * cli/commands/schema — `clawfence schema`: print the JSON Schema (draft 2020-12) of the
 * policy format v1, generated from the wire schema (policy/wire.ts), for editors
 * (`# yaml-language-server: $schema=...`) and CI validation.
 * Exit: 0; 2 on unexpected arguments.
 */
import { policyJsonSchema } from "../../policy/wire.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";

const HELP = `usage: clawfence schema

Print the JSON Schema (draft 2020-12) of the clawfence policy format v1.
Save it and point your editor at it, e.g. with a first line
  # yaml-language-server: $schema=./clawfence-policy.schema.json
`;

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(HELP);
    return 0;
  }
  if (argv.length > 0) {
    throw new CliError("CF_USAGE_ARGS", `schema takes no arguments, got '${argv.join(" ")}'`, "run 'clawfence schema > policy.schema.json'");
  }
  io.stdout.write(`${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
  return 0;
};
