"""Leaderboard tables as text: numbers to three significant figures, a separated best in bold (BOLD_RULE), and
Markdown, CSV, LaTeX (booktabs floats) and HTML renderings of one table."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from rnnbench.bench.axes import AXIS_NAMES as AXES

CI_LEVEL = 0.95  # the level of every interval (t_test) and of the verdicts (adjusted p below 1 - CI_LEVEL)
TIE_DIGITS = 12  # values equal to this many decimals are a tie (a seed mean's last bit depends on its seeds' order)


def number_text(x) -> str:
    """A number in a sentence: three significant figures; whole numbers of 1000 and more in full; NaN as an em
    dash."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    x = float(x)
    return f"{x:.0f}" if abs(x) >= 999.5 else f"{x:.3g}"  # 999.5 itself: .3g would write 1e+03


def cell_text(x) -> str:
    """A number in a table cell: three significant figures with their trailing zeros (0.150, 1.00, 2.50e-05), so
    every number of a column shows as many; an integer as itself; 1000 and more in full; NaN as an em dash."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return str(int(x))
    x = float(x)
    if abs(x) >= 999.5:  # 999.5 itself: .3g would write 1e+03
        return f"{x:.0f}"
    text = f"{x:#.3g}"  # '#' keeps the trailing zeros, and a trailing point where there is no fraction (123.)
    return text.removesuffix(".")


def whole_text(x) -> str:
    """A whole number (a count, a rank, a mean of steps) as one; NaN as an em dash."""
    return "—" if x is None or pd.isna(x) else f"{float(x):.0f}"


def signed_text(x, text: Callable[[float], str] = number_text) -> str:
    return text(x) if pd.isna(x) or x <= 0 else "+" + text(x)


def _arrow(higher_is_better) -> str:
    return "" if pd.isna(higher_is_better) else (" ↑" if higher_is_better else " ↓")


@dataclass(frozen=True)
class Column:
    """How a table column is shown: header, cell text, sort key, which value is best and its noise."""

    header: str | Callable[[pd.DataFrame], str]
    text: Callable[[pd.DataFrame, str], pd.Series] | None = None  # default: numbers via cell_text, a column of
    # whole numbers as whole numbers (but a `fraction` column: scores of 0 and 1 read 0.00 and 1.00)
    key: Callable[[pd.DataFrame, str], pd.Series] | None = None  # default: the raw column
    best: str | None = None  # "max", "min", or "direction" (the table's higher_is_better)
    noise: Callable[[pd.DataFrame], pd.Series] | None = None  # each row's standard error (BOLD_RULE)
    fraction: bool = False  # a measured quantity, three significant figures even where whole


def _fraction(header: str, total: str) -> Column:
    """A count shown as "k/n" of the `total` column, sorted by the fraction k/n."""
    return Column(
        header=header,
        text=lambda t, c: t[c].astype(int).astype(str) + "/" + t[total].astype(int).astype(str),
        key=lambda t, c: t[c] / t[total],
    )


def _mean_header(t: pd.DataFrame) -> str:
    metrics, directions = t["metric"].dropna().unique(), t["higher_is_better"].dropna().unique()
    if len(metrics) == 1 and len(directions) <= 1:
        return f"{metrics[0]}{_arrow(directions[0] if len(directions) else np.nan)} (mean ± std)"
    return "primary metric (mean ± std)"


def _mean_text(t: pd.DataFrame, c: str) -> pd.Series:
    return pd.Series([cell_text(m) if pd.isna(s) else f"{cell_text(m)} ± {cell_text(s)}" for m, s in zip(t["mean"], t["std"])],
                     index=t.index)


def interval_text(low, high, text: Callable[[float], str] = number_text) -> str:
    return f"[{signed_text(low, text)}, {signed_text(high, text)}]"


def _with_interval(t: pd.DataFrame, c: str) -> pd.Series:
    """A mean with its interval (the table's ci_low, ci_high): "+0.41 [+0.33, +0.49]"."""
    return pd.Series([signed_text(m, cell_text) if pd.isna(lo) else f"{signed_text(m, cell_text)} {interval_text(lo, hi, cell_text)}"
                      for m, lo, hi in zip(t[c], t["ci_low"], t["ci_high"])], index=t.index)


INTERVAL = f"[{CI_LEVEL:.0%} interval]"

COLUMNS: dict[str, Column] = {
    "task_label": Column("task"),
    "combo": Column("combo (full)"),
    "label": Column("combo"),
    "mean": Column(_mean_header, text=_mean_text, best="direction", noise=lambda t: t["std"] / np.sqrt(t["n_ok"])),
    "score": Column("score ↑", best="max", noise=lambda t: t.get("score_se"), fraction=True),
    "steps_to_best": Column("steps to best"),
    "last_score": Column("last-step score", fraction=True),
    "tuning": Column("tuning"),
    "params": Column("recurrent params"),
    "n_diverged": _fraction("diverged", "n_runs"),
    "n_failed": _fraction("failed", "n_runs"),
    "rank": Column("rank"),
    "mean_score": Column("mean score ↑", best="max", noise=lambda t: t.get("mean_score_se"), fraction=True),
    "mean_rank": Column("mean rank ↓"),  # no standard error: never bold (BOLD_RULE)
    "tasks_scored": _fraction("tasks scored", "n_tasks"),
    "baseline": Column("vs"),
    "effect": Column(f"mean Δ score {INTERVAL}", text=_with_interval),
    "n_pairs": Column("pairs"),
    "n_better": _fraction("better in", "n_pairs"),
    "n_worse": _fraction("worse in", "n_pairs"),
    "n_unscored": Column("unscored"),  # pairs (effects) or quadruples (interactions) with a corner without a score
    "axis_a": Column("axis A"),
    "level_a": Column("level A"),
    "axis_b": Column("axis B"),
    "level_b": Column("level B"),
    "interaction": Column(f"interaction (Δ of Δ score) {INTERVAL}", text=_with_interval),
    "n": Column("quadruples"),
    "measured_at": Column("where measured"),
    "p_holm": Column("Holm p"),
    "verdict": Column(lambda t: "verdict (Holm)" if "p_holm" in t else "verdict"),  # effects' / known claims'
    "tasks_paired": Column("tasks"),
    "n_seeds": Column("seeds"),
    "n_contexts": Column("contexts"),
    "n_both_diverged": Column("both diverged"),  # pairs whose runs both diverged before any validation
}
HIDDEN = {"metric", "higher_is_better", "std", "n_runs", "n_ok", "n_tasks", "ci_low", "ci_high",  # shown inside others
          "score_se", "mean_score_se",  # the noise bold is judged against (BOLD_RULE): in the csv
          "p",  # the unadjusted p-value: in the csv
          "combo", *AXES}  # shown by the short label; the csv has the full combo and one column per axis

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
        ">": r"\textgreater{}", "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "Δ": r"$\Delta$",
        "≥": r"$\geq$", "≤": r"$\leq$", "—": "---", "–": "--", "−": "-", "√": r"$\surd$", "≈": r"$\approx$",
        "σ": r"$\sigma$", "½": r"$\frac{1}{2}$", "…": r"\ldots{}", "→": r"$\rightarrow$", "×": r"$\times$",
        "∂": r"$\partial$", "‖": r"$\|$", "·": r"$\cdot$", "≠": r"$\neq$", "∞": r"$\infty$"}
LATIN = 0x250  # characters below this (ASCII, Latin-1, Latin Extended) pdflatex's utf8 input with T1 fonts typesets
_MD = {"\\": "\\\\", "|": "\\|", "*": "\\*", "`": "\\`", "&": "&amp;", "<": "&lt;", ">": "&gt;"}


def latex_escape(text: str) -> str:
    """`text` for LaTeX: its special characters escaped, the symbols the page uses as math, any other character
    beyond LATIN written as its code point ("[U+2202]") rather than stopping pdflatex."""
    return "".join(_TEX.get(ch, ch if ord(ch) < LATIN else f"[U+{ord(ch):04X}]") for ch in str(text))


def md_escape(text: str) -> str:
    return "".join(_MD.get(ch, ch) for ch in str(text))


def separated_best(values: pd.Series, noise: pd.Series | None, best: str) -> pd.Series:
    """BOLD_RULE: a mask with the best of `values` ("max" or "min") where it beats the runner-up by more than the
    larger of their standard errors (`noise`; one that is NaN is not counted, both NaN: no bold); else all False.
    Values equal to TIE_DIGITS decimals tie (no bold)."""
    none = pd.Series(False, index=values.index)
    ranked = values.round(TIE_DIGITS).dropna().sort_values(ascending=best == "min", kind="stable")
    if len(ranked) < 2 or noise is None:
        return none
    top, runner = ranked.index[0], ranked.index[1]
    gap = abs(ranked.iloc[0] - ranked.iloc[1])
    errors = pd.to_numeric(noise, errors="coerce").reindex([top, runner]).dropna()
    if errors.empty or not gap > errors.max():
        return none
    return none.where(none.index != top, True)


def _present(table: pd.DataFrame) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Headers, cell texts, sort keys and a best-value mask (BOLD_RULE) of the shown columns."""
    shown = [c for c in table.columns if c not in HIDDEN]
    headers, texts, keys, bold = [], {}, {}, {}
    for c in shown:
        col = COLUMNS.get(c, Column(c))
        headers.append(col.header(table) if callable(col.header) else col.header)
        raw = table[c]
        numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
        whole = numeric and not col.fraction and bool((raw.dropna() % 1 == 0).all())
        texts[c] = (col.text(table, c) if col.text else raw.map(whole_text) if whole else raw.map(cell_text)
                    if numeric else raw.astype(str))
        keys[c] = col.key(table, c) if col.key else raw
        best = col.best
        if best == "direction":
            directions = table["higher_is_better"].dropna().unique()
            best = ("max" if directions[0] else "min") if len(directions) == 1 else None
        if "tasks_scored" in table:  # the overall table: the best among the combos scored on the most tasks (none
            # where no combo has a score)
            raw = raw.where((table["tasks_scored"] == table["tasks_scored"].max()) & (table["tasks_scored"] > 0))
        noise = col.noise(table) if col.noise and best else None
        bold[c] = separated_best(raw, noise, best) if numeric and best else pd.Series(False, index=table.index)
    return headers, pd.DataFrame(texts, index=table.index), pd.DataFrame(keys, index=table.index), pd.DataFrame(bold, index=table.index)


def _sort_value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "" if np.isnan(v) else repr(float(v))
    return str(v)


BETTER = {"↑": "higher is better", "↓": "lower is better"}


def _html_header(header: str) -> str:
    """A header's text for a sortable <th>'s button: a direction arrow (↑ higher is better) in a span of class
    `better`, which the page hides once its column is sorted, so a header shows one arrow: ▲ or ▼ where sorted."""
    return "".join(f'<span class="better" title="{BETTER[ch]}">{ch}</span>' if ch in BETTER else html.escape(ch)
                   for ch in header)


def _html_table(headers, texts, keys, bold, table_id: str | None, caption: str | None) -> str:
    esc = html.escape
    head = "".join(f'<th scope="col"><button type="button">{_html_header(h)}</button></th>' for h in headers)
    rows = []
    for i in texts.index:
        cells = []
        for c in texts.columns:
            text = esc(texts.at[i, c])
            text = f"<strong>{text}</strong>" if bold.at[i, c] else text
            cells.append(f'<td data-sort-value="{esc(_sort_value(keys.at[i, c]))}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table class="sortable"{ident}>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody></table>\n")


def render(table: pd.DataFrame, fmt: str, table_id: str | None = None, caption: str | None = None) -> str:
    """The table as `md` (GitHub Markdown), `csv` (raw numbers, every column), `tex` (a `table` float with its
    caption and label `tab:<table_id>`, booktabs rules, numbers right-aligned, long text wrapped: it pastes into a
    paper with \\usepackage{booktabs}) or `html` (a sortable <table>, a button in each header, data-sort-value on every
    cell). In md/tex/html the best of the score and primary-metric columns is bold where BOLD_RULE separates it
    from the runner-up; every cell is escaped."""
    if fmt == "csv":
        return table.to_csv(index=False)
    headers, texts, keys, bold = _present(table)
    if fmt == "html":
        return _html_table(headers, texts, keys, bold, table_id, caption)
    escape, strong = {"md": (md_escape, "**{}**"), "tex": (latex_escape, r"\textbf{{{}}}")}[fmt]
    body = texts.map(escape)
    body = body.mask(bold, body.map(strong.format))
    body.columns = [escape(h) for h in headers]
    if fmt == "md":
        return body.to_markdown(index=False, disable_numparse=True) + "\n"
    return body.to_latex(index=False, escape=False, column_format=_tex_columns(table[texts.columns], texts),
                         caption=latex_escape(caption or f"rnnbench: {table_id or 'table'}"),
                         label=f"tab:{table_id}" if table_id else None, position="tbp")


TEX_WRAP = 40  # characters: a text column with longer cells wraps in a paragraph column (a claim, its evidence)


def _tex_columns(raw: pd.DataFrame, texts: pd.DataFrame) -> str:
    """LaTeX column types: numbers right-aligned (r), short text left (l), long text wrapped in a paragraph column
    whose width is its share of the line, so a table of claims fits the page."""
    kinds = []
    for c in texts.columns:
        numeric = pd.api.types.is_numeric_dtype(raw[c]) and not pd.api.types.is_bool_dtype(raw[c])
        longest = int(texts[c].str.len().max()) if len(texts) else 0
        kinds.append("r" if numeric else "p" if longest > TEX_WRAP else "l")
    wide = kinds.count("p")
    return "".join(f"p{{{0.9 / wide:.2f}\\linewidth}}" if k == "p" else k for k in kinds)
