/**
 * The shared conformance suite (src/compile/conformance.ts) against every registered backend.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BACKENDS } from "../../../src/compile/index.ts";
import { CASES, runConformance } from "../../../src/compile/conformance.ts";

for (const backend of Object.values(BACKENDS)) {
  void describe(`conformance: ${backend.name}`, () => {
    const results = runConformance(backend);
    CASES.forEach((c, i) => {
      void it(c.name, () => {
        const r = results[i];
        assert.ok(r);
        assert.deepEqual(r.problems, [], r.problems.join("; "));
        assert.equal(r.outcome, c.unsupported?.[backend.name] ? "unsupported" : "compiled");
      });
    });
  });
}
