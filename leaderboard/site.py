"""Build the leaderboard: leaderboard.md, each section's table in every format, plots, and one self-contained page.

    out_dir/leaderboard.md             heat map, findings, overall, per-task, effects, known-results and failed-run
                                       tables (and a user's sections), for a README
    out_dir/tables/<name>.{md,csv,tex,html}   overall, task-<slug>, effects, effects-by-task, interactions, known,
                                              frontier, failed (where runs failed: their errors, grouped), and the
                                              sections of a user's files; each .html a page of its own, sortable and
                                              filterable as the index; a user's formats beside (page.TABLE_FORMATS)
    out_dir/tables/interactions-all.csv every interaction (the page shows the largest)
    out_dir/tables/tasks.csv           every task's rows in one file
    out_dir/plots/*.png                heatmap, gradient_flow, effects, curves-<slug>: each where it has something
                                       to draw (a probe, a validation history, a score)
    out_dir/index.html                 everything above, the heat map first, no network: inline CSS/JS, PNGs as data
                                       URIs, each table sortable from the keyboard and filterable

What each section shows: leaderboard.sections (registered in leaderboard.context.SECTIONS); the pages' Markdown
and HTML: leaderboard.page.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

from rnnbench.bench.registry import ConfigError
from rnnbench.bench.store import atomic_write, clean_temp_files
from rnnbench.leaderboard.collect import load_results
from rnnbench.leaderboard.page import TABLE_FORMATS, index_page, markdown_page
from rnnbench.leaderboard.plots import gradient_flow_plot, heatmap
from rnnbench.leaderboard.render import render
from rnnbench.leaderboard.sections import load_claims, page_provenance, page_sections
from rnnbench.leaderboard.tables import select_tuned


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def build(results_dirs: Iterable[str | Path] | str | Path, out_dir: str | Path, threshold: float = 0.9,
          claims_dirs: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Read every result.json under results_dirs and write the leaderboard into out_dir; the known results are
    checked on the claims folders' runs too (page_sections).

    Returns {path relative to out_dir: absolute path} of every file written."""
    dirs = [results_dirs] if isinstance(results_dirs, (str, Path)) else list(results_dirs)
    df = load_results(dirs)
    if df.empty:
        raise ConfigError(f"no result records found under {', '.join(map(str, dirs))} (expected <dir>/runs/<run_id>/result.json)")
    claims = load_claims(dirs, claims_dirs)
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    clean_temp_files(out)  # a killed build's (its files are written atomically: temp file, then rename)
    written: dict[str, Path] = {}

    def write(rel: str, content: str | bytes) -> None:
        written[rel] = atomic_write(out / rel, content)  # shards sharing --out may build it at once

    sections, tasks, found = page_sections(df, threshold, claims)
    for s in sections:
        for fmt, text in TABLE_FORMATS.items():
            write(f"tables/{s.key}.{fmt}", text(s))
    write("tables/tasks.csv", render(tasks, "csv"))
    for s in sections:
        if s.every_row is not None:
            write(f"tables/{s.key}-all.csv", render(s.every_row, "csv"))

    tuned = select_tuned(df)
    figures = {"heatmap": heatmap(tuned), "gradient_flow": gradient_flow_plot(tuned)}
    figures.update({s.plot: s.draw() for s in sections if s.plot})
    plots = {key: _png(fig) for key, fig in figures.items() if fig is not None}  # nothing to draw: no plot
    for key, png in plots.items():
        write(f"plots/{key}.png", png)

    prov = page_provenance(df)
    write("leaderboard.md", markdown_page(prov, found, sections, plots))
    write("index.html", index_page(prov, found, sections, plots))
    return written
