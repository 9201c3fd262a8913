/**
 * cli/commands/report — `clawfence report --db DB [--format md|html|json] [-o FILE]
 * [--since T] [--until T] [--sandbox NAME] [--policy POLICY] [--top N] [--verify]`
 *
 * Map: open the flow store read-only, collect the grouped counts for the range
 * (flows/report/collect.ts: SQL, not a row-by-row walk), optionally load the policy (for the
 * rules never hit and whether the logged policy hash is this one), build the report value
 * (flows/report.ts) and render it (Markdown, one self-contained HTML file, or JSON) to stdout
 * or -o FILE. `--verify` also walks the store's hash chain and exits 1 when it is broken.
 * Exit: 0 written; 1 the hash chain is broken (with --verify; the report is still written);
 * 2 usage or I/O.
 */
import { buildReport, collectReportInput } from "../../flows/report.ts";
import { renderHtml } from "../../flows/report/html.ts";
import { renderMarkdown } from "../../flows/report/markdown.ts";
import { parseCommandArgs, parseVarOverrides, writeOutputFile } from "../args.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";
import { openReader, storeError, timeFilter } from "../flow-args.ts";
import { loadPolicyFromCli } from "../load-policy.ts";

const HELP = `usage: clawfence report --db DB [options]

Audit evidence from the flow log: totals by verdict, top denied destinations, hits per rule
(and the rules never hit), what monitor mode let through, the timeline, the policy hashes that
decided, and the store's integrity (hash-chain head, dropped events).

options:
  --db FILE             the flow store written by \`clawfence run --flows\` (required)
  --format md|html|json Markdown (default), one self-contained HTML file with charts, or JSON
  -o, --output FILE     write to FILE (default: stdout)
  --since T, --until T  time range: a duration back from now (30m, 2h, 7d) or an ISO 8601 time
  --sandbox NAME        only flows of this sandbox
  --policy FILE         the policy in force: lists its rules never hit, marks its hash
  --top N               rows in the top lists (default 20)
  --verify              walk the store's hash chain too (exit 1 when it is broken)
  --var NAME=VALUE      set a policy variable (repeatable)

exit: 0 written, 1 hash chain broken (with --verify), 2 usage or I/O
`;

const FORMATS = ["md", "html", "json"] as const;

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const { values } = parseCommandArgs(
    argv,
    {
      allowPositionals: false,
      options: {
        db: { type: "string" },
        format: { type: "string", short: "f" },
        output: { type: "string", short: "o" },
        since: { type: "string" },
        until: { type: "string" },
        sandbox: { type: "string" },
        policy: { type: "string" },
        top: { type: "string" },
        verify: { type: "boolean" },
        var: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence report --help' for the options",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (values.db === undefined) throw new CliError("CF_USAGE_ARGS", "report needs --db DB", "run 'clawfence report --db flows.db' (the file given to `clawfence run --flows`)");
  const format = values.format ?? "md";
  if (!(FORMATS as readonly string[]).includes(format)) throw new CliError("CF_USAGE_FORMAT", `unknown format '${format}'`, "use --format md, --format html or --format json");
  let top = 20;
  if (values.top !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(values.top)) throw new CliError("CF_USAGE_VALUE", `--top must be a positive whole number, not '${values.top}'`, "write e.g. --top 20");
    top = Number(values.top);
  }
  const now = Date.now();
  const filter = timeFilter(values, now);
  const policy = values.policy !== undefined ? loadPolicyFromCli(values.policy, io, { overrides: parseVarOverrides(values.var ?? []) }) : undefined;

  const reader = openReader(values.db, io);
  let input;
  try {
    input = collectReportInput(reader, filter, { verify: values.verify === true });
  } catch (e) {
    return storeError(e);
  } finally {
    reader.close();
  }
  const report = buildReport(input, { ...(policy ? { policy } : {}), generatedAtMs: now, source: values.db, top });
  const text = format === "json" ? `${JSON.stringify(report, null, 2)}\n` : format === "html" ? renderHtml(report) : renderMarkdown(report);
  if (values.output !== undefined) writeOutputFile(io, values.output, text);
  else io.stdout.write(text);
  if (report.integrity.verified && !report.integrity.verified.ok) {
    io.stderr.write(`clawfence: the flow store's hash chain is broken: ${report.integrity.verified.detail ?? ""}\n`);
    return 1;
  }
  return 0;
};
