/**
 * flows/report/markdown — the report as Markdown (for a pull request or an audit ticket).
 *
 * Every value that came from the flow log (names, rule names, sandboxes) is escaped: a DNS
 * name chosen by whoever controls the agent must not be able to add table cells, links or
 * HTML to the evidence. Pure: Report in, text out.
 */
import type { DestinationRow, Report } from "../report.ts";

/** Escape text for a Markdown table cell or paragraph. */
export function md(text: string): string {
  // oxlint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, " ").replace(/[\\`*_{}[\]()<>#+!|~&]/g, (c) => `\\${c}`);
}

function n(x: number): string {
  return x.toLocaleString("en-US");
}

function pct(part: number, total: number): string {
  return total === 0 ? "0%" : `${((100 * part) / total).toFixed(1)}%`;
}

function destTable(rows: readonly DestinationRow[], withDeny: boolean): string[] {
  const out = [
    withDeny ? "| destination | ports | decisions | denied | would deny | rules | first | last |" : "| destination | ports | decisions | rules | first | last |",
    withDeny ? "|---|---|--:|--:|--:|---|---|---|" : "|---|---|--:|---|---|---|",
  ];
  for (const r of rows) {
    const common = `| ${md(r.destination)} | ${md(r.ports.join(", "))} | ${n(r.count)} |`;
    const tail = ` ${md(r.rules.join(", "))} | ${r.first} | ${r.last} |`;
    out.push(withDeny ? `${common} ${n(r.deny)} | ${n(r.wouldDeny)} |${tail}` : `${common}${tail}`);
  }
  return out;
}

export function renderMarkdown(r: Report): string {
  const t = r.totals;
  const out: string[] = ["# clawfence flow report", ""];
  out.push(`- source: ${r.source === null ? "(unknown)" : `\`${r.source.replace(/`/g, "'")}\``}`);
  out.push(`- range asked: ${r.range.since ?? "(start of log)"} .. ${r.range.until ?? "(end of log)"}`);
  out.push(`- decisions from ${r.range.first ?? "-"} to ${r.range.last ?? "-"}`);
  if (r.generatedAt) out.push(`- generated: ${r.generatedAt}`);
  if (r.policy) out.push(`- policy: ${md(r.policy.name)} (${r.policy.mode}, ${r.policy.rules} rules), sha256 \`${r.policy.hash}\``);
  out.push("", "## Totals", "", "| verdict | decisions | share |", "|---|--:|--:|");
  out.push(`| allow | ${n(t.allow)} | ${pct(t.allow, t.total)} |`);
  out.push(`| deny | ${n(t.deny)} | ${pct(t.deny, t.total)} |`);
  out.push(`| would deny (monitor) | ${n(t.wouldDeny)} | ${pct(t.wouldDeny, t.total)} |`);
  out.push(`| **total** | **${n(t.total)}** | |`);
  out.push("", `Events dropped by the writers (whole store): ${n(t.dropped)}.`);

  out.push("", "## Policy hashes that decided", "");
  if (r.policyHashes.length === 0) out.push("No decisions in this range.");
  else {
    out.push("| policy sha256 | decisions | first | last |" + (r.policy ? " this policy |" : ""), "|---|--:|---|---|" + (r.policy ? "---|" : ""));
    for (const h of r.policyHashes) {
      out.push(`| ${h.hash === null ? "(not recorded)" : `\`${md(h.hash)}\``} | ${n(h.count)} | ${h.first} | ${h.last} |` + (r.policy ? ` ${h.current ? "yes" : "no"} |` : ""));
    }
  }

  out.push("", "## Top denied destinations", "");
  if (r.topDenied.length === 0) out.push("Nothing was denied.");
  else {
    out.push(...destTable(r.topDenied, true));
    if (r.deniedDestinations > r.topDenied.length) out.push("", `${n(r.deniedDestinations - r.topDenied.length)} more denied destinations not shown.`);
  }

  out.push("", "## Would deny in monitor mode", "");
  if (r.wouldDeny.length === 0) out.push("No decision was downgraded by monitor mode.");
  else {
    out.push("These passed because of monitor mode; enforce mode will block them.", "", ...destTable(r.wouldDeny, false));
    if (r.wouldDenyDestinations > r.wouldDeny.length) out.push("", `${n(r.wouldDenyDestinations - r.wouldDeny.length)} more not shown.`);
  }

  out.push("", "## Hits per rule", "");
  if (r.rules.length === 0) out.push("No decisions in this range.");
  else {
    out.push("| rule | action | decisions | allow | deny | would deny | first | last |", "|---|---|--:|--:|--:|--:|---|---|");
    for (const x of r.rules) {
      const action = x.action ?? (x.inPolicy === false ? "(not in this policy)" : "");
      out.push(`| ${md(x.rule)} | ${action} | ${n(x.total)} | ${n(x.allow)} | ${n(x.deny)} | ${n(x.wouldDeny)} | ${x.first} | ${x.last} |`);
    }
  }
  if (r.neverHit !== null) {
    out.push("", "### Rules never hit", "");
    if (r.neverHit.length === 0) out.push("Every rule of the policy decided at least one flow.");
    else for (const x of r.neverHit) out.push(`- ${md(x.rule)} (${x.action})`);
  }

  out.push("", "## Timeline", "", `Bucket: ${r.timeline.bucketMs / 1000} s. Buckets without decisions are left out.`, "");
  const busy = r.timeline.buckets.filter((b) => b.allow + b.deny + b.wouldDeny > 0);
  if (busy.length === 0) out.push("No decisions in this range.");
  else {
    out.push("| from | allow | deny | would deny |", "|---|--:|--:|--:|");
    for (const b of busy) out.push(`| ${b.start} | ${n(b.allow)} | ${n(b.deny)} | ${n(b.wouldDeny)} |`);
  }

  out.push("", "## Sandboxes and sources", "");
  out.push(`- sandboxes: ${r.sandboxes.map((s) => `${s.sandbox === null ? "(none)" : md(s.sandbox)} (${n(s.count)})`).join(", ") || "-"}`);
  out.push(`- kinds: ${r.kinds.map((k) => `${md(k.kind ?? "?")} (${n(k.count)})`).join(", ") || "-"}`);

  const i = r.integrity;
  out.push("", "## Integrity", "");
  out.push(`- hash chain head: row ${i.chainHeadId ?? "-"}, \`${i.chainHeadHash ?? "-"}\``);
  out.push(`- chain genesis: \`${i.genesis ?? "-"}\``);
  out.push(`- dropped events: ${n(i.dropped)}`);
  out.push(`- chain walk: ${i.verified === null ? "not run (use --verify)" : i.verified.ok ? `ok, ${n(i.verified.rows)} rows verified` : `BROKEN after ${n(i.verified.rows)} rows: ${md(i.verified.detail ?? "")}`}`);
  return `${out.join("\n")}\n`;
}
