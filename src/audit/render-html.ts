/**
 * The audit as one HTML page (docs/audit.md "HTML page"): the matrix of who can read what
 * (files by identities, stale cells marked), sortable by any column and filterable by
 * secret (path text), by identity and by group, and the findings with their fixes. Self-
 * contained: styles and script are inline and a Content-Security-Policy forbids loading
 * anything, so it opens from disk with no network. Pure: report in, text out.
 */
import type { Access, AuditReport, IdentityReport } from "./report.js"
import { FINDING_CLASSES } from "./report.js"
import { ACCESS_MARKS, CLASS_TITLES } from "./render-table.js"

/** How to render. */
export interface HtmlOptions {
  /** The audited directory as shown. */
  readonly rootLabel: string
}

const ACCESS_TEXT: Readonly<Record<Access, string>> = {
  read: "can read",
  share: "holds one share of the data key",
  extra: "can read, but its rule no longer lists it (stale)",
  missing: "its rule lists it, but the file is not encrypted to it (stale)",
  unverified:
    "its rule lists it; the file has an X25519 stanza that may be its (age headers don't say)",
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;")
}

const STYLE = `
:root { color-scheme: light dark; --bad: #c62828; --warn: #b26a00; --ok: #2e7d32; --line: #8884; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta { color: #888; margin-bottom: 1rem; }
.controls { display: flex; gap: 1rem; flex-wrap: wrap; align-items: center; margin: .5rem 0; }
.controls label { display: flex; gap: .4rem; align-items: center; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: .2rem .45rem; }
th { position: sticky; top: 0; background: Canvas; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " ▲"; } th.sorted-desc::after { content: " ▼"; }
td.path { font-family: ui-monospace, monospace; white-space: nowrap; }
td.cell { text-align: center; min-width: 2.2rem; }
td.access-read, td.access-share { color: var(--ok); }
td.access-unverified { color: var(--warn); }
td.stale { color: #fff; background: var(--bad); font-weight: bold; }
tr.has-findings td.path::before { content: "⚠ "; color: var(--bad); }
.legend span { margin-right: 1rem; }
.findings td { vertical-align: top; }
.level-plaintext, .level-stale { color: var(--bad); font-weight: bold; }
.level-warning { color: var(--warn); }
code { font-family: ui-monospace, monospace; }
.hidden { display: none; }
`

const SCRIPT = `
(function () {
  var table = document.getElementById("matrix");
  if (!table) return;
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var secret = document.getElementById("filter-secret");
  var host = document.getElementById("filter-identity");
  var group = document.getElementById("filter-group");
  var rank = { extra: 5, read: 4, share: 3, unverified: 2, missing: 1, "": 0 };
  function apply() {
    var text = secret.value.toLowerCase();
    var id = host.value;
    var g = group ? group.value : "";
    headers.forEach(function (th, i) {
      var ident = th.getAttribute("data-identity");
      if (ident === null) return;
      var show = (id === "" || ident === id) && (g === "" || th.getAttribute("data-group") === g);
      Array.prototype.forEach.call(table.rows, function (row) {
        row.cells[i].classList.toggle("hidden", !show);
      });
    });
    Array.prototype.forEach.call(body.rows, function (row) {
      var path = row.getAttribute("data-path").toLowerCase();
      var visible = path.indexOf(text) !== -1;
      if (visible && id !== "") {
        var cell = row.querySelector('td[data-identity="' + CSS.escape(id) + '"]');
        visible = cell !== null && cell.getAttribute("data-access") !== "";
      }
      row.classList.toggle("hidden", !visible);
    });
  }
  function sortBy(index, th) {
    var asc = !th.classList.contains("sorted-asc");
    headers.forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
    var rows = Array.prototype.slice.call(body.rows);
    var kind = th.getAttribute("data-sort");
    rows.sort(function (a, b) {
      var x, y;
      if (kind === "path") { x = a.getAttribute("data-path"); y = b.getAttribute("data-path"); }
      else if (kind === "count") { x = Number(a.cells[index].textContent); y = Number(b.cells[index].textContent); }
      else { x = rank[a.cells[index].getAttribute("data-access")]; y = rank[b.cells[index].getAttribute("data-access")]; }
      var c = x < y ? -1 : x > y ? 1 : 0;
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  headers.forEach(function (th, i) {
    th.addEventListener("click", function () { sortBy(i, th); });
  });
  secret.addEventListener("input", apply);
  host.addEventListener("change", apply);
  if (group) group.addEventListener("change", apply);
  apply();
})();
`

function identityTitle(identity: IdentityReport): string {
  const keys = identity.keys.map((k) => k.key).join("\n")
  return `${identity.id}${identity.group === null ? "" : ` (${identity.group})`}${identity.listed ? "" : " — not in any rules file"}\n${keys}`
}

/**
 * Renders the report as a page.
 * @param report the audit
 * @param options how to name the root
 * @returns the whole HTML document
 */
export function renderHtml(report: AuditReport, options: HtmlOptions): string {
  const used = new Set(report.files.flatMap((f) => Object.keys(f.access)))
  const columns = report.identities.filter((i) => used.has(i.id))
  const groups = [...new Set(columns.map((c) => c.group).filter((g): g is string => g !== null))]
  const head = [
    `<th data-sort="path">secret file</th>`,
    `<th data-sort="count" title="identities that can read it">readers</th>`,
    ...columns.map(
      (c) =>
        `<th data-sort="access" data-identity="${escapeHtml(c.id)}" data-group="${escapeHtml(c.group ?? "")}" title="${escapeHtml(identityTitle(c))}">${escapeHtml(c.id)}</th>`,
    ),
  ].join("")
  const rows = report.files.map((file) => {
    const readers = Object.values(file.access).filter(
      (a) => a === "read" || a === "extra" || a === "share",
    ).length
    const cells = columns.map((c) => {
      const access = file.access[c.id]
      if (access === undefined) {
        return `<td class="cell" data-identity="${escapeHtml(c.id)}" data-access=""></td>`
      }
      const stale = access === "extra" || access === "missing"
      return `<td class="cell access-${access}${stale ? " stale" : ""}" data-identity="${escapeHtml(c.id)}" data-access="${access}" title="${escapeHtml(`${c.id}: ${ACCESS_TEXT[access]}`)}">${ACCESS_MARKS[access]}</td>`
    })
    const rule =
      file.rule === null
        ? "no rule"
        : file.rule.source === "sops"
          ? `${file.rule.file}: creation rule ${String(file.rule.index + 1)} (${file.rule.pathRegex})`
          : `${file.rule.file}: ${file.rule.name}`
    return `<tr data-path="${escapeHtml(file.path)}" class="${file.findings.length > 0 ? "has-findings" : ""}"><td class="path" title="${escapeHtml(`${rule}${file.findings.length > 0 ? `\nfindings: ${file.findings.join(", ")}` : ""}`)}">${escapeHtml(file.path)}</td><td class="count">${String(readers)}</td>${cells.join("")}</tr>`
  })
  const findings = FINDING_CLASSES.flatMap((cls) =>
    report.findings
      .filter((f) => f.class === cls)
      .map(
        (f) =>
          `<tr data-class="${f.class}"><td class="level-${f.level}">${escapeHtml(CLASS_TITLES[cls])}</td><td><code>${escapeHtml(f.path)}</code></td><td>${escapeHtml(f.message)}</td><td>${f.fix === null ? "" : `<code>${escapeHtml(f.fix)}</code>`}</td></tr>`,
      ),
  )
  const rules = [report.rules.sops, ...report.rules.agenix].filter((r): r is string => r !== null)
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>coffer audit: ${escapeHtml(options.rootLabel)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>coffer audit: ${escapeHtml(options.rootLabel)}</h1>
<div class="meta">${escapeHtml(report.generatedAt)} · ${String(report.summary.scanned)} files, ${String(report.summary.encrypted)} encrypted, ${String(columns.length)} identities · rules: ${escapeHtml(rules.length === 0 ? "none found" : rules.join(", "))}</div>
<h2>Who can read what</h2>
<div class="controls">
<label>Secret <input id="filter-secret" type="search" placeholder="path contains…"></label>
<label>Identity <select id="filter-identity"><option value="">all</option>${columns.map((c) => `<option value="${escapeHtml(c.id)}">${escapeHtml(c.id)}</option>`).join("")}</select></label>
${groups.length === 0 ? "" : `<label>Group <select id="filter-group"><option value="">all</option>${groups.map((g) => `<option value="${escapeHtml(g)}">${escapeHtml(g)}</option>`).join("")}</select></label>`}
</div>
<div class="legend">${(Object.keys(ACCESS_MARKS) as Access[]).map((a) => `<span>${ACCESS_MARKS[a]} ${escapeHtml(ACCESS_TEXT[a])}</span>`).join("")}</div>
<table id="matrix">
<thead><tr>${head}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>
<h2>Findings (${String(report.findings.length)})</h2>
${findings.length === 0 ? "<p>No findings.</p>" : `<table class="findings" id="findings"><thead><tr><th>finding</th><th>path</th><th>what</th><th>fix</th></tr></thead><tbody>\n${findings.join("\n")}\n</tbody></table>`}
<script>${SCRIPT}</script>
</body>
</html>
`
}
