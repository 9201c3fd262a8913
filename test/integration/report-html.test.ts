/**
 * The HTML report opened in a real browser (Debian's headless Chromium): the charts render.
 *
 * Two checks on a report made by `clawfence report --format html` from a real flow store:
 *  1. a copy with a measuring script appended (and the report's CSP meta removed so the script
 *     may run) is loaded with --dump-dom; the script writes the laid-out size of every
 *     `svg.chart` and how many of its `rect.bar` have a non-zero box;
 *  2. the report itself, CSP and all, is screenshotted; the PNG must contain the chart colours
 *     (allow green, deny red, would-deny orange), i.e. the inline SVG rendered under the CSP.
 * Chromium runs in a network namespace of its own (`unshare --net`, only a down loopback), so
 * it cannot reach anything. Without chromium the test is skipped with the reason, except under
 * CI=true, where that is a failure (.ci/run must install the `chromium` package).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { test } from "node:test";
import type { FlowEvent } from "../../src/runtime/events.ts";
import { makeEvents, tempStore } from "../unit/flows/learn-helpers.ts";

const ROOT = join(import.meta.dirname, "../..");

function findChromium(): string | null {
  for (const c of ["chromium", "chromium-browser"]) {
    const r = spawnSync("sh", ["-c", `command -v ${c}`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim() !== "") return r.stdout.trim();
  }
  return null;
}

const chromium = findChromium();
const skip = chromium === null && process.env["CI"] !== "true" ? "chromium is not installed (apt-get install chromium); set CI=true to make this a failure" : false;

function browser(dir: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const base = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    `--user-data-dir=${join(dir, "profile")}`,
    ...args,
  ];
  const root = process.getuid?.() === 0;
  const [cmd, argv] = root ? ["unshare", ["--net", chromium as string, ...base]] : [chromium as string, base];
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { stdout: r.stdout ?? "", stderr: r.stderr ?? "", status: r.status };
}

/** Decode an 8-bit, non-interlaced RGB/RGBA PNG into pixels (enough for Chromium's screenshots). */
function decodePng(buf: Buffer): { width: number; height: number; channels: number; data: Uint8Array } {
  assert.equal(buf.subarray(0, 8).toString("hex"), "89504e470d0a1a0a", "not a PNG");
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString("latin1", off + 4, off + 8);
    const body = buf.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.equal(body[8], 8, "bit depth 8");
      assert.equal(body[12], 0, "not interlaced");
      channels = body[9] === 6 ? 4 : body[9] === 2 ? 3 : 0;
      assert.ok(channels > 0, `colour type ${body[9]}`);
    } else if (type === "IDAT") idat.push(body);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const data = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? (data[y * stride + x - channels] as number) : 0;
      const b = y > 0 ? (data[(y - 1) * stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (data[(y - 1) * stride + x - channels] as number) : 0;
      const v = line[x] as number;
      let out: number;
      switch (filter) {
        case 0:
          out = v;
          break;
        case 1:
          out = v + a;
          break;
        case 2:
          out = v + b;
          break;
        case 3:
          out = v + ((a + b) >> 1);
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out = v + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          throw new Error(`PNG filter ${filter}`);
      }
      data[y * stride + x] = out & 0xff;
    }
  }
  return { width, height, channels, data };
}

function events(): FlowEvent[] {
  const ev = makeEvents();
  const out: FlowEvent[] = [];
  for (let i = 0; i < 30; i++) {
    out.push(ev({ name: "api.github.com", verdict: "allow", enforced: true, rule: "allow-github", reason: "rule-allow" }));
    if (i % 2 === 0) out.push(ev({ name: "api.openai.com", enforced: true, rule: "shadow-model-deny", reason: "rule-deny" }));
    if (i % 3 === 0) out.push(ev({ name: `new${i % 4}.example.com` }));
  }
  return out;
}

void test("the HTML report's charts render in headless Chromium", { skip }, () => {
  assert.ok(chromium, "chromium is not installed: .ci/run must install the Debian package `chromium` (CI=true makes this a failure)");
  const s = tempStore(events());
  const dir = mkdtempSync(join(tmpdir(), "cf-report-html-"));
  try {
    const html = join(dir, "report.html");
    const r = spawnSync(process.execPath, [join(ROOT, "src/cli/main.ts"), "report", "--db", s.path, "--format", "html", "-o", html], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(html, "utf8");

    // 1. layout, measured by the browser
    const measure = `<script>
const out = [...document.querySelectorAll("svg.chart")].map((s) => {
  const r = s.getBoundingClientRect();
  const bars = [...s.querySelectorAll("rect.bar")].map((b) => b.getBoundingClientRect()).filter((b) => b.width > 0 && b.height > 0).length;
  return { id: s.id, width: r.width, height: r.height, bars };
});
const pre = document.createElement("pre");
pre.id = "cf-measure";
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>`;
    const probe = join(dir, "probe.html");
    writeFileSync(probe, text.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, "").replace("</body>", `${measure}</body>`));
    const dom = browser(dir, ["--dump-dom", `file://${probe}`]);
    const m = /<pre id="cf-measure">(.*?)<\/pre>/s.exec(dom.stdout);
    assert.ok(m, `no measurement in the dumped DOM (status ${dom.status}): ${dom.stderr.slice(-2000)}`);
    const charts = JSON.parse((m[1] ?? "[]").replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as Array<{ id: string; width: number; height: number; bars: number }>;
    assert.deepEqual(
      charts.map((c) => c.id).sort(),
      ["chart-denied", "chart-rules", "chart-timeline", "chart-verdicts"],
    );
    for (const c of charts) {
      assert.ok(c.width > 100 && c.height > 10, `${c.id} is ${c.width}x${c.height}`);
      assert.ok(c.bars > 0, `${c.id} has no visible bar`);
    }
    assert.equal(charts.find((c) => c.id === "chart-verdicts")?.bars, 3);

    // 2. pixels of the report as shipped (CSP on, no script)
    const png = join(dir, "shot.png");
    const shot = browser(dir, [`--screenshot=${png}`, "--window-size=900,1400", `file://${html}`]);
    assert.equal(shot.status, 0, shot.stderr.slice(-2000));
    const img = decodePng(readFileSync(png));
    const near = (r: number, g: number, b: number, hex: string): boolean => {
      const [R, G, B] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
      return Math.abs(r - R) < 24 && Math.abs(g - G) < 24 && Math.abs(b - B) < 24;
    };
    const counts = { allow: 0, deny: 0, wouldDeny: 0 };
    for (let i = 0; i < img.width * img.height; i++) {
      const r = img.data[i * img.channels] as number;
      const g = img.data[i * img.channels + 1] as number;
      const b = img.data[i * img.channels + 2] as number;
      if (near(r, g, b, "#2e7d32")) counts.allow++;
      else if (near(r, g, b, "#c62828")) counts.deny++;
      else if (near(r, g, b, "#ef6c00")) counts.wouldDeny++;
    }
    assert.ok(counts.allow > 500 && counts.deny > 500 && counts.wouldDeny > 500, `chart colours in the screenshot: ${JSON.stringify(counts)}`);
  } finally {
    s.done();
    rmSync(dir, { recursive: true, force: true });
  }
});
