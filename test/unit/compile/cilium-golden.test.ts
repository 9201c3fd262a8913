/**
 * Golden files for the cilium backend: every conformance case and every built-in preset,
 * compiled and compared byte for byte with test/golden/cilium/<case>.yaml (the output) and
 * <case>.notes.txt (notes, or the UnsupportedFeature with its rule and fix); the suite itself
 * is golden-runner.ts. Regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
import { backend } from "../../../src/compile/cilium/index.ts";
import { goldenSuite } from "./golden-runner.ts";

goldenSuite({ backend, target: "cilium", ext: "yaml", needsPins: false });
