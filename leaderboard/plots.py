"""Leaderboard plots: each takes the runs DataFrame of `load_results` and returns a Figure.

Figures are built on the Agg canvas directly (no pyplot, so no global state or GUI backend).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from leaderboard.tables import overall_table, task_order, task_table

MAX_LEGEND = 16  # more combos than this: the legend would hide the plot, so it is left out
PHASES = {"start": ("--", "start (initialisation)"), "end": ("-", "end (best checkpoint)")}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plain(text) -> str:
    """Text shown as is: a `$` would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


def _colors(combos) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(combos) <= 10 else "tab20"]
    return {c: cmap(i % cmap.N) for i, c in enumerate(combos)}


def _legend(fig: Figure, colors: dict, extra: list[Line2D] = ()) -> None:
    handles = list(extra)
    if len(colors) <= MAX_LEGEND:
        handles += [Line2D([], [], color=col, label=_plain(c)) for c, col in colors.items()]
    else:
        fig.suptitle(f"{len(colors)} combos (legend left out)", fontsize="small")
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


def gradient_flow_plot(df: pd.DataFrame) -> Figure:
    """log10 ||dL/dh_t|| against t from each run's gradient probe, one axes per task, one colour per
    combo (geometric mean over seeds): at initialisation dashed, at the best checkpoint solid.
    Zero norms (underflow) are left out of the line rather than drawn at -inf."""
    labels = task_order(df["task_label"])
    rows, cols = _grid(len(labels))
    fig = _figure(5 * cols + 4, 3.5 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colors = _colors(sorted(df["combo"].unique()))
    drawn = set()
    for ax, label in zip(axes, labels):
        runs = df[df["task_label"] == label]
        before = len(ax.lines)
        for combo, group in runs.groupby("combo", sort=True):
            for phase, (style, _) in PHASES.items():
                col = f"grad.probe.{phase}.norms"
                logs = _log_norms(group[col]) if col in group else None
                if logs is None or np.isnan(logs).all():
                    continue
                seen = (~np.isnan(logs)).sum(axis=0)  # a step underflowed in every seed stays NaN
                mean = np.where(seen > 0, np.nansum(logs, axis=0) / np.maximum(seen, 1), np.nan)
                steps = np.arange(1, len(mean) + 1)
                ax.plot(steps, mean, style, color=colors[combo])
                drawn.add(combo)
        ax.set(title=_plain(label), xlabel="time step t", ylabel="log10 ||dL/dh_t||")
        if len(ax.lines) == before:
            ax.text(0.5, 0.5, "no gradient probe recorded", ha="center", transform=ax.transAxes)
    for ax in axes[len(labels):]:
        ax.set_axis_off()
    styles = [Line2D([], [], color="grey", linestyle=s, label=name) for s, name in PHASES.values()]
    _legend(fig, {c: colors[c] for c in sorted(drawn)}, styles)
    return fig


def _history(runs: pd.DataFrame, key: str) -> pd.DataFrame:
    if "history" not in runs:
        return pd.DataFrame(columns=["run_id", "step", "value"], dtype=float)
    rows = [{"run_id": r.run_id, "step": h.get("step"), "value": h.get(key)}
            for r in runs[["run_id", "history"]].itertuples() if isinstance(r.history, list)
            for h in r.history if isinstance(h, dict)]
    frame = pd.DataFrame(rows, columns=["run_id", "step", "value"])
    return frame.astype({"step": float, "value": float}).dropna()


def learning_curves(df: pd.DataFrame, task_label: str) -> Figure:
    """Validation primary metric against step for one task: per combo the mean over ok seeds, with
    a band from the seeds' minimum to maximum, and the task's memoryless baseline dotted."""
    runs = df[(df["task_label"] == task_label) & (df["status"] == "ok")]
    fig = _figure(12, 4.5)
    ax = fig.subplots()
    metric = runs["primary_metric"].dropna().iloc[0] if runs["primary_metric"].notna().any() else None
    colors = _colors(sorted(runs["combo"].unique()))
    positive = True
    for combo, group in runs.groupby("combo", sort=True):
        curve = _history(group, f"val_{metric}").groupby("step")["value"].agg(["mean", "min", "max"])
        if curve.empty:
            continue
        ax.plot(curve.index, curve["mean"], color=colors[combo])
        ax.fill_between(curve.index, curve["min"], curve["max"], color=colors[combo], alpha=0.2, linewidth=0)
        positive &= bool((curve["min"] > 0).all())
    baseline = runs.get(f"baseline.{metric}", pd.Series(dtype=float)).dropna()
    if ax.lines and len(baseline):
        ax.axhline(float(baseline.iloc[0]), linestyle=":", color="grey")
        ax.annotate("memoryless baseline", (0, float(baseline.iloc[0])), xycoords=("axes fraction", "data"),
                    xytext=(4, 3), textcoords="offset points", fontsize="small", color="grey")
    higher = runs["higher_is_better"].dropna()
    if positive and ax.lines and len(higher) and not bool(higher.iloc[0]):
        ax.set_yscale("log")  # losses span decades; a log axis shows the late progress
    seeds = runs.groupby("combo")["run_id"].nunique().max() if len(runs) else 0
    spread = " (mean, min–max over seeds)" if seeds > 1 else ""
    ax.set(title=_plain(task_label), xlabel="step", ylabel=f"validation {metric}{spread}")
    if not ax.lines:
        ax.text(0.5, 0.5, "no ok run with a validation history", ha="center", transform=ax.transAxes)
    _legend(fig, colors)
    return fig


def heatmap(df: pd.DataFrame) -> Figure:
    """Mean normalized score (ok seeds) per combo (rows, best overall first) and task (columns);
    the colour scale spans [0, 1], a score below 0 (worse than the memoryless baseline) is red; a cell without an ok
    run is blank and marked '—'."""
    scores = task_table(df).pivot(index="combo", columns="task_label", values="score")
    scores = scores.reindex(index=overall_table(df)["combo"], columns=task_order(scores.columns))
    n_rows, n_cols = scores.shape
    fig = _figure(min(6 + 1.4 * n_cols, 40), min(2 + 0.35 * n_rows, 80))
    ax = fig.subplots()
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(under="tab:red")  # below 0: worse than the memoryless baseline
    image = ax.imshow(np.ma.masked_invalid(scores.to_numpy(dtype=float)), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(n_cols), [_plain(c) for c in scores.columns], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [_plain(c) for c in scores.index])
    if n_rows * n_cols <= 600:
        for (i, j), v in np.ndenumerate(scores.to_numpy(dtype=float)):
            dark = not np.isnan(v) and v <= 0.6  # viridis is dark below ~0.6 (and red below 0): white there
            ax.text(j, i, "—" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize="small",
                    color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label="score (0 baseline, 1 perfect; red: below the baseline)", extend="both")
    if scores.isna().to_numpy().any():
        ax.set_title("— : no ok run (every seed diverged or failed)", fontsize="small", loc="left")
    return fig
