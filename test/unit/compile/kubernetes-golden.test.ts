/**
 * Golden files for the kubernetes backend: every conformance case and every built-in preset,
 * compiled and compared byte for byte with test/golden/kubernetes/<case>.yaml (the output) and
 * <case>.notes.txt (notes, or the UnsupportedFeature with its rule and fix); the suite itself
 * is golden-runner.ts. Regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
import { backend } from "../../../src/compile/kubernetes/index.ts";
import { goldenSuite } from "./golden-runner.ts";

goldenSuite({ backend, target: "kubernetes", ext: "yaml", needsPins: true });
