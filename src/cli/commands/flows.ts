/**
 * cli/commands/flows — `clawfence flows --db DB [filters] [--format table|jsonl|json] [--follow]`
 * and `clawfence flows verify --db DB [--json]`.
 *
 * Map: open the store read-only in spirit (flows/store.ts `openFlowReader`), turn the options
 * into a FlowFilter (flows/query.ts), stream the matching rows oldest first as an aligned
 * table (colour only on a terminal without NO_COLOR), JSON lines, or one JSON array.
 * `--follow` prints what matches, then polls for new rows every 200 ms until SIGINT/SIGTERM
 * (exit 0). `verify` walks the hash chain (flows/chain.ts) and names the first broken row.
 * Output respects back-pressure and stops quietly when the reader goes away (`| head`).
 * Exit: 0 ok (verify: the chain holds); 1 verify found a broken link; 2 usage or I/O.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { verdictLabel, type FlowFilter, type FlowReader, type FlowRecord } from "../../flows/store.ts";
import { parseCommandArgs } from "../args.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";
import { openReader, withTimeRange } from "../flow-args.ts";

const HELP = `usage: clawfence flows --db DB [options]
       clawfence flows verify --db DB [--json]

Read the flow log written by 'clawfence run --flows DB': one line per decision, oldest first.

options:
  --db DB                    the flow store (SQLite) to read
  --format table|jsonl|json  output format (default table); jsonl: one JSON object per line;
                             json: one array. ts is ISO 8601 UTC with milliseconds
  --verdict V                allow, deny (enforced or not) or would-deny (monitor mode only)
  --rule NAME                decisions of this rule ("default" for the policy default)
  --name GLOB                names matching GLOB, e.g. '*.example.com' (* and ?; any case)
  --sandbox ID               decisions of this sandbox
  --kind K                   dns, connect, proxy or packet
  --since WHEN               from WHEN: a duration back from now (90s, 30m, 1h, 2d, 1h30m)
                             or an ISO 8601 time (2025-01-31T12:00:00Z)
  --until WHEN               before WHEN (same forms)
  --limit N                  only the newest N matching decisions
  --follow, -f               keep printing new decisions until interrupted (Ctrl-C)

verify: check the hash chain; prints the first row that was edited, deleted, inserted or
moved, or how many rows verified.

exit: 0 ok (verify: chain intact), 1 verify found a broken link, 2 usage or I/O
`;

const FORMATS = ["table", "jsonl", "json"] as const;
type Format = (typeof FORMATS)[number];
const VERDICTS = ["allow", "deny", "would-deny"] as const;
const POLL_MS = 200;

/** Writes with back-pressure; `closed` once the reader went away (EPIPE). */
class Out {
  closed = false;
  private buf = "";
  private readonly stream: NodeJS.WritableStream;
  constructor(stream: NodeJS.WritableStream) {
    this.stream = stream;
    stream.on("error", () => {
      this.closed = true;
    });
  }
  async write(text: string): Promise<void> {
    this.buf += text;
    if (this.buf.length >= 64 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.closed || this.buf === "") return;
    const text = this.buf;
    this.buf = "";
    if (!this.stream.write(text)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.stream.off("drain", done);
          this.stream.off("error", done);
          this.stream.off("close", done);
          resolve();
        };
        this.stream.on("drain", done);
        this.stream.on("error", done);
        this.stream.on("close", done);
      });
    }
  }
}

// ---- table -------------------------------------------------------------------------------

const COLUMNS = ["TIME", "KIND", "VERDICT", "RULE", "REASON", "NAME", "ADDRESS"] as const;
type Cells = Record<(typeof COLUMNS)[number], string>;
/** widths used by --follow, where the rows to come are not known yet */
const FOLLOW_WIDTHS: readonly number[] = [24, 7, 10, 18, 14, 32, 0];

function address(r: FlowRecord): string {
  if (r.dst_ip === null) return r.answers && r.answers.length > 0 ? `-> ${r.answers.join(",")}` : "";
  const host = r.dst_ip.includes(":") ? `[${r.dst_ip}]` : r.dst_ip;
  const port = r.dst_port !== null ? `:${r.dst_port}` : "";
  return `${host}${port}${r.proto ? `/${r.proto}` : ""}`;
}

function cells(r: FlowRecord): Cells {
  return {
    TIME: r.ts,
    KIND: r.kind,
    VERDICT: verdictLabel(r.verdict, r.enforced),
    RULE: r.rule,
    REASON: r.reason,
    NAME: r.name === null ? "-" : r.qtype ? `${r.name} ${r.qtype}` : r.name,
    ADDRESS: address(r),
  };
}

const COLOURS: Readonly<Record<string, string>> = { allow: "\u001b[32m", deny: "\u001b[31m", "would-deny": "\u001b[33m" };
const RESET = "\u001b[0m";

/** One table line; the verdict coloured when `colour` (allow green, deny red, would-deny yellow). */
export function tableLine(c: Cells, widths: readonly number[], colour: boolean): string {
  const out: string[] = [];
  COLUMNS.forEach((col, i) => {
    const text = c[col];
    const last = i === COLUMNS.length - 1;
    const padded = last ? text : text.padEnd(widths[i] ?? 0);
    out.push(colour && col === "VERDICT" && COLOURS[text] ? `${COLOURS[text]}${text}${RESET}${padded.slice(text.length)}` : padded);
  });
  return `${out.join("  ").trimEnd()}\n`;
}

function header(widths: readonly number[]): string {
  const c = Object.fromEntries(COLUMNS.map((k) => [k, k])) as Cells;
  return tableLine(c, widths, false);
}

/** The table for a known set of records: columns as wide as their widest cell. */
export function formatTable(records: readonly FlowRecord[], colour: boolean): string {
  const rows = records.map(cells);
  const widths = COLUMNS.map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
  return header(widths) + rows.map((r) => tableLine(r, widths, colour)).join("");
}

// ---- options -----------------------------------------------------------------------------

interface Options {
  readonly db: string;
  readonly format: Format;
  readonly filter: FlowFilter;
  readonly limit: number | undefined;
  readonly follow: boolean;
}

function parseOptions(values: Record<string, string | boolean | undefined>, nowMs: number): Options {
  const db = values["db"];
  if (typeof db !== "string" || db === "") throw new CliError("CF_USAGE_DB", "flows needs --db DB", "pass the store written by `clawfence run --flows DB`, e.g. clawfence flows --db flows.db");
  const format = (values["format"] ?? "table") as string;
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new CliError("CF_USAGE_FORMAT", `unknown format '${format}'`, `use one of: ${FORMATS.join(", ")}`);
  }
  let filter: FlowFilter = {};
  const verdict = values["verdict"];
  if (typeof verdict === "string") {
    if (!(VERDICTS as readonly string[]).includes(verdict)) throw new CliError("CF_USAGE_VERDICT", `unknown verdict '${verdict}'`, `use one of: ${VERDICTS.join(", ")}`);
    filter = { ...filter, verdict: verdict as "allow" | "deny" | "would-deny" };
  }
  for (const key of ["rule", "name", "sandbox", "kind"] as const) {
    const v = values[key];
    if (typeof v === "string") filter = { ...filter, [key]: v };
  }
  filter = withTimeRange(filter, values, nowMs);
  let limit: number | undefined;
  const l = values["limit"];
  if (typeof l === "string") {
    if (!/^[0-9]+$/.test(l)) throw new CliError("CF_USAGE_LIMIT", `--limit '${l}' is not a number`, "write a count, e.g. --limit 100");
    limit = Number(l);
  }
  const follow = values["follow"] === true;
  if (follow && format === "json") {
    throw new CliError("CF_USAGE_FOLLOW_JSON", "--follow cannot print one JSON array that never ends", "use --format jsonl (one object per line) or table with --follow");
  }
  return { db, format: format as Format, filter, limit, follow };
}

// ---- commands ----------------------------------------------------------------------------

async function verify(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { allowPositionals: false, options: { db: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } }, "run 'clawfence flows --help'");
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (!values.db) throw new CliError("CF_USAGE_DB", "flows verify needs --db DB", "e.g. clawfence flows verify --db flows.db");
  const reader = openReader(values.db, io);
  try {
    const r = reader.verify();
    const dropped = reader.droppedTotal();
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ ...r, dropped })}\n`);
    } else if (r.ok) {
      io.stdout.write(`${values.db}: ${r.rows} rows verified; chain head ${r.head}; ${dropped} events dropped by writers\n`);
    } else {
      io.stdout.write(`${values.db}: chain broken at row ${r.id} (${r.problem}) after ${r.rows} good rows\n  ${r.message}\n  expected: ${r.expected}\n  found:    ${r.found}\n`);
    }
    return r.ok ? 0 : 1;
  } finally {
    reader.close();
  }
}

function isColourTerminal(io: CliIo): boolean {
  const tty = (io.stdout as NodeJS.WritableStream & { isTTY?: boolean }).isTTY === true;
  const noColor = io.env["NO_COLOR"];
  return tty && (noColor === undefined || noColor === "");
}

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  if (argv[0] === "verify") return verify(argv.slice(1), io);
  const { values } = parseCommandArgs(
    argv,
    {
      allowPositionals: false,
      options: {
        db: { type: "string" },
        format: { type: "string" },
        verdict: { type: "string" },
        rule: { type: "string" },
        name: { type: "string" },
        sandbox: { type: "string" },
        kind: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        limit: { type: "string" },
        follow: { type: "boolean", short: "f" },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence flows --help'",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const opts = parseOptions(values, Date.now());
  const reader = openReader(opts.db, io);
  const out = new Out(io.stdout);
  const colour = isColourTerminal(io);
  try {
    const top = reader.maxId();
    let initial: Iterable<FlowRecord>;
    if (opts.limit !== undefined) {
      initial = reader.query({ ...opts.filter, throughId: top }, { order: "desc", limit: opts.limit }).reverse();
    } else {
      initial = reader.iterate({ ...opts.filter, throughId: top });
    }
    switch (opts.format) {
      case "table":
        if (opts.follow) {
          await out.write(header(FOLLOW_WIDTHS));
          for (const r of initial) await out.write(tableLine(cells(r), FOLLOW_WIDTHS, colour));
        } else {
          await out.write(formatTable([...initial], colour));
        }
        break;
      case "jsonl":
        for (const r of initial) {
          if (out.closed) break;
          await out.write(`${JSON.stringify(r)}\n`);
        }
        break;
      case "json": {
        let first = true;
        await out.write("[");
        for (const r of initial) {
          if (out.closed) break;
          await out.write(`${first ? "\n" : ",\n"}${JSON.stringify(r)}`);
          first = false;
        }
        await out.write(first ? "]\n" : "\n]\n");
        break;
      }
      default: {
        const never: never = opts.format;
        throw new CliError("CF_USAGE_FORMAT", `unknown format '${String(never)}'`, `use one of: ${FORMATS.join(", ")}`);
      }
    }
    await out.flush();
    if (opts.follow) await follow(reader, opts, out, colour, top);
    return 0;
  } finally {
    reader.close();
  }
};

/** Poll for rows after `from` until SIGINT/SIGTERM or the reader of stdout goes away. */
async function follow(reader: FlowReader, opts: Options, out: Out, colour: boolean, from: number): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let last = from;
  try {
    while (!stop.signal.aborted && !out.closed) {
      try {
        await sleep(POLL_MS, undefined, { signal: stop.signal });
      } catch {
        break; // aborted
      }
      const top = reader.maxId();
      if (top <= last) continue;
      for (const r of reader.iterate({ ...opts.filter, afterId: last, throughId: top })) {
        await out.write(opts.format === "jsonl" ? `${JSON.stringify(r)}\n` : tableLine(cells(r), FOLLOW_WIDTHS, colour));
      }
      await out.flush();
      last = top;
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await out.flush();
  }
}
