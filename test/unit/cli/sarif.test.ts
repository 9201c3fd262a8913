/**
 * `clawfence check --format sarif` (run as a real process from source) validated against the
 * official OASIS SARIF 2.1.0 JSON schema, vendored in test/fixtures/sarif-schema-2.1.0.json
 * (oasis-tcs/sarif-spec, Documents/CommitteeSpecifications/2.1.0; draft-07). Beyond the schema:
 * every result names a rule that tool.driver.rules describes at its ruleIndex, its level is the
 * diagnostic's severity, and its physicalLocation (artifact URI, startLine, startColumn) is the
 * same place the text format prints for the same finding, in the same order.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { Ajv } from "ajv";
import ajvFormats from "ajv-formats";
import type { Log, Result } from "sarif";

const ROOT = join(import.meta.dirname, "../../..");
const POLICY = join(ROOT, "test/fixtures/policy");
const LINT = join(ROOT, "test/fixtures/lint");

const schema = JSON.parse(readFileSync(join(ROOT, "test/fixtures/sarif-schema-2.1.0.json"), "utf8")) as Record<string, unknown>;
// strictRequired/strictTypes off: the official schema's anyOf/oneOf branches `require` properties
// that the surrounding object defines, which is valid JSON Schema that those checks flag
const ajv = new Ajv({ strict: true, allErrors: true, strictRequired: false, strictTypes: false });
// ajv-formats is CommonJS: the default import is its module.exports, whose `default` is the plugin
ajvFormats.default(ajv);
const validate = ajv.compile(schema);

function check(args: string[], cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, "src/cli/main.ts"), "check", ...args], { encoding: "utf8", cwd }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs `f` over `items` with at most `n` at once (each call spawns processes), results in order. */
async function pool<T, R>(items: readonly T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** One finding as the text format prints it: `FILE:LINE:COL: SEVERITY CODE: ...` (or `FILE: SEVERITY CODE: ...`). */
interface TextFinding {
  readonly file: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly severity: string;
  readonly code: string;
}

function textFindings(stdout: string): TextFinding[] {
  const out: TextFinding[] = [];
  for (const l of stdout.split("\n")) {
    const withPos = /^(.+):(\d+):(\d+): (error|warning|info) (CF[0-9A-Z_]+): /.exec(l);
    if (withPos) {
      const [, file, line, column, severity, code] = withPos as unknown as [string, string, string, string, string, string];
      out.push({ file, line: Number(line), column: Number(column), severity, code });
      continue;
    }
    const noPos = /^(.+): (error|warning|info) (CF[0-9A-Z_]+): /.exec(l);
    if (noPos) {
      const [, file, severity, code] = noPos as unknown as [string, string, string, string];
      out.push({ file, line: null, column: null, severity, code });
    }
  }
  return out;
}

/** The artifact URI the SARIF output must carry for a file named as the text output names it. */
function expectedUri(file: string, cwd: string): string {
  if (file.startsWith("preset:")) return file;
  if (file.startsWith("/")) return pathToFileURL(file).href;
  // relative names stay relative (resolved against the working directory by SARIF viewers)
  assert.ok(!file.includes("\\"), file);
  assert.ok(cwd.length > 0);
  return file
    .split("/")
    .map((s) => encodeURIComponent(s))
    .join("/");
}

const LEVEL: Record<string, string> = { error: "error", warning: "warning", info: "note" };

interface Checked {
  readonly log: Log;
  readonly results: Result[];
  readonly text: TextFinding[];
}

/**
 * Runs check in text and SARIF format, validates the SARIF against the schema and matches it to
 * the text output. Both runs exit alike: `expectStatus`, or when it is null, whatever text exits with.
 */
async function checkBoth(file: string, cwd: string, expectStatus: number | null): Promise<Checked> {
  const [sarif, text] = await Promise.all([check([file, "--format", "sarif"], cwd), check([file], cwd)]);
  assert.equal(sarif.status, expectStatus ?? text.status, `${file}: ${sarif.stderr}`);
  assert.ok(sarif.status === 0 || sarif.status === 1, `${file}: ${sarif.stderr}`);
  assert.equal(sarif.stderr, "");
  const log = JSON.parse(sarif.stdout) as Log;
  assert.ok(validate(log), `${file}: ${ajv.errorsText(validate.errors, { separator: "\n" })}`);

  assert.equal(text.status, sarif.status, text.stderr);
  const findings = textFindings(text.stdout);

  assert.equal(log.version, "2.1.0");
  assert.equal(log.runs.length, 1);
  const run = log.runs[0];
  assert.ok(run);
  assert.equal(run.columnKind, "utf16CodeUnits");
  const rules = run.tool.driver.rules ?? [];
  assert.equal(new Set(rules.map((r) => r.id)).size, rules.length, "rule ids in tool.driver.rules are unique");
  const results = run.results ?? [];
  assert.equal(results.length, findings.length, `${file}: one result per finding in the text output`);

  results.forEach((r, i) => {
    const t = findings[i];
    assert.ok(t);
    const where = `${file} result ${i} (${t.code})`;
    assert.equal(r.ruleId, t.code, where);
    assert.equal(typeof r.ruleIndex, "number", where);
    assert.equal(rules[r.ruleIndex ?? -1]?.id, r.ruleId, `${where}: ruleIndex points at the rule's descriptor`);
    assert.equal(r.level, LEVEL[t.severity], where);
    assert.ok(r.message.text && r.message.text.length > 0, where);
    const loc = r.locations?.[0]?.physicalLocation;
    assert.ok(loc, `${where}: has a physicalLocation`);
    assert.equal(loc.artifactLocation?.uri, expectedUri(t.file, cwd), where);
    if (t.line === null) {
      assert.equal(loc.region, undefined, where);
    } else {
      assert.equal(loc.region?.startLine, t.line, where);
      assert.equal(loc.region?.startColumn, t.column, where);
    }
  });
  return { log, results, text: findings };
}

void test("the vendored schema is the official SARIF 2.1.0 schema (draft-07)", () => {
  assert.equal(schema["$schema"], "http://json-schema.org/draft-07/schema#");
  assert.equal(schema["title"], "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema");
  assert.deepEqual((schema["properties"] as { version: { enum: string[] } }).version.enum, ["2.1.0"]);
});

void test("the schema refuses a log that breaks it, so validation is not vacuous", () => {
  const bad = { version: "2.1.0", runs: [{ tool: { driver: { name: "x" } }, results: [{ ruleId: "CF1", level: "fatal", message: { text: "m" } }] }] };
  assert.equal(validate(bad), false);
  assert.ok(validate.errors?.some((e) => e.instancePath.endsWith("/level")));
  const badRegion = { version: "2.1.0", runs: [{ tool: { driver: { name: "x" } }, results: [{ message: { text: "m" }, locations: [{ physicalLocation: { artifactLocation: { uri: "a.yaml" }, region: { startLine: 0 } } }] }] }] };
  assert.equal(validate(badRegion), false);
});

void test("a clean policy gives a valid log with no results and every known rule described", async () => {
  const { log, results } = await checkBoth("clean.yaml", POLICY, 0);
  assert.equal(results.length, 0);
  const driver = log.runs[0]?.tool.driver;
  assert.equal(driver?.name, "clawfence");
  const ids = new Set((driver?.rules ?? []).map((r) => r.id));
  for (const id of ["CF1001", "CF2001", "CF5001", "CF5044"]) assert.ok(ids.has(id), id);
});

void test("every lint fixture gives a valid log whose results match the text output", async () => {
  const files = readdirSync(LINT).filter((f) => f.endsWith(".yaml") && !f.endsWith(".fixed.yaml"));
  assert.ok(files.length >= 15);
  const levels = new Set<string>();
  const all = await pool(files, 3, (f) => checkBoth(f, LINT, null));
  all.forEach(({ results }, i) => {
    assert.ok(results.length > 0, `${files[i] ?? ""} has findings`);
    for (const r of results) levels.add(r.level ?? "");
  });
  assert.deepEqual([...levels].sort(), ["error", "note", "warning"], "the fixtures cover every severity");
});

void test("a fixture's results include its own code at the level its rule declares", async () => {
  const { log, results } = await checkBoth("CF5004_exception-before-deny.yaml", LINT, 0);
  const r = results.find((x) => x.ruleId === "CF5004");
  assert.equal(r?.level, "note");
  const rule = log.runs[0]?.tool.driver.rules?.find((x) => x.id === "CF5004");
  assert.equal(rule?.defaultConfiguration?.level, "note");
  assert.equal(typeof rule?.help?.text, "string");
});

void test("policy errors (unknown key, several errors, YAML syntax) give valid logs with error results", async () => {
  const files = ["unknown_key.yaml", "many_errors.yaml", "yaml_syntax.yaml", "duplicate_key.yaml", "empty.yaml"];
  const all = await pool(files, 3, (f) => checkBoth(f, POLICY, 1));
  all.forEach(({ results }, i) => {
    const f = files[i] ?? "";
    assert.ok(results.length > 0, f);
    assert.ok(results.every((r) => r.level === "error" && /^CF[1-4]\d{3}$/.test(r.ruleId ?? "")), f);
  });
  const results = all[0]?.results ?? [];
  assert.deepEqual(
    results.map((r) => [r.ruleId, r.locations?.[0]?.physicalLocation?.region?.startLine, r.locations?.[0]?.physicalLocation?.region?.startColumn]),
    [
      ["CF2007", 4, 5],
      ["CF2001", 5, 5],
    ],
  );
});

void test("findings in an extended file and in a built-in preset point at that artifact", async () => {
  const [cycle, product] = await Promise.all([checkBoth("extends_cycle_a.yaml", POLICY, 1), checkBoth("product_example.yaml", POLICY, 0)]);
  assert.equal(cycle.results[0]?.locations?.[0]?.physicalLocation?.artifactLocation?.uri, "extends_cycle_b.yaml");
  assert.ok(product.results.some((r) => r.locations?.[0]?.physicalLocation?.artifactLocation?.uri?.startsWith("preset:")));
});

void test("an absolute path becomes a file: URI and a name with a space and '#' is percent-encoded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-sarif-"));
  try {
    const name = "my policy #1.yaml";
    writeFileSync(join(dir, name), readFileSync(join(POLICY, "unknown_key.yaml"), "utf8"));
    const [rel, abs] = await Promise.all([checkBoth(name, dir, 1), checkBoth(join(dir, name), dir, 1)]);
    assert.equal(rel.results[0]?.locations?.[0]?.physicalLocation?.artifactLocation?.uri, "my%20policy%20%231.yaml");
    const uri = abs.results[0]?.locations?.[0]?.physicalLocation?.artifactLocation?.uri ?? "";
    assert.match(uri, /^file:\/\/\/.*\/my%20policy%20%231\.yaml$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
