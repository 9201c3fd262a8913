/**
 * flows/report/html — the report as one self-contained HTML file: inline CSS and SVG charts
 * drawn here (no script, no external resource), so it opens offline, can be attached to an
 * audit ticket, and a strict Content-Security-Policy (`default-src 'none'`) holds.
 *
 * Charts (each an `<svg class="chart" id="chart-...">` with `rect.bar` elements):
 *   chart-verdicts  one stacked bar: allow / deny / would deny
 *   chart-timeline  stacked columns per time bucket
 *   chart-rules     horizontal bars: decisions per rule (stacked by verdict)
 *   chart-denied    horizontal bars: the top denied destinations
 * Every value from the flow log is HTML-escaped (names are chosen by whoever controls the agent).
 *
 * Pure: Report in, text out.
 */
import type { Report } from "../report.ts";

const COLOURS = { allow: "#2e7d32", deny: "#c62828", wouldDeny: "#ef6c00" } as const;
type Series = keyof typeof COLOURS;
const LABELS: Readonly<Record<Series, string>> = { allow: "allow", deny: "deny", wouldDeny: "would deny" };

/** Escape text for HTML element content and attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function n(x: number): string {
  return x.toLocaleString("en-US");
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

function rect(x: number, y: number, w: number, h: number, series: Series, title: string): string {
  return `<rect class="bar bar-${series}" x="${fmt(x)}" y="${fmt(y)}" width="${fmt(w)}" height="${fmt(h)}" fill="${COLOURS[series]}"><title>${esc(title)}</title></rect>`;
}

function svg(id: string, title: string, width: number, height: number, body: string): string {
  return `<svg class="chart" id="${id}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${body}</svg>`;
}

function noData(id: string, title: string, width: number): string {
  return svg(id, title, width, 40, `<text x="8" y="24" class="muted">no decisions in this range</text>`);
}

function legend(series: readonly Series[]): string {
  return `<p class="legend">${series.map((s) => `<span><i style="background:${COLOURS[s]}"></i>${LABELS[s]}</span>`).join(" ")}</p>`;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Horizontal stacked bars, one row per item. */
function hbars(id: string, title: string, rows: ReadonlyArray<{ label: string; values: Partial<Record<Series, number>> }>): string {
  const width = 760;
  if (rows.length === 0) return noData(id, title, width);
  const labelW = 260;
  const valueW = 80;
  const rowH = 22;
  const barW = width - labelW - valueW;
  const max = Math.max(1, ...rows.map((r) => Object.values(r.values).reduce((a, b) => a + (b ?? 0), 0)));
  const parts: string[] = [];
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    parts.push(`<text x="${labelW - 8}" y="${y + 14}" text-anchor="end">${esc(cut(r.label, 38))}</text>`);
    let x = labelW;
    let total = 0;
    for (const s of ["allow", "deny", "wouldDeny"] as const) {
      const v = r.values[s] ?? 0;
      if (v <= 0) continue;
      const w = Math.max(1, (barW * v) / max);
      parts.push(rect(x, y, w, rowH - 6, s, `${r.label}: ${n(v)} ${LABELS[s]}`));
      x += w;
      total += v;
    }
    parts.push(`<text x="${fmt(x + 6)}" y="${y + 14}">${n(total)}</text>`);
  });
  return svg(id, title, width, rows.length * rowH + 8, parts.join(""));
}

function verdictBar(r: Report): string {
  const width = 760;
  const t = r.totals;
  if (t.total === 0) return noData("chart-verdicts", "Decisions by verdict", width);
  const parts: string[] = [];
  let x = 0;
  for (const s of ["allow", "deny", "wouldDeny"] as const) {
    const v = t[s];
    if (v <= 0) continue;
    const w = Math.max(1, (width * v) / t.total);
    parts.push(rect(x, 0, w, 28, s, `${n(v)} ${LABELS[s]} (${((100 * v) / t.total).toFixed(1)}%)`));
    x += w;
  }
  return svg("chart-verdicts", "Decisions by verdict", width, 28, parts.join(""));
}

function timeline(r: Report): string {
  const width = 760;
  const height = 220;
  const buckets = r.timeline.buckets;
  if (buckets.length === 0) return noData("chart-timeline", "Decisions over time", width);
  const left = 56;
  const bottom = 28;
  const plotW = width - left - 8;
  const plotH = height - bottom - 8;
  const max = Math.max(1, ...buckets.map((b) => b.allow + b.deny + b.wouldDeny));
  const step = plotW / buckets.length;
  const barW = Math.max(1, step * 0.8);
  const parts: string[] = [
    `<line x1="${left}" y1="${8 + plotH}" x2="${width - 8}" y2="${8 + plotH}" class="axis"/>`,
    `<text x="${left - 6}" y="14" text-anchor="end">${n(max)}</text>`,
    `<text x="${left - 6}" y="${8 + plotH}" text-anchor="end">0</text>`,
    `<text x="${left}" y="${height - 8}">${esc(buckets[0]?.start ?? "")}</text>`,
    `<text x="${width - 8}" y="${height - 8}" text-anchor="end">${esc(buckets[buckets.length - 1]?.start ?? "")}</text>`,
  ];
  buckets.forEach((b, i) => {
    let y = 8 + plotH;
    const x = left + i * step + (step - barW) / 2;
    for (const s of ["allow", "deny", "wouldDeny"] as const) {
      const v = b[s];
      if (v <= 0) continue;
      const h = Math.max(1, (plotH * v) / max);
      y -= h;
      parts.push(rect(x, y, barW, h, s, `${b.start}: ${n(v)} ${LABELS[s]}`));
    }
  });
  return svg("chart-timeline", "Decisions over time", width, height, parts.join(""));
}

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>, numeric: ReadonlySet<number> = new Set()): string {
  const th = head.map((h, i) => `<th${numeric.has(i) ? ' class="num"' : ""}>${esc(h)}</th>`).join("");
  const trs = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="num"' : ""}>${esc(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:820px;color:#1b1b1b;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:13px}th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top;word-break:break-all}
td.num,th.num{text-align:right;white-space:nowrap;word-break:normal}code{font-size:12px;word-break:break-all}
svg.chart{display:block;margin:.6em 0;overflow:visible}svg.chart text{font-size:11px;fill:#333}svg.chart .axis{stroke:#999}svg.chart text.muted{fill:#888}
.legend span{margin-right:1.2em}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.meta{color:#555}.bad{color:#c62828;font-weight:bold}.ok{color:#2e7d32}
`;

export function renderHtml(r: Report): string {
  const t = r.totals;
  const i = r.integrity;
  const pct = (v: number): string => (t.total === 0 ? "0%" : `${((100 * v) / t.total).toFixed(1)}%`);
  const body: string[] = [];
  body.push(`<h1>clawfence flow report</h1>`);
  body.push(
    `<p class="meta">source ${esc(r.source ?? "(unknown)")} · range ${esc(r.range.since ?? "start of log")} .. ${esc(r.range.until ?? "end of log")} · decisions ${esc(r.range.first ?? "-")} .. ${esc(r.range.last ?? "-")}${r.generatedAt ? ` · generated ${esc(r.generatedAt)}` : ""}</p>`,
  );
  if (r.policy) body.push(`<p>policy <b>${esc(r.policy.name)}</b> (${esc(r.policy.mode)}, ${r.policy.rules} rules) sha256 <code>${esc(r.policy.hash)}</code></p>`);

  body.push(`<h2>Totals</h2>`, legend(["allow", "deny", "wouldDeny"]), verdictBar(r));
  body.push(
    table(
      ["verdict", "decisions", "share"],
      [
        ["allow", n(t.allow), pct(t.allow)],
        ["deny", n(t.deny), pct(t.deny)],
        ["would deny (monitor)", n(t.wouldDeny), pct(t.wouldDeny)],
        ["total", n(t.total), ""],
      ],
      new Set([1, 2]),
    ),
  );
  body.push(`<p>Events dropped by the writers (whole store): <b${t.dropped > 0 ? ' class="bad"' : ""}>${n(t.dropped)}</b></p>`);

  body.push(`<h2>Timeline</h2>`, `<p class="meta">bucket ${r.timeline.bucketMs / 1000} s</p>`, timeline(r));

  body.push(`<h2>Top denied destinations</h2>`);
  body.push(hbars("chart-denied", "Top denied destinations", r.topDenied.map((d) => ({ label: d.destination, values: { deny: d.deny, wouldDeny: d.wouldDeny } }))));
  if (r.topDenied.length > 0) {
    body.push(
      table(
        ["destination", "ports", "denied", "would deny", "rules", "first", "last"],
        r.topDenied.map((d) => [d.destination, d.ports.join(", "), n(d.deny), n(d.wouldDeny), d.rules.join(", "), d.first, d.last]),
        new Set([2, 3]),
      ),
    );
    if (r.deniedDestinations > r.topDenied.length) body.push(`<p class="meta">${n(r.deniedDestinations - r.topDenied.length)} more denied destinations not shown.</p>`);
  }

  body.push(`<h2>Would deny in monitor mode</h2>`);
  if (r.wouldDeny.length === 0) body.push(`<p>No decision was downgraded by monitor mode.</p>`);
  else {
    body.push(`<p>These passed because of monitor mode; enforce mode will block them.</p>`);
    body.push(table(["destination", "ports", "decisions", "rules", "first", "last"], r.wouldDeny.map((d) => [d.destination, d.ports.join(", "), n(d.count), d.rules.join(", "), d.first, d.last]), new Set([2])));
    if (r.wouldDenyDestinations > r.wouldDeny.length) body.push(`<p class="meta">${n(r.wouldDenyDestinations - r.wouldDeny.length)} more not shown.</p>`);
  }

  body.push(`<h2>Hits per rule</h2>`);
  body.push(hbars("chart-rules", "Decisions per rule", r.rules.map((x) => ({ label: x.rule, values: { allow: x.allow, deny: x.deny, wouldDeny: x.wouldDeny } }))));
  if (r.rules.length > 0) {
    body.push(
      table(
        ["rule", "action", "decisions", "allow", "deny", "would deny", "first", "last"],
        r.rules.map((x) => [x.rule, x.action ?? (x.inPolicy === false ? "(not in this policy)" : ""), n(x.total), n(x.allow), n(x.deny), n(x.wouldDeny), x.first, x.last]),
        new Set([2, 3, 4, 5]),
      ),
    );
  }
  if (r.neverHit !== null) {
    body.push(`<h3>Rules never hit</h3>`);
    body.push(r.neverHit.length === 0 ? `<p>Every rule of the policy decided at least one flow.</p>` : `<ul>${r.neverHit.map((x) => `<li>${esc(x.rule)} (${x.action})</li>`).join("")}</ul>`);
  }

  body.push(`<h2>Policy hashes that decided</h2>`);
  body.push(
    r.policyHashes.length === 0
      ? `<p>No decisions in this range.</p>`
      : table(
          ["policy sha256", "decisions", "first", "last", ...(r.policy ? ["this policy"] : [])],
          r.policyHashes.map((h) => [h.hash ?? "(not recorded)", n(h.count), h.first, h.last, ...(r.policy ? [h.current ? "yes" : "no"] : [])]),
          new Set([1]),
        ),
  );
  body.push(`<h2>Sandboxes and sources</h2>`);
  body.push(table(["sandbox", "decisions"], r.sandboxes.map((s) => [s.sandbox ?? "(none)", n(s.count)]), new Set([1])));
  body.push(table(["kind", "decisions"], r.kinds.map((k) => [k.kind ?? "?", n(k.count)]), new Set([1])));

  body.push(`<h2>Integrity</h2><ul>`);
  body.push(`<li>hash chain head: row ${i.chainHeadId ?? "-"}, <code>${esc(i.chainHeadHash ?? "-")}</code></li>`);
  body.push(`<li>chain genesis: <code>${esc(i.genesis ?? "-")}</code></li>`);
  body.push(`<li>dropped events: ${n(i.dropped)}</li>`);
  const walk = i.verified === null ? "not run (use --verify)" : i.verified.ok ? `<span class="ok">ok</span>, ${n(i.verified.rows)} rows verified` : `<span class="bad">BROKEN</span> after ${n(i.verified.rows)} rows: ${esc(i.verified.detail ?? "")}`;
  body.push(`<li>chain walk: ${walk}</li></ul>`);

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clawfence flow report</title>
<style>${CSS}</style>
</head>
<body>
${body.join("\n")}
</body>
</html>
`;
}
