/**
 * test/unit/compile/ir — the IR builder for compiler tests; the conformance suite's own
 * builder (src/compile/conformance.ts) re-exported so cases and tests read the same.
 */
export { irPolicy as buildPolicy, type PolicySpec, type RuleSpec } from "../../../src/compile/conformance.ts";
