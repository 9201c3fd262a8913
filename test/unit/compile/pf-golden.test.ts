/**
 * Golden files for the pf backend: every conformance case and every built-in preset,
 * compiled and compared byte for byte with test/golden/pf/<case>.conf (the output) and
 * <case>.notes.txt (notes, or the UnsupportedFeature with its rule and fix); the suite itself
 * is golden-runner.ts. Regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
import { backend } from "../../../src/compile/pf/index.ts";
import { goldenSuite } from "./golden-runner.ts";

goldenSuite({ backend, target: "pf", ext: "conf", needsPins: true });
