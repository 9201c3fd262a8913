/**
 * cli/flow-args — what the commands that read the flow store (`flows`, `learn`, `report`)
 * share: `--since` / `--until` (a duration back from now, or an ISO 8601 time) and
 * `--sandbox` turned into a FlowFilter, opening the store for reading, and the flow store's
 * errors turned into CliError (same code and fix, exit 2).
 *
 * Map: command values -> FlowFilter -> flows/store.ts's reader. Takes the clock as `nowMs`
 * from the command; imports flows/store.ts and cli/errors.ts only (no command, no runtime/).
 */
import { resolve as resolvePath } from "node:path";
import { FlowStoreError, openFlowReader, parseSince, type FlowFilter, type FlowReader } from "../flows/store.ts";
import { CliError, type CliIo } from "./errors.ts";

/** A FlowStoreError as the CliError cli/main.ts prints; anything else is rethrown. */
export function storeError(e: unknown): never {
  if (e instanceof FlowStoreError) throw new CliError(e.code, e.message, e.fix);
  throw e;
}

/** `--since` / `--until` into `filter` (CF_USAGE_SINCE when one does not parse). */
export function withTimeRange(filter: FlowFilter, values: { readonly since?: string | boolean | undefined; readonly until?: string | boolean | undefined }, nowMs: number): FlowFilter {
  let out = filter;
  for (const [opt, key] of [
    ["since", "sinceMs"],
    ["until", "untilMs"],
  ] as const) {
    const v = values[opt];
    if (typeof v !== "string") continue;
    try {
      out = { ...out, [key]: parseSince(v, nowMs) };
    } catch (e) {
      if (e instanceof FlowStoreError) throw new CliError("CF_USAGE_SINCE", `--${opt}: ${e.message}`, e.fix);
      throw e;
    }
  }
  return out;
}

/** --since/--until/--sandbox into a filter (learn, report). */
export function timeFilter(values: { since?: string | undefined; until?: string | undefined; sandbox?: string | undefined }, nowMs: number): FlowFilter {
  const filter = withTimeRange({}, values, nowMs);
  return values.sandbox !== undefined ? { ...filter, sandbox: values.sandbox } : filter;
}

/** Open the store (relative to io.cwd) for reading, mapping its errors to CliError (exit 2). */
export function openReader(db: string, io: CliIo): FlowReader {
  try {
    return openFlowReader(resolvePath(io.cwd, db));
  } catch (e) {
    return storeError(e);
  }
}
