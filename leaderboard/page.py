"""The leaderboard written out as pages: leaderboard.md (for a README) and the self-contained HTML of index.html
and of each table's own page (inline CSS and script: sorting and filtering; PNGs as data URIs; nothing fetched);
and TABLE_FORMATS, the files each section's table is written as (tables/<key>.<format>)."""

from __future__ import annotations

import base64
import html

from typing import Callable

from rnnbench.bench.registry import Registry
from rnnbench.leaderboard.context import Section, own_registrations
from rnnbench.leaderboard.render import md_escape, render
from rnnbench.leaderboard.tables import BOLD_RULE

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.25rem 0 1.5rem;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}
td{font-variant-numeric:tabular-nums}
th{background:#f4f4f4;padding:0}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:.25rem .6rem;cursor:pointer;
  text-align:left;width:100%}
th button:focus-visible{outline:2px solid #1a5fb4;outline-offset:-2px}
th[aria-sort] .better{display:none}
th[aria-sort=ascending] button::after{content:" \\25B2"} th[aria-sort=descending] button::after{content:" \\25BC"}
caption{text-align:left;font-weight:600} dt{font-weight:600;float:left;clear:left;width:8rem}
dd{margin-left:8.5rem} img{max-width:100%} .note{color:#555;font-size:.9rem}
.filter{font:inherit;font-size:.9rem;padding:.2rem .4rem;width:18rem} .shown{color:#555;font-size:.85rem;margin-left:.5rem}
#headline img{max-height:85vh;width:auto}
"""

# Sort on header activation (click, or Enter/Space on the header's button: a button is in the tab order) with
# numeric keys (data-sort-value) where both cells have one; missing values last. Filter: each table's search box
# hides the rows whose text does not contain what is typed (case-insensitive). Test hook: a URL ending in
# #sort=<tableId>:<columnIndex> activates that header after loading.
JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-sort-value');
    return v === null ? cell.textContent : v;
  }
  function numeric(v) { return v.trim() !== '' && isFinite(Number(v)); }
  function sortBy(th) {
    var body = th.closest('table').tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var sorted = th.getAttribute('aria-sort');  // a first sort: best first (a column marked higher-is-better: descending)
    var better = th.querySelector('.better');
    var ascending = sorted ? sorted !== 'ascending' : !(better && better.textContent === '\u2191');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = key(r1.cells[index]), b = key(r2.cells[index]);
      if (a === '' || b === '') return (a === '') - (b === '');
      var c = numeric(a) && numeric(b) ? Number(a) - Number(b) : a.localeCompare(b);
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  }
  document.querySelectorAll('table.sortable thead th button').forEach(function (button) {
    button.addEventListener('click', function () { sortBy(button.closest('th')); });
  });
  document.querySelectorAll('input.filter').forEach(function (input) {
    var table = document.getElementById(input.getAttribute('aria-controls'));
    var shown = input.nextElementSibling;
    function filter() {
      var q = input.value.trim().toLowerCase(), rows = table.tBodies[0].rows, n = 0;
      Array.prototype.forEach.call(rows, function (r) {
        r.hidden = q !== '' && r.textContent.toLowerCase().indexOf(q) < 0;
        n += r.hidden ? 0 : 1;
      });
      shown.textContent = q === '' ? '' : n + ' of ' + rows.length + ' rows';
    }
    input.addEventListener('input', filter);
  });
  var m = /^#sort=([^:]+):(\\d+)$/.exec(location.hash);
  var table = m && document.getElementById(decodeURIComponent(m[1]));
  var th = table && table.tHead.rows[0].cells[Number(m[2])];
  if (th) th.querySelector('button').click();
})();
"""

HEADLINE = ("Score per combination and task: the mean over seeds of the bounded score (0 the memoryless baseline "
            "or worse, 1 perfect or the task's reference model; the colours stop at 1), the best combination overall on "
            "top.")
READING = ("Sort a table by clicking a column header, or Tab to it and press Enter or Space (again: the other way); "
           "type in the box above a table to show only the rows containing that text. Numbers have three "
           f"significant figures; {BOLD_RULE}.")


def _summary(prov: dict[str, str]) -> str:
    """One line under the title: the suite and its runs (the provenance, in full, closes the page)."""
    return f"Suite {prov['suite']}: {prov['runs'].replace(' (', ' runs (', 1)}."


def markdown_page(prov: dict[str, str], found: list[str], sections: list[Section], plots: dict[str, bytes]) -> str:
    """leaderboard.md: the summary, the heat map, the findings, the sections shown in it (Section.markdown: the
    overall, per-task, effects, known-results and failed-run tables, and a user's), and the provenance."""
    lines = ["# rnnbench leaderboard", "", md_escape(_summary(prov)), ""]
    if "heatmap" in plots:
        lines += [f"![{HEADLINE}](plots/heatmap.png)", ""]
    lines += ["## Findings", ""] + [f"- {md_escape(s)}" for s in found]
    lines += ["", md_escape(f"Numbers have three significant figures; {BOLD_RULE}.")]
    for s in sections:
        if s.markdown:
            level = "###" if s.key.startswith("task-") else "##"
            if s.key.startswith("task-") and "## Tasks" not in lines:
                lines += ["", "## Tasks"]
            lines += ["", f"{level} {md_escape(s.title)}", "", md_escape(s.note), "", render(s.table, "md")]
    lines += ["", "Remedy effects per task, interactions and the length frontier: see `tables/` and `index.html`.", ""]
    lines += ["## Provenance", ""] + [f"- **{md_escape(k)}**: {md_escape(v)}" for k, v in prov.items()] + [""]
    return "\n".join(lines)


def _page(title: str, body: list[str]) -> str:
    """A self-contained HTML page: `body`'s parts between the head (CSS) and the script (JS: sorting, filtering),
    nothing fetched. The index and every tables/<name>.html page are one."""
    return "\n".join(["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
                      # nothing may be fetched: the page carries its own styles, script and images
                      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
                      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
                      f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style></head><body>", *body,
                      f"<script>{JS}</script></body></html>"])


def _table_html(s: Section) -> str:
    """A section's table with its filter box above it (JS filters the rows), or a note where it has no rows."""
    esc = html.escape
    if not len(s.table):
        return '<p class="note">(no rows)</p>'
    return (f'<p><input type="search" class="filter" aria-controls="{esc(s.key)}" placeholder="filter rows" '
            f'aria-label="filter the rows of {esc(s.title)}"><span class="shown" aria-live="polite"></span></p>'
            + render(s.table, "html", table_id=s.key))


def table_page(s: Section) -> str:
    """tables/<key>.html: one section's table as a page of its own, sortable and filterable as on the index."""
    esc = html.escape
    return _page(f"rnnbench: {s.title}", [f"<header><h1>{esc(s.title)}</h1><p class=\"note\">{esc(s.note)}</p>"
                                          "</header>", _table_html(s)])


def index_page(prov: dict[str, str], found: list[str], sections: list[Section], plots: dict[str, bytes]) -> str:
    """index.html: the summary, the heat map, the findings, every section with its plot, the gradient flow and the
    provenance."""
    esc = html.escape

    def image(key: str, alt: str, caption: str = "") -> str:
        data = base64.b64encode(plots[key]).decode("ascii")
        cap = f"<figcaption class=\"note\">{esc(caption)}</figcaption>" if caption else ""
        return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'

    parts = [f"<header><h1>rnnbench leaderboard</h1><p>{esc(_summary(prov))}</p></header>"]
    if "heatmap" in plots:
        parts.append(f'<section id="headline">{image("heatmap", "score per combination and task", HEADLINE)}</section>')
    parts += ['<section id="findings"><h2>Findings</h2><ul>'] + [f"<li>{esc(s)}</li>" for s in found]
    parts.append(f'</ul><p class="note">{esc(READING)}</p></section>')
    for s in sections:
        if s.key.startswith("task-") and '<h2 id="tasks">Tasks</h2>' not in parts:
            parts.append('<h2 id="tasks">Tasks</h2>')
        heading = "h3" if s.key.startswith("task-") else "h2"
        parts += [f'<section id="section-{esc(s.key)}"><{heading}>{esc(s.title)}</{heading}>',
                  f'<p class="note">{esc(s.note)}</p>', _table_html(s)]
        if s.plot in plots:
            parts.append(image(s.plot, s.alt))
        parts.append("</section>")
    if "gradient_flow" in plots:
        parts += ["<section><h2>Gradient flow</h2>",
                  '<p class="note">log10 of the gradient norm reaching each hidden state, at initialisation '
                  "(dashed) and at the best checkpoint (solid); zero norms (underflow) are left out.</p>",
                  image("gradient_flow", "gradient norm against time step"), "</section>"]
    parts += ['<section id="provenance"><h2>Provenance</h2><dl>']
    parts += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in prov.items()]
    parts.append("</dl></section>")
    return _page("rnnbench leaderboard", parts)


# Each table's files: format name (its file extension) -> the file's text for a section (tables/<key>.<name>).
TABLE_FORMATS: Registry[Callable[[Section], str]] = Registry("table format")


def _rendered(fmt: str) -> Callable[[Section], str]:
    def text(s: Section) -> str:
        return render(s.table, fmt, table_id=s.key, caption=f"rnnbench: {s.title}")

    return text


with own_registrations():  # rnnbench's own, in the order written
    TABLE_FORMATS.register("md")(_rendered("md"))
    TABLE_FORMATS.register("csv")(_rendered("csv"))
    TABLE_FORMATS.register("tex")(_rendered("tex"))
    TABLE_FORMATS.register("html")(table_page)  # a page of its own: the table with its note, sortable and filterable
