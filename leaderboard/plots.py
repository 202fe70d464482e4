"""Leaderboard plots: each takes the runs DataFrame of `load_results` and returns a Figure, or None where it would
have nothing to draw (no empty axes on the page).

Figures are built on the Agg canvas directly (no pyplot, so no global state or GUI backend).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rnnbench.bench.axes import BASELINE_LEVELS
from rnnbench.leaderboard.tables import overall_table, remedy_levels, task_order, task_table
from rnnbench.leaderboard.render import CI_LEVEL

MAX_LEGEND = 16  # more combos than this: the best MAX_LEGEND - 1 and the all-baseline one in colour, the rest grey
OTHERS = "#c4c4c4"  # the colour of the combos left out of the legend
PHASES = {"start": ("--", "start (initialisation)"), "end": ("-", "end (best checkpoint)")}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plain(text) -> str:
    """Text shown as is: a `$` would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


def _baseline_combo(df: pd.DataFrame) -> str | None:
    """The combo with every remedy axis at its baseline level (the plain RNN), where the runs have it."""
    at_base = pd.Series(True, index=df.index)
    for axis, levels in remedy_levels(df).items():
        at_base &= levels == BASELINE_LEVELS[axis]
    combos = df.loc[at_base, "combo"]
    return combos.iloc[0] if len(combos) else None


def _colors(ranked: list[str], baseline: str | None = None) -> dict[str, tuple | None]:
    """A colour per combo, in alphabetical order (so with up to MAX_LEGEND combos, the same combo has the same colour
    in every plot); with more, only the best MAX_LEGEND - 1 of `ranked` (best first, per plot) and the all-baseline
    one get a colour, which then differs between plots, the others None (drawn thin and grey, one legend entry for
    all of them): 25 coloured lines read as none."""
    from matplotlib import colormaps

    shown = list(ranked)
    if len(ranked) > MAX_LEGEND:
        shown = ranked[: MAX_LEGEND - 1] + ([baseline] if baseline in ranked[MAX_LEGEND - 1 :] else [])
    # tab10 / tab20 without their greys (the grey of the other combos)
    palette = ([c for i, c in enumerate(colormaps["tab10"].colors) if i != 7] if len(shown) <= 9 else
               [c for i, c in enumerate(colormaps["tab20"].colors) if i not in (14, 15)])
    colors = {c: palette[i % len(palette)] for i, c in enumerate(sorted(shown))}
    return {c: colors.get(c) for c in ranked}


def _line_style(color) -> dict:
    return {"color": color, "zorder": 2} if color is not None else {"color": OTHERS, "linewidth": 0.8, "zorder": 1}


def _legend(fig: Figure, colors: dict, df: pd.DataFrame, extra: list[Line2D] = ()) -> None:
    """The coloured combos by their short labels (bench.axes.remedy_label, read from `df`'s runs), the grey ones as one
    entry."""
    names = overall_table(df).set_index("combo")["label"]
    handles = list(extra) + [Line2D([], [], color=col, label=_plain(names.get(c, c)))
                             for c, col in sorted(colors.items()) if col is not None]
    others = sum(col is None for col in colors.values())
    if others:
        handles.append(Line2D([], [], color=OTHERS, label=f"{others} other combos (see the tables)"))
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize="small")


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return -(-n // cols), cols


def _log_norms(series: pd.Series) -> np.ndarray | None:
    """Rows: runs; columns: time steps; log10 of the norms, NaN where a norm is zero or missing."""
    lists = [v for v in series if isinstance(v, list) and v]
    if not lists:
        return None
    n = min(len(v) for v in lists)
    arr = np.array([[np.nan if x is None else float(x) for x in v[:n]] for v in lists])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(arr > 0, np.log10(np.where(arr > 0, arr, 1.0)), np.nan)


def _probed(df: pd.DataFrame) -> pd.Series:
    """Whether each run recorded a gradient probe with a nonzero norm."""
    def has(v) -> bool:
        return isinstance(v, list) and any(x is not None and float(x) > 0 for x in v)

    cols = [f"grad.probe.{phase}.norms" for phase in PHASES if f"grad.probe.{phase}.norms" in df]
    return df[cols].map(has).any(axis=1) if cols else pd.Series(False, index=df.index)


def gradient_flow_plot(df: pd.DataFrame) -> Figure | None:
    """log10 ||dL/dh_t|| against t from each run's gradient probe, one axes per task with a probe, one colour per
    combo (geometric mean over seeds): at initialisation dashed, at the best checkpoint solid. Zero norms
    (underflow) are left out of the line rather than drawn at -inf. None where no run recorded a probe."""
    probed = _probed(df)
    if not probed.any():
        return None
    labels = task_order(df.loc[probed, "task_label"])
    rows, cols = _grid(len(labels))
    fig = _figure(5 * cols + 4, 3.5 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colors = _colors(list(overall_table(df)["combo"]), _baseline_combo(df))
    drawn = set()
    for ax, label in zip(axes, labels):
        runs = df[df["task_label"] == label]
        for combo, group in runs.groupby("combo", sort=True):
            for phase, (style, _) in PHASES.items():
                col = f"grad.probe.{phase}.norms"
                logs = _log_norms(group[col]) if col in group else None
                if logs is None or np.isnan(logs).all():
                    continue
                seen = (~np.isnan(logs)).sum(axis=0)  # a step underflowed in every seed stays NaN
                mean = np.where(seen > 0, np.nansum(logs, axis=0) / np.maximum(seen, 1), np.nan)
                steps = np.arange(1, len(mean) + 1)
                ax.plot(steps, mean, style, **_line_style(colors[combo]))
                drawn.add(combo)
        ax.set(title=textwrap.fill(_plain(label), 48), xlabel="time step t", ylabel="log10 ||dL/dh_t||")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[len(labels):]:
        ax.set_axis_off()
    styles = [Line2D([], [], color="grey", linestyle=s, label=name) for s, name in PHASES.values()]
    _legend(fig, {c: colors[c] for c in sorted(drawn)}, df, styles)
    return fig


def _history(runs: pd.DataFrame, key: str) -> pd.DataFrame:
    if "history" not in runs:
        return pd.DataFrame(columns=["run_id", "step", "value"], dtype=float)
    rows = [{"run_id": r.run_id, "step": h.get("step"), "value": h.get(key)}
            for r in runs[["run_id", "history"]].itertuples() if isinstance(r.history, list)
            for h in r.history if isinstance(h, dict)]
    frame = pd.DataFrame(rows, columns=["run_id", "step", "value"])
    return frame.astype({"step": float, "value": float}).dropna()


def learning_curves(df: pd.DataFrame, task_label: str) -> Figure | None:
    """Validation primary metric against step for one task: per combo the mean over ok seeds, with
    a band from the seeds' minimum to maximum, and the task's memoryless baseline dotted. None where no ok run
    has a validation history of the metric."""
    runs = df[(df["task_label"] == task_label) & (df["status"] == "ok")]
    metric = runs["primary_metric"].dropna().iloc[0] if runs["primary_metric"].notna().any() else None
    if metric is None or _history(runs, f"val_{metric}").empty:
        return None
    fig = _figure(12, 4.5)
    ax = fig.subplots()
    ranked = [c for c in task_table(df).query("task_label == @task_label")["combo"] if c in set(runs["combo"])]
    colors = _colors(ranked, _baseline_combo(runs))
    positive, low, high = True, np.inf, 0.0
    for combo, group in runs.groupby("combo", sort=True):
        curve = _history(group, f"val_{metric}").groupby("step")["value"].agg(["mean", "min", "max"])
        if curve.empty:
            continue
        ax.plot(curve.index, curve["mean"], **_line_style(colors[combo]))
        if colors[combo] is not None:  # the seeds' band for the coloured combos only
            ax.fill_between(curve.index, curve["min"], curve["max"], color=colors[combo], alpha=0.2, linewidth=0)
        positive &= bool((curve["min"] > 0).all())
        low, high = min(low, float(curve["min"].min())), max(high, float(curve["max"].max()))
    baseline = runs.get(f"baseline.{metric}", pd.Series(dtype=float)).dropna()
    if ax.lines and len(baseline):
        ax.axhline(float(baseline.iloc[0]), linestyle=":", color="grey")
        ax.annotate("memoryless baseline", (0, float(baseline.iloc[0])), xycoords=("axes fraction", "data"),
                    xytext=(4, 3), textcoords="offset points", fontsize="small", color="grey")
    higher = runs["higher_is_better"].dropna()
    if positive and ax.lines and len(higher) and not bool(higher.iloc[0]) and high > 10 * low:
        ax.set_yscale("log")  # losses spanning decades: a log axis shows the late progress (within one, too few ticks)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    seeds = runs.groupby("combo")["run_id"].nunique().max() if len(runs) else 0
    spread = " (mean, min–max over seeds)" if seeds > 1 else ""
    ax.set(title=_plain(task_label), xlabel="step", ylabel=f"validation {metric}{spread}")
    _legend(fig, colors, df)
    return fig


def heatmap(df: pd.DataFrame) -> Figure | None:
    """Score (tables.seed_score's seed mean, bounded below at 0; the colours saturate at 1) per combo (rows, best
    overall first) and task (columns); a cell without a score (every run failed) is blank and marked '—'. None where
    no cell has one."""
    scores = task_table(df).pivot(index="label", columns="task_label", values="score")
    if scores.isna().to_numpy().all():
        return None
    scores = scores.reindex(index=overall_table(df)["label"], columns=task_order(scores.columns))
    n_rows, n_cols = scores.shape
    fig = _figure(min(6 + 1.4 * n_cols, 40), min(2 + 0.35 * n_rows, 80))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(scores.to_numpy(dtype=float)), cmap="viridis", vmin=0, vmax=1,
                      aspect="auto")
    ax.set_xticks(range(n_cols), [_plain(c) for c in scores.columns], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [_plain(c) for c in scores.index])
    if n_rows * n_cols <= 600:
        for (i, j), v in np.ndenumerate(scores.to_numpy(dtype=float)):
            dark = not np.isnan(v) and v <= 0.6  # viridis is dark below ~0.6: white text there
            ax.text(j, i, "—" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize="small",
                    color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label="score (0 memoryless baseline or worse, 1 perfect or the reference)")  # short: it must fit
    if scores.isna().to_numpy().any():
        ax.set_title("— : no score (every run failed)", fontsize="small", loc="left")
    return fig


VERDICT_COLORS = {"helps": "tab:green", "hurts": "tab:red"}  # the others ("unclear", "no interval"): grey


def effects_plot(effects: pd.DataFrame, by_task: pd.DataFrame | None = None) -> Figure | None:
    """The pooled remedy effects (tables.remedy_effects) as a forest plot: one row per axis level, grouped by axis,
    its pooled effect as a dot with its unadjusted interval (CI_LEVEL) as a bar, coloured by its Holm-adjusted
    verdict (green helps, red hurts, grey unclear or no interval); each task's own effect (tables.effects_by_task,
    where given) as a small open circle on the same row, so the spread the pooled interval accounts for shows.
    None where no level has a scored pair."""
    rows = effects[effects["n_pairs"] > 0].iloc[::-1]  # matplotlib counts rows from the bottom
    if rows.empty:
        return None
    fig = _figure(10, 1.6 + 0.5 * max(len(rows), 1))
    ax = fig.subplots()
    ax.axvline(0, color="black", linewidth=0.8)
    for y, r in enumerate(rows.itertuples()):
        color = VERDICT_COLORS.get(r.verdict, "grey")
        if by_task is not None:
            own = by_task[(by_task["axis"] == r.axis) & (by_task["level"] == r.level)]["effect"]
            ax.plot(own, [y + 0.22] * len(own), "o", markersize=4, markerfacecolor="white", color="black",
                    linestyle="none", zorder=3, gid="task")  # just above the bar, so a grey bar does not hide them
        if pd.notna(r.ci_low):
            ax.plot([r.ci_low, r.ci_high], [y, y], color=color, linewidth=2, solid_capstyle="butt", gid="interval")
        ax.plot([r.effect], [y], "o", color=color, gid="mean")
    labels = [_plain(f"{r.axis}={r.level} vs {r.baseline} ({r.tasks_paired} task{'s' * (r.tasks_paired != 1)}; "
                     f"{r.measured_at})") for r in rows.itertuples()]
    ax.set_yticks(range(len(rows)), [textwrap.fill(label, 60) for label in labels])
    for y in [i - 0.5 for i in range(1, len(rows)) if rows["axis"].iloc[i] != rows["axis"].iloc[i - 1]]:
        ax.axhline(y, color=OTHERS, linewidth=0.6)  # between axes
    ax.set(xlabel=f"change in bounded score vs the baseline level: mean over tasks (dot) with its {CI_LEVEL:.0%} "
           "t-interval over tasks (bar; colour: Holm verdict), each task's own effect (open circles)",
           title="Remedy effects (runs matched on task, context and seed)")
    ax.xaxis.label.set_wrap(True)
    return fig
