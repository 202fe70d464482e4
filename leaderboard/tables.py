"""Aggregate runs into leaderboard tables (pandas) and render them as md / csv / tex / html.

Conventions, in one place:
- Scores are bounded (seed_score, SCORE_RULE): a run counts its normalized score clipped to [0, 1] wherever runs are
  averaged, ranked or compared, so that one run far worse than the memoryless baseline (an exploded Adam run scores
  about -1.2e7) cannot decide a mean. An `ok` run counts its best checkpoint's score; a `diverged` run the score of its
  best validated weights before the divergence, where its record has one, else 0, the memoryless baseline's score (it
  diverged before any validation: it left no usable model; leaving it out would let one surviving seed of three stand
  for its combo, and hide what clipping prevents); a `failed` run has no result and is left out. A combo's score on a
  task is the mean over its seeds; the counts per row say how many diverged or failed ("1/3 diverged").
- The primary metric's mean and spread (and the steps to the best checkpoint) are raw, over `ok` seeds only. The
  spread is the sample standard deviation (ddof=1, pandas' default), so it is blank for a single ok seed.
- A combo's rank on a task is by its score (1 = best, ties share the best rank); combos without a score (every
  run failed) share the last rank.
- Remedy effects (effects_by_task, remedy_effects, interactions) compare runs matched on the task (task_label), the
  levels of every other axis (the context) and the seed (matched seeds share their data). Per task: each seed's
  differences are averaged over the contexts it has scored pairs at (equal weight per context), then the effect is
  the mean over seeds with its t-interval over seeds (none for one seed). Pooled: the mean of the per-task effects
  (equal weight per task) with a t-interval over tasks, df = tasks - 1 (the task is the cluster: a task random
  effect by the summary-statistics method); with one task the pooled effect is that task's, with its interval over
  seeds. A pair where both runs diverged before any validation (both 0 by the score rule) enters as a difference
  of 0: leaving pairs out by their outcome would change the estimand; such pairs are counted apart. Each family
  (pooled effects, per-task effects, interactions) gets Holm's adjustment of its p-values; a verdict (helps, hurts)
  needs an adjusted p below 1 - CI_LEVEL. Intervals are marginal (unadjusted).
"""

from __future__ import annotations

import functools
import html
import itertools
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from bench.axes import AXIS_NAMES as AXES, BASELINE_LEVELS
from bench.store import STATUSES

LENGTH_PARAMS = ("seq_len", "delay", "bptt")  # task parameters a suite may sweep for the frontier
AT_BASELINE = 0.1  # a mean (bounded) score at most this "sits at the memoryless baseline"
CI_LEVEL = 0.95  # the effects' and interactions' intervals (mean_ci)
TIE_DIGITS = 12  # values equal to this many decimals are a tie (a seed mean's last bit depends on its seeds' order)


def task_order(labels) -> list[str]:
    """Distinct task labels in natural order: copy(delay=50) before copy(delay=100)."""
    def key(label: str):  # re.split with a group alternates text and digits, so types line up
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]

    return sorted(set(labels), key=key)


SCORE_RULE = ("each run's normalized score is clipped to [0, 1] (1 perfect, 0 the memoryless baseline or worse); a "
              "diverged run counts the score of its best validated weights before the divergence, clipped alike, or 0 "
              "where it diverged before any validation; a failed run is left out")


def seed_score(df: pd.DataFrame) -> pd.Series:
    """Each run's score as every aggregate counts it (SCORE_RULE): the normalized score clipped to [0, 1] for an ok
    run and for a diverged run that recorded one (its best weights before the divergence), 0 for a diverged run
    without one, NaN for a failed run and for an ok run without a score."""
    bounded = df["normalized_score"].clip(0.0, 1.0)
    bounded = bounded.mask((df["status"] == "diverged") & bounded.isna(), 0.0)
    return bounded.where(df["status"] != "failed")


def _rank(scores: pd.Series, by) -> pd.Series:
    """Ranks by descending score within groups, ties (TIE_DIGITS) sharing the best rank, no score last."""
    return scores.round(TIE_DIGITS).groupby(by).rank(ascending=False, method="min", na_option="bottom")


def task_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task_label, combo): primary metric mean/std over ok seeds, the score (seed_score's mean over
    seeds), mean steps to the best checkpoint over ok seeds, run counts by status, and the rank within the task."""
    keys = ["task_label", "combo"]
    ok = df[df["status"] == "ok"]
    stats = ok.groupby(keys).agg(
        mean=("value", "mean"),
        std=("value", "std"),  # ddof=1
        steps_to_best=("best_step", "mean"),
    ).join(df.assign(score=seed_score(df)).groupby(keys)["score"].mean(), how="outer")
    counts = pd.crosstab([df["task_label"], df["combo"]], df["status"]).reindex(columns=list(STATUSES), fill_value=0)
    counts = counts.rename(columns=lambda s: f"n_{s}").assign(n_runs=lambda c: c.sum(axis=1))
    # the task's metric and direction, from any run that got far enough to record them
    info = df.groupby("task_label").agg(metric=("primary_metric", "first"), higher_is_better=("higher_is_better", "first"))
    table = counts.join(stats).reset_index().join(info, on="task_label")
    table["rank"] = _rank(table["score"], table["task_label"])
    position = {label: i for i, label in enumerate(task_order(table["task_label"]))}
    table = table.sort_values(["task_label", "rank", "combo"], kind="stable", ignore_index=True,
                              key=lambda c: c.map(position) if c.name == "task_label" else c)
    columns = ["task_label", "combo", "metric", "higher_is_better", "mean", "std", "score", "steps_to_best",
               "n_runs", "n_ok", "n_diverged", "n_failed", "rank"]
    return table[columns]


def overall_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per combo: mean over tasks of its score (tasks without one, every run failed, left out, and
    counted in `tasks_scored` out of every task in the table, `n_tasks`: one it did not run on, in
    results merged from different grids, is not scored either), mean rank over every task it ran on, and
    total run counts. Sorted by the tasks it has no score on (fewest first: a combo whose runs failed on four
    tasks and solved the fifth, or ran on the easier half, does not head the table), then by mean score."""
    per_task = task_table(df)
    table = per_task.groupby("combo").agg(
        mean_score=("score", "mean"),
        mean_rank=("rank", "mean"),
        tasks_scored=("score", "count"),
        n_runs=("n_runs", "sum"),
        n_diverged=("n_diverged", "sum"),
        n_failed=("n_failed", "sum"),
    )
    table.insert(3, "n_tasks", per_task["task_label"].nunique())
    table["unscored"] = table["n_tasks"] - table["tasks_scored"]
    table = table.reset_index().sort_values(["unscored", "mean_score", "mean_rank", "combo"],
                                            ascending=[True, False, True, True], na_position="last", kind="stable",
                                            ignore_index=True, key=lambda c: c.round(TIE_DIGITS) if c.dtype.kind == "f" else c)
    return table.drop(columns="unscored")


def remedy_levels(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Each run's level on every remedy axis; an axis a record leaves null (say, activation on a gated cell) takes
    the baseline level."""
    return {a: df.get(f"remedies.{a}", pd.Series(index=df.index, dtype=object)).fillna(BASELINE_LEVELS[a]) for a in AXES}


def _cells(df: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean score (seed_score) per (task_label, remedy levels, as remedy_levels reads them); NaN where every
    run failed."""
    frame = pd.DataFrame({"task_label": df["task_label"], **remedy_levels(df), "score": seed_score(df)})
    return frame.groupby(["task_label", *AXES], dropna=False)["score"].mean().reset_index()


def _pairs(cells: pd.DataFrame, axis: str, level: str) -> pd.DataFrame:
    """Cells at `level` matched to the baseline level of `axis`, all else equal; `delta` = difference."""
    others = ["task_label"] + [a for a in AXES if a != axis]
    hi = cells[cells[axis] == level].drop(columns=axis)
    lo = cells[cells[axis] == BASELINE_LEVELS[axis]].drop(columns=axis)
    matched = hi.merge(lo, on=others, suffixes=("", "_base"))
    return matched[others].assign(delta=matched["score"] - matched["score_base"])


@functools.lru_cache(maxsize=None)
def t_quantile(p: float, df: int) -> float:
    """The p-quantile (0.5 <= p < 1) of Student's t with df degrees of freedom, without SciPy: with x = sqrt(df) tan u
    its CDF is 1/2 + K * integral_0^u cos^(df-1) (K = Gamma((df+1)/2) / (sqrt(pi) Gamma(df/2))), a smooth integrand
    on a bounded range (Simpson's rule), solved for u by bisection. 12.706 for p=0.975, df=1; 1.960 as df grows."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    k = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(math.pi)

    def cdf(u: float) -> float:  # P(T <= sqrt(df) tan u), by Simpson's rule on 2000 panels
        y = np.cos(np.linspace(0.0, u, 4001)) ** (df - 1)
        return 0.5 + k * float(y[0] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum() + y[-1]) * u / 4000 / 3

    low, high = 0.0, math.pi / 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < p else (low, mid)
    return math.sqrt(df) * math.tan((low + high) / 2)


def mean_ci(values, level: float = CI_LEVEL) -> tuple[float, float]:
    """The t-interval of the mean of `values` (NaNs left out): mean +- t(n-1) s / sqrt(n), the paired-difference
    interval, which holds its level at a few values where a bootstrap's falls short (about 76% at n=3 for a
    nominal 95%). It counts the values as independent. (NaN, NaN) for fewer than two values."""
    if not 0 < level < 1:
        raise ValueError(f"mean_ci needs 0 < level < 1, got {level}")
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return np.nan, np.nan
    half = t_quantile(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def _levels(cells: pd.DataFrame, axis: str) -> list[str]:
    return sorted(set(cells[axis]) - {BASELINE_LEVELS[axis]})


def remedy_effects(df: pd.DataFrame) -> pd.DataFrame:
    """Per axis and non-baseline level: mean change in normalized score vs the axis's baseline level
    over matched pairs, with its t-interval over those pairs (`ci_low`, `ci_high`: mean_ci; how consistently the
    level helps across the grid's tasks and other axes' levels, seed noise included); `n_pairs`
    scored pairs, `n_better` / `n_worse` of them where the level scored higher / lower (the rest scored the
    same: a level that changed nothing there), `n_unscored` pairs where a side had no score (every run failed)."""
    cells = _cells(df)
    rows = []
    for axis in AXES:
        for level in _levels(cells, axis):
            delta = _pairs(cells, axis, level)["delta"]
            low, high = mean_ci(delta)
            rows.append({"axis": axis, "level": level, "baseline": BASELINE_LEVELS[axis], "effect": delta.mean(),
                         "ci_low": low, "ci_high": high, "n_pairs": int(delta.count()),
                         "n_better": int((delta > 0).sum()), "n_worse": int((delta < 0).sum()),
                         "n_unscored": int(delta.isna().sum())})
    return pd.DataFrame(rows, columns=["axis", "level", "baseline", "effect", "ci_low", "ci_high", "n_pairs",
                                       "n_better", "n_worse", "n_unscored"])


def interactions(df: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The strongest 2x2 interactions: for levels a (axis A) and b (axis B), the mean over matched
    quadruples of [s(a,b) - s(a0,b)] - [s(a,b0) - s(a0,b0)], a0/b0 the baseline levels, with its t-interval
    over the quadruples (`ci_low`, `ci_high`, as in remedy_effects); `n` scored quadruples,
    `n_unscored` those where a corner had no score (left out of the mean, as in remedy_effects)."""
    cells = _cells(df)
    rows = []
    for axis_a, axis_b in itertools.combinations(AXES, 2):
        for level_a in _levels(cells, axis_a):
            pairs = _pairs(cells, axis_a, level_a)  # effect of level_a, at every level of axis_b
            keys = ["task_label"] + [a for a in AXES if a not in (axis_a, axis_b)]
            at_base = pairs[pairs[axis_b] == BASELINE_LEVELS[axis_b]].drop(columns=axis_b)
            for level_b in _levels(cells, axis_b):
                at_b = pairs[pairs[axis_b] == level_b].drop(columns=axis_b)
                m = at_b.merge(at_base, on=keys, suffixes=("", "_base"))
                contrast = m["delta"] - m["delta_base"]
                if contrast.count():
                    rows.append({"axis_a": axis_a, "level_a": level_a, "axis_b": axis_b, "level_b": level_b,
                                 "interaction": contrast.mean(), "contrast": contrast, "n": int(contrast.count()),
                                 "n_unscored": int(contrast.isna().sum())})
    table = pd.DataFrame(rows, columns=["axis_a", "level_a", "axis_b", "level_b", "interaction", "contrast", "n",
                                        "n_unscored"])
    order = table["interaction"].abs().sort_values(ascending=False, kind="stable").index
    table = table.loc[order].head(top).reset_index(drop=True)  # the intervals of the rows shown only
    bounds = pd.DataFrame([mean_ci(c) for c in table.pop("contrast")], columns=["ci_low", "ci_high"], dtype=float)
    table.insert(5, "ci_low", bounds["ci_low"])
    table.insert(6, "ci_high", bounds["ci_high"])
    return table


def _family_label(task_label: str, task: str, param: str, lengths: list) -> str:
    tested = "/".join(_num(v) for v in lengths)
    label, n = re.subn(rf"\b{param}=[^,)]*", f"{param}={tested}", task_label)
    return label if n else f"{task}({param}={tested})"


def frontier(df: pd.DataFrame, threshold: float = 0.9) -> pd.DataFrame:
    """Where a task sweeps a length parameter (seq_len, delay, bptt) with its other parameters
    fixed: per combo, the longest tested value whose score (seed_score's mean) is >= threshold (NaN: none).
    One column per swept family, named by its task label with the tested values."""
    params = [c for c in df.columns if c.startswith("config.task.params.")]
    columns: dict[str, pd.Series] = {}
    scored = df.assign(_score=seed_score(df))
    for task, runs in scored.groupby("task", sort=True):
        for param in LENGTH_PARAMS:
            col = f"config.task.params.{param}"
            if col not in runs or runs[col].nunique() < 2:
                continue
            trained_apart = [c for c in ("training_setting",) if c in runs]  # budgets etc. differ: not one family
            others = [c for c in params if c != col and runs[c].notna().any()] + trained_apart
            families = runs.groupby(others, dropna=False, sort=True) if others else [(None, runs)]
            for _, fam in families:
                lengths = sorted(fam[col].dropna().unique())
                if len(lengths) < 2:
                    continue
                means = fam.groupby(["combo", col])["_score"].mean().reset_index()
                solved = means[means["_score"] >= threshold].groupby("combo")[col].max()
                label = _family_label(fam["task_label"].iloc[0], task, param, lengths)
                columns[label] = solved.reindex(sorted(fam["combo"].unique())).astype(float)
    if not columns:
        return pd.DataFrame(columns=["combo"])
    return pd.DataFrame(columns).rename_axis("combo").reset_index()


def _names(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def effect_finding(effects: pd.DataFrame) -> str | None:
    """One sentence on the remedy effects (remedy_effects' table): the levels whose interval lies above 0, below 0,
    or spans it, each with its mean change and interval. None where no level has a scored pair."""
    scored = effects[effects["n_pairs"] > 0]
    if scored.empty:
        return None

    def named(rows: pd.DataFrame) -> str:
        return _names([f"{r.axis}={r.level} {_signed(r.effect)}" + ("" if pd.isna(r.ci_low) else
                       f" {_interval(r.ci_low, r.ci_high)}") + f" (better in {r.n_better}, worse in {r.n_worse} of {r.n_pairs} pairs)"
                       for r in rows.itertuples()])

    groups = [("helps (interval above 0)", scored[scored["ci_low"] > 0].sort_values("effect", ascending=False)),
              ("hurts (interval below 0)", scored[scored["ci_high"] < 0].sort_values("effect")),
              ("no clear effect (interval spans 0)",
               scored[(scored["ci_low"] <= 0) & (scored["ci_high"] >= 0)].sort_values("effect", key=abs, ascending=False)),
              ("too few pairs to tell", scored[scored["ci_low"].isna()])]
    parts = [f"{what}: {named(rows)}" for what, rows in groups if len(rows)]
    return (f"Remedy effects (mean change in score when one axis leaves its baseline level, all else equal, with its "
            f"{CI_LEVEL:.0%} t-interval over the matched pairs): " + "; ".join(parts) + ".")


def findings(task_tbl: pd.DataFrame, overall_tbl: pd.DataFrame, threshold: float = 0.9,
             effects: pd.DataFrame | None = None) -> list[str]:
    """Plain sentences with numbers, read off the task and overall tables (and the remedy effects, where given)."""
    out = []
    scored = overall_tbl.dropna(subset=["mean_score"])
    if len(scored):
        best = scored.iloc[0]  # the table puts combos scored on every task they ran on first
        beaten = "" if best.mean_score > AT_BASELINE else " (no combo beats the memoryless baseline on average)"
        out.append(f"Best overall: {best.combo}, mean score {_num(best.mean_score)} over "
                   f"{best.tasks_scored}/{best.n_tasks} tasks, mean rank {_num(best.mean_rank)}{beaten}.")
    if effects is not None and (sentence := effect_finding(effects)):
        out.append(sentence)
    for label, t in task_tbl.groupby("task_label", sort=False):  # the table's (natural) order
        solved = t[t["score"] >= threshold]
        unscored = t[t["n_ok"] == 0]  # every seed diverged (score 0) or failed: said apart, not "at the baseline"
        at_base = t[(t["score"] <= AT_BASELINE) & (t["n_ok"] > 0)]
        if len(solved):
            verb = "solves" if len(solved) == 1 else "solve"
            s = (f"{label}: {len(solved)} of {len(t)} combos {verb} it (mean score ≥ {threshold:g}): "
                 + _names([f"{r.combo} ({_num(r.score)})" for r in solved.itertuples()]) + ".")
        else:
            top = t.dropna(subset=["score"])
            best = f"; the best is {top.iloc[0].combo} at {_num(top.iloc[0].score)}" if len(top) else ""
            s = f"{label}: none of {len(t)} combos solves it (mean score ≥ {threshold:g}){best}."
        if len(at_base):
            verb = "combo sits" if len(at_base) == 1 else "combos sit"
            s += (f" {len(at_base)} {verb} at the memoryless baseline (mean score ≤ {AT_BASELINE:g}): "
                  + _names([f"{r.combo} ({_num(r.score)})" for r in at_base.itertuples()]) + ".")
        if len(unscored):
            s += (f" {len(unscored)} {'combo' if len(unscored) == 1 else 'combos'} had no ok run: "
                  + _names([f"{r.combo} ({r.n_diverged}/{r.n_runs} diverged, {r.n_failed}/{r.n_runs} failed)"
                            for r in unscored.itertuples()]) + ".")
        out.append(s)
    return out


# ---------------------------------------------------------------------------------------------
# rendering


def _num(x) -> str:
    """Three significant figures; whole numbers of 1000 and more in full; NaN as an em dash."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    x = float(x)
    return f"{x:.0f}" if abs(x) >= 999.5 else f"{x:.3g}"  # 999.5 itself: .3g would write 1e+03


def _signed(x) -> str:
    return _num(x) if pd.isna(x) or x <= 0 else "+" + _num(x)


def _arrow(higher_is_better) -> str:
    return "" if pd.isna(higher_is_better) else (" ↑" if higher_is_better else " ↓")


@dataclass(frozen=True)
class Column:
    """How a table column is shown: header, cell text, sort key and which value is best."""

    header: str | Callable[[pd.DataFrame], str]
    text: Callable[[pd.DataFrame, str], pd.Series] | None = None  # default: numbers via _num
    key: Callable[[pd.DataFrame, str], pd.Series] | None = None  # default: the raw column
    best: str | None = None  # "max", "min", or "direction" (the table's higher_is_better)


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
    return pd.Series([_num(m) if pd.isna(s) else f"{_num(m)} ± {_num(s)}" for m, s in zip(t["mean"], t["std"])],
                     index=t.index)


def _interval(low, high) -> str:
    return f"[{_signed(low)}, {_signed(high)}]"


def _with_interval(t: pd.DataFrame, c: str) -> pd.Series:
    """A mean with its interval (the table's ci_low, ci_high): "+0.41 [+0.33, +0.49]"."""
    return pd.Series([_signed(m) if pd.isna(lo) else f"{_signed(m)} {_interval(lo, hi)}"
                      for m, lo, hi in zip(t[c], t["ci_low"], t["ci_high"])], index=t.index)


INTERVAL = f"[{CI_LEVEL:.0%} interval]"

COLUMNS: dict[str, Column] = {
    "task_label": Column("task"),
    "combo": Column("combo"),
    "mean": Column(_mean_header, text=_mean_text, best="direction"),
    "score": Column("score ↑", best="max"),
    "steps_to_best": Column("steps to best"),
    "n_diverged": _fraction("diverged", "n_runs"),
    "n_failed": _fraction("failed", "n_runs"),
    "rank": Column("rank"),
    "mean_score": Column("mean score ↑", best="max"),
    "mean_rank": Column("mean rank ↓", best="min"),
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
}
HIDDEN = {"metric", "higher_is_better", "std", "n_runs", "n_ok", "n_tasks", "ci_low", "ci_high"}  # shown inside others

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
        ">": r"\textgreater{}", "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "Δ": r"$\Delta$",
        "≥": r"$\geq$", "≤": r"$\leq$", "—": "---"}
_MD = {"\\": "\\\\", "|": "\\|", "*": "\\*", "`": "\\`", "&": "&amp;", "<": "&lt;", ">": "&gt;"}


def latex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def md_escape(text: str) -> str:
    return "".join(_MD.get(ch, ch) for ch in str(text))


def _present(table: pd.DataFrame) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Headers, cell texts, sort keys and a best-value mask of the shown columns."""
    shown = [c for c in table.columns if c not in HIDDEN]
    headers, texts, keys, bold = [], {}, {}, {}
    for c in shown:
        col = COLUMNS.get(c, Column(c))
        headers.append(col.header(table) if callable(col.header) else col.header)
        raw = table[c]
        numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
        texts[c] = col.text(table, c) if col.text else (raw.map(_num) if numeric else raw.astype(str))
        keys[c] = col.key(table, c) if col.key else raw
        best = col.best
        if best == "direction":
            directions = table["higher_is_better"].dropna().unique()
            best = ("max" if directions[0] else "min") if len(directions) == 1 else None
        if "tasks_scored" in table:  # the overall table: the best among the combos scored on the most tasks (none
            # where no combo has a score)
            raw = raw.where((table["tasks_scored"] == table["tasks_scored"].max()) & (table["tasks_scored"] > 0))
        if numeric:
            raw = raw.round(TIE_DIGITS)  # a tie, as in the ranks
        target = raw.max() if best == "max" else raw.min() if best == "min" else np.nan
        bold[c] = raw.eq(target) & raw.notna() if pd.notna(target) else pd.Series(False, index=table.index)
    return headers, pd.DataFrame(texts, index=table.index), pd.DataFrame(keys, index=table.index), pd.DataFrame(bold, index=table.index)


def _sort_value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "" if np.isnan(v) else repr(float(v))
    return str(v)


def _html_table(headers, texts, keys, bold, table_id: str | None, caption: str | None) -> str:
    esc = html.escape
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
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
    """The table as `md` (GitHub Markdown), `csv` (raw numbers, every column), `tex` (booktabs
    tabular) or `html` (a sortable <table> with data-sort-value on every cell). In md/tex/html the
    best value of the score, mean-rank and primary-metric columns is bold; every cell is escaped."""
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
    return body.to_latex(index=False, escape=False, column_format="l" * len(headers))
