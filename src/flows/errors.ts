/**
 * flows/errors — failures of the flow store and its readers, with a stable code and a fix.
 *
 * Map: store.ts, schema.ts and query.ts throw `FlowStoreError`; cli/commands/flows.ts (and
 * learn/report) turn it into a CliError with the same code. The flows layer does not import
 * cli/ (dependencies point one way).
 * Codes: CF_FLOWS_NO_DB, CF_FLOWS_OPEN, CF_FLOWS_EMPTY_DB, CF_FLOWS_NOT_A_STORE,
 * CF_FLOWS_SCHEMA_NEWER, CF_FLOWS_SCHEMA_INVALID, CF_FLOWS_FILTER.
 */
export class FlowStoreError extends Error {
  readonly code: string;
  readonly fix: string;
  constructor(code: string, message: string, fix: string) {
    super(message);
    this.name = "FlowStoreError";
    this.code = code;
    this.fix = fix;
  }
}
