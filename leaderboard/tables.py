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
  run failed) share the last rank; a task where no combo has a score ranks none (no rank, not in any mean rank).
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
- A "best" is bold (BOLD_RULE) only where it is separated from the runner-up by more than the noise: its mean beats
  the runner-up's by more than the larger of their standard errors (std / sqrt(n) over seeds; a mean score over
  tasks has the standard error of a mean of independent task means, sqrt(sum se_t^2) / tasks). A single seed has
  no standard error; where neither row has one, or the two are within it, or they tie, nothing is bold. The mean
  rank has no standard error and is never bold.
- Numbers are shown to three significant figures, trailing zeros kept (0.150, 1.00), in every cell of a column; a
  column of whole numbers (counts, ranks, steps) as whole numbers; 1000 and more in full.
"""

from __future__ import annotations

import functools
import html
import itertools
import math
import re
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd

from rnnbench.bench.axes import AXIS_NAMES as AXES, BASELINE_LEVELS, remedy_label
from rnnbench.bench.store import STATUSES

LENGTH_PARAMS = ("seq_len", "delay", "bptt")  # task parameters a suite may sweep for the frontier
AT_BASELINE = 0.1  # a mean (bounded) score at most this "sits at the memoryless baseline"
CI_LEVEL = 0.95  # the level of every interval (t_test) and of the verdicts (adjusted p below 1 - CI_LEVEL)
EFFECT_ESTIMAND = ("pooled change in bounded score when one axis leaves its baseline level, runs matched on task, "
                   "the other axes' levels and seed: per task the mean over seeds of each seed's mean over its "
                   "contexts (equal weight per context), then the mean over tasks (equal weight per task)")
EFFECT_INTERVAL = (f"{CI_LEVEL:.0%} t-interval over tasks, df = tasks - 1, covering the mean effect over tasks like "
                   "these at the measured contexts (with one task: its interval over seeds)")
BOLD_RULE = ("bold marks a column's best only where it beats the runner-up by more than the larger of their standard "
             "errors (std/√n over seeds; a mean over tasks: √(Σ se²)/tasks); within that, or with no standard error "
             "(one seed), nothing is bold")
TIE_DIGITS = 12  # values equal to this many decimals are a tie (a seed mean's last bit depends on its seeds' order)


def task_order(labels) -> list[str]:
    """Distinct task labels in natural order: copy(delay=50) before copy(delay=100)."""
    def key(label: str):  # re.split with a group alternates text and digits, so types line up
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]

    return sorted(set(labels), key=key)


SCORE_RULE = ("each run's normalized score is clipped to [0, 1] (1 perfect, 0 the memoryless baseline or worse); a "
              "diverged run counts the score of its best validated weights before the divergence, clipped alike, or 0 "
              "where it diverged before any validation; a failed run is left out")


def _bounded(df: pd.DataFrame, column: str) -> pd.Series:
    """SCORE_RULE applied to a score column: clipped to [0, 1]; 0 for a diverged run without one; NaN for a failed
    run and for any other run without one (a record that lacks the column altogether)."""
    bounded = _column(df, column).clip(0.0, 1.0)
    bounded = bounded.mask((df["status"] == "diverged") & bounded.isna(), 0.0)
    return bounded.where(df["status"] != "failed")


def seed_score(df: pd.DataFrame) -> pd.Series:
    """Each run's score as every aggregate counts it (SCORE_RULE): the normalized score clipped to [0, 1] for an ok
    run and for a diverged run that recorded one (its best weights before the divergence), 0 for a diverged run
    without one, NaN for a failed run and for an ok run without a score."""
    return _bounded(df, "normalized_score")


def validation_score(df: pd.DataFrame) -> pd.Series:
    """Each run's bounded validation score, what the tuning protocol chooses on (test metrics never choose): its best
    checkpoint's validation score (`val_score`) under the same rule as seed_score."""
    return _bounded(df, "val_score")


def select_tuned(df: pd.DataFrame) -> pd.DataFrame:
    """The tuning protocol: for each (task_label, combo) only the runs of its best tuning setting (optimizer and
    learning rate: the `tuning` column), the one with the highest mean over seeds of the bounded validation score
    (validation_score; ties to the first setting in (optimizer, learning rate) order; a setting without a validation
    score in any run ranks last), so every combination is compared at its own best setting. Adds the columns
    `tuning_settings` (how many settings its runs tried) and `tuning_runs` (the runs of all of them: what tuning
    cost). A frame with one setting per (task_label, combo) comes back whole."""
    if df.empty:
        return df
    keys = ["task_label", "combo"]
    tuning = df["tuning"] if "tuning" in df else pd.Series("", index=df.index)
    df = df.assign(tuning=tuning, _val=validation_score(df),
                   _opt=df.get("config.budget.optimizer", pd.Series("", index=df.index)).fillna(""),
                   _rate=_column(df, "config.budget.learning_rate"))
    means = df.groupby([*keys, "tuning"], sort=False).agg(_mean=("_val", "mean"), _opt=("_opt", "first"),
                                                           _rate=("_rate", "first")).reset_index()
    means["_key"] = -means["_mean"].round(TIE_DIGITS).fillna(-np.inf)  # best first, a setting without a score last
    best = means.sort_values([*keys, "_key", "_opt", "_rate"], kind="stable").drop_duplicates(keys)
    cost = df.groupby(keys).agg(tuning_settings=("tuning", "nunique"), tuning_runs=("tuning", "size"))
    chosen = df.merge(best[[*keys, "tuning"]], on=[*keys, "tuning"], how="inner", sort=False)
    return chosen.join(cost, on=keys).drop(columns=["_val", "_opt", "_rate"]).reset_index(drop=True)


def _rank(scores: pd.Series, by) -> pd.Series:
    """Ranks by descending score within groups, ties (TIE_DIGITS) sharing the best rank, no score last; NaN in a
    group where nothing has a score (every run of a task failed: ranking its combos would rank nothing)."""
    ranks = scores.round(TIE_DIGITS).groupby(by).rank(ascending=False, method="min", na_option="bottom")
    return ranks.where(scores.notna().groupby(by).transform("any"))


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column of the runs' frame, NaN where records lack it (older records, failed runs)."""
    return pd.to_numeric(df[name], errors="coerce") if name in df else pd.Series(np.nan, index=df.index)


def task_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task_label, combo): primary metric mean/std over ok seeds, the score (seed_score's mean over
    seeds), the last weights' score (`last_score`: the mean over ok seeds of each run's last-step score, clipped to
    [0, 1] as the score is), mean steps to the best checkpoint over ok seeds, the recurrent layers' parameter count
    (`params`, the mean over runs: one number unless merged records differ), the optimizer setting(s) its runs
    trained with (`tuning`: after select_tuned, the chosen one), run counts by status, the rank within the task, and
    the score's standard error over seeds (`score_se`, sample std / sqrt(scored seeds): BOLD_RULE's noise)."""
    keys = ["task_label", "combo"]
    df = df.assign(last_score=_column(df, "last.normalized_score").clip(0.0, 1.0),
                   params=_column(df, "model_size.recurrent_params"))
    ok = df[df["status"] == "ok"]
    stats = ok.groupby(keys).agg(
        mean=("value", "mean"),
        std=("value", "std"),  # ddof=1
        last_score=("last_score", "mean"),
        steps_to_best=("best_step", "mean"),
    ).join(df.assign(score=seed_score(df)).groupby(keys)["score"].agg(["mean", "sem"])
           .rename(columns={"mean": "score", "sem": "score_se"}), how="outer") \
        .join(df.groupby(keys)["params"].mean(), how="outer") \
        .join(df.assign(tuning=df["tuning"] if "tuning" in df else "").groupby(keys)["tuning"]
              .agg(lambda s: ", ".join(sorted(set(s) - {""}))), how="outer")
    counts = pd.crosstab([df["task_label"], df["combo"]], df["status"]).reindex(columns=list(STATUSES), fill_value=0)
    counts = counts.rename(columns=lambda s: f"n_{s}").assign(n_runs=lambda c: c.sum(axis=1))
    # the task's metric and direction, from any run that got far enough to record them
    info = df.groupby("task_label").agg(metric=("primary_metric", "first"), higher_is_better=("higher_is_better", "first"))
    table = counts.join(stats).reset_index().join(info, on="task_label")
    table["rank"] = _rank(table["score"], table["task_label"])
    position = {label: i for i, label in enumerate(task_order(table["task_label"]))}
    table = table.sort_values(["task_label", "rank", "combo"], kind="stable", ignore_index=True,
                              key=lambda c: c.map(position) if c.name == "task_label" else c)
    columns = ["task_label", "combo", "tuning", "metric", "higher_is_better", "mean", "std", "score", "score_se",
               "last_score",
               "steps_to_best", "params", "n_runs", "n_ok", "n_diverged", "n_failed", "rank"]
    return with_levels(table[columns], df)


def overall_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per combo: mean over tasks of its score (tasks without one, every run failed, left out, and
    counted in `tasks_scored` out of every task in the table, `n_tasks`: one it did not run on, in
    results merged from different grids, is not scored either), mean rank over every task it ran on, and
    total run counts; `mean_score_se`, the mean score's standard error from its tasks' (BOLD_RULE). Sorted by the
    tasks it has no score on (fewest first: a combo whose runs failed on four tasks and solved the fifth, or ran on
    the easier half, does not head the table), then by mean score."""
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
    scored = per_task[per_task["score"].notna()]  # the standard error of a mean of independent task means
    variance = scored.groupby("combo")["score_se"].agg(lambda se: (se ** 2).sum(skipna=False))
    table.insert(1, "mean_score_se", np.sqrt(variance).reindex(table.index) / table["tasks_scored"])
    table["unscored"] = table["n_tasks"] - table["tasks_scored"]
    table = table.reset_index().sort_values(["unscored", "mean_score", "mean_rank", "combo"],
                                            ascending=[True, False, True, True], na_position="last", kind="stable",
                                            ignore_index=True, key=lambda c: c.round(TIE_DIGITS) if c.dtype.kind == "f" else c)
    return with_levels(table.drop(columns="unscored"), df)


def _t_upper(u: float, df: int) -> float:
    """P(T > sqrt(df) tan u) for Student's t with df degrees of freedom, 0 <= u <= pi/2: with x = sqrt(df) tan v
    the tail is K * integral_u^(pi/2) cos^(df-1) v dv (K = Gamma((df+1)/2) / (sqrt(pi) Gamma(df/2))), a smooth
    integrand on a bounded range: Simpson's rule on 2000 panels."""
    k = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(math.pi)
    y = np.cos(np.linspace(u, math.pi / 2, 4001)) ** (df - 1)
    return k * float(y[0] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum() + y[-1]) * (math.pi / 2 - u) / 4000 / 3


def t_sf(x: float, df: int) -> float:
    """P(T > x) for Student's t with df degrees of freedom, without SciPy (_t_upper); 0.025 at x=12.706, df=1."""
    if df < 1:
        raise ValueError(f"t_sf needs df >= 1, got {df}")
    tail = _t_upper(math.atan(abs(x) / math.sqrt(df)), df)
    return tail if x >= 0 else 1.0 - tail


@functools.lru_cache(maxsize=None)
def t_quantile(p: float, df: int) -> float:
    """The p-quantile (0.5 <= p < 1) of Student's t with df degrees of freedom, without SciPy: the upper tail
    (_t_upper) solved for 1 - p by bisection on u = arctan(x / sqrt(df)). 12.706 for p=0.975, df=1; 1.960 as df
    grows."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    low, high = 0.0, math.pi / 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _t_upper(mid, df) > 1 - p else (low, mid)
    return math.sqrt(df) * math.tan((low + high) / 2)


def with_levels(table: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """`table` (a `combo` column) with each combo's short `label` (remedy_label) and one column per remedy axis
    (its level), read from the runs in `df`, placed before `combo`: a CSV user filters and pivots by axis. Combos
    whose levels give one label (merged records that differ in something the axes do not say) keep their full
    combo as their label."""
    levels = pd.DataFrame(remedy_levels(df)).assign(combo=df["combo"]).drop_duplicates("combo").set_index("combo")
    labels = pd.Series([remedy_label(row) for row in levels[list(AXES)].to_dict("records")], index=levels.index)
    levels.insert(0, "label", labels.where(~labels.duplicated(keep=False), labels.index.to_series()))
    at = list(table.columns).index("combo")
    out = table.join(levels, on="combo")
    return out[[*table.columns[:at], "label", *AXES, *table.columns[at:]]]


def remedy_levels(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Each run's level on every remedy axis; an axis a record leaves null (say, activation on a gated cell) takes
    the baseline level."""
    return {a: df.get(f"remedies.{a}", pd.Series(index=df.index, dtype=object)).fillna(BASELINE_LEVELS[a]) for a in AXES}


# levels that are another remedy on another cell, so their effects are estimated per cell: init=identity on the
# vanilla RNN is the IRNN (Le et al. 2015), on a gated cell an identity matrix in each gate's recurrence, named
# "identity@lstm" in the effects (pooling the two would report neither)
PER_CELL_LEVELS = {"init": ("identity",)}


def effect_levels(df: pd.DataFrame) -> dict[str, pd.Series]:
    """remedy_levels as the remedy effects compare them: a PER_CELL_LEVELS level on a cell other than the baseline
    cell is named with its cell ("identity@gru")."""
    levels = remedy_levels(df)
    other_cell = levels["cell"] != BASELINE_LEVELS["cell"]
    for axis, names in PER_CELL_LEVELS.items():
        split = other_cell & levels[axis].isin(names)
        levels[axis] = levels[axis].where(~split, levels[axis] + "@" + levels["cell"])
    return levels


def _runs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task_label, remedy levels as effect_levels names them, seed): the bounded score (seed_score; NaN
    where the run failed) and `blank`, whether the run diverged before any validation (it scores 0 without a
    measurement). Runs that share all of these (records merged from elsewhere) are averaged."""
    for column in ("task_label", "status", "normalized_score"):
        if column not in df:
            raise ValueError(f"remedy effects need the runs' {column!r} column (leaderboard.load_results' frame)")
    frame = pd.DataFrame({"task_label": df["task_label"], **effect_levels(df),
                          "seed": df["seed"] if "seed" in df else np.nan, "score": seed_score(df),
                          "blank": (df["status"] == "diverged") & df["normalized_score"].isna()})
    return frame.groupby(["task_label", *AXES, "seed"], dropna=False, sort=False).agg(
        score=("score", "mean"), blank=("blank", "all")).reset_index()


def _levels(runs: pd.DataFrame, axis: str) -> list[str]:
    return sorted(set(runs[axis]) - {BASELINE_LEVELS[axis]})


def _matched_pairs(runs: pd.DataFrame, axis: str, level: str) -> pd.DataFrame:
    """The runs at `level` of `axis` matched to the runs at its baseline level on the same task, the same levels of
    every other axis (the context) and the same seed: one row per pair with the task, the context, the seed,
    `delta` (level minus baseline, NaN where a run failed) and `both_blank` (both diverged before any validation)."""
    keys = ["task_label", *(a for a in AXES if a != axis), "seed"]
    at_level = runs[runs[axis] == level].drop(columns=axis)
    at_base = runs[runs[axis] == BASELINE_LEVELS[axis]].drop(columns=axis)
    m = at_level.merge(at_base, on=keys, suffixes=("", "_base"))
    return m[keys].assign(delta=m["score"] - m["score_base"], both_blank=m["blank"] & m["blank_base"])


@dataclass(frozen=True)
class TTest:
    """A mean with its t-interval and two-sided p-value against 0, over `n` values counted as independent."""

    mean: float
    ci_low: float
    ci_high: float
    p: float
    n: int


def t_test(values, level: float = CI_LEVEL) -> TTest:
    """The one-sample t-test of mean 0 on `values` (NaNs left out): mean +- t(n-1) s / sqrt(n) and p = P(|T| >= |t|).
    No interval or p for fewer than two values; values all equal give a point and p 1 (mean 0) or 0."""
    if not 0 < level < 1:
        raise ValueError(f"a t-interval needs 0 < level < 1, got {level}")
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    mean = float(v.mean()) if n else np.nan
    if n < 2:
        return TTest(mean, np.nan, np.nan, np.nan, n)
    se = float(v.std(ddof=1)) / math.sqrt(n)
    half = t_quantile(0.5 + level / 2, n - 1) * se
    p = (1.0 if mean == 0 else 0.0) if se == 0 else min(1.0, 2 * t_sf(abs(mean) / se, n - 1))
    return TTest(mean, mean - half, mean + half, p, n)


def mean_ci(values, level: float = CI_LEVEL) -> tuple[float, float]:
    """The t-interval of the mean of `values` (NaNs left out; t_test): it holds its level at a few values where a
    bootstrap's falls short (about 76% at n=3 for a nominal 95%). (NaN, NaN) for fewer than two values."""
    test = t_test(values, level)
    return test.ci_low, test.ci_high


def holm(p: pd.Series) -> pd.Series:
    """Holm's step-down adjustment of a family of p-values (NaN: not in the family, kept NaN): the i-th smallest of
    m becomes max over j <= i of min(1, (m - j + 1) p_(j)). It controls the chance of any false rejection in the
    family at the nominal level, whatever the dependence between the tests."""
    family = p.dropna().sort_values(kind="stable")
    adjusted = (family * (len(family) - np.arange(len(family)))).cummax().clip(upper=1.0)
    return adjusted.reindex(p.index)


def verdict(effect: float, p_adjusted: float, above: str = "helps", below: str = "hurts") -> str:
    """The adjusted decision: `above` / `below` 0 where the adjusted p is below 1 - CI_LEVEL (by the effect's
    sign), "unclear" where it is not, "no interval" where there is no p (one seed of one task)."""
    if pd.isna(p_adjusted):
        return "no interval"
    if p_adjusted < 1 - CI_LEVEL:
        return above if effect > 0 else below
    return "unclear"


def task_effects(units: pd.DataFrame) -> pd.DataFrame:
    """Per task, the effect of a family of matched units (columns task_label, seed, delta; one row per context, NaN
    delta: unscored, left out): each seed's deltas averaged over its scored contexts (equal weight per context),
    then the t-test over seeds. Columns task_label, effect, ci_low, ci_high, p, n_seeds."""
    scored = units.dropna(subset=["delta"])
    per_seed = scored.groupby(["task_label", "seed"], dropna=False, sort=False)["delta"].mean()
    rows = [{"task_label": label, **asdict(t_test(seeds))} for label, seeds in per_seed.groupby(level="task_label",
                                                                                              sort=False)]
    return pd.DataFrame(rows, columns=["task_label", "mean", "ci_low", "ci_high", "p", "n"]).rename(
        columns={"mean": "effect", "n": "n_seeds"})


def pool_tasks(per_task: pd.DataFrame) -> TTest:
    """The pooled effect over tasks (task_effects' table): the t-test over the per-task effects (equal weight per
    task, df = tasks - 1: the task is the cluster, a task random effect by the summary-statistics method), whose
    interval covers the mean effect over tasks like these; with one task, that task's own test over its seeds."""
    if len(per_task) == 1:
        row = per_task.iloc[0]
        return TTest(float(row["effect"]), float(row["ci_low"]), float(row["ci_high"]), float(row["p"]), 1)
    return t_test(per_task["effect"])


def _pair_counts(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per task, the matched pairs (_matched_pairs) by outcome: scored, better, worse, unscored, both diverged."""
    delta = pairs["delta"]
    flags = pd.DataFrame({"n_pairs": delta.notna(), "n_better": delta > 0, "n_worse": delta < 0,
                          "n_unscored": delta.isna(), "n_both_diverged": pairs["both_blank"].astype(bool)})
    return flags.groupby(pairs["task_label"], sort=False).sum().astype(int)


def _context_text(levels: dict[str, str]) -> str:
    shown = [f"{a}={v}" for a, v in levels.items() if v != BASELINE_LEVELS[a]]
    return ", ".join(shown) or "every other axis at its baseline level"


def _measured_at(pairs: pd.DataFrame, runs: pd.DataFrame, axis: str) -> str:
    """Where an effect was measured: its contexts (levels of the other axes) with a scored pair, out of those where
    the axis's baseline level ran. One context: "only at <its levels>", an effect at that context and not a main
    effect; a subset: "at k of m contexts", naming the levels all of them share where the grid has others."""
    others = [a for a in AXES if a != axis]
    measured = pairs.dropna(subset=["delta"])[others].drop_duplicates()
    possible = runs[runs[axis] == BASELINE_LEVELS[axis]][others].drop_duplicates()
    k, m = len(measured), len(possible)
    if k == 0:
        return "measured nowhere (no scored pair)"
    if k == 1:
        return f"measured only at {_context_text(measured.iloc[0].to_dict())} (1 of {m} context{'s' * (m != 1)})"
    if k >= m:
        return f"measured at all {m} contexts"
    shared = {a: measured[a].iloc[0] for a in others if measured[a].nunique() == 1 and possible[a].nunique() > 1}
    return f"measured at {k} of {m} contexts" + (f", all with {', '.join(f'{a}={v}' for a, v in shared.items())}"
                                                  if shared else "")


EFFECT_COLUMNS = ["axis", "level", "baseline", "measured_at", "effect", "ci_low", "ci_high", "p", "p_holm", "verdict",
                  "tasks_paired", "n_pairs", "n_better", "n_worse", "n_unscored", "n_both_diverged"]
TASK_EFFECT_COLUMNS = ["axis", "level", "baseline", "task_label", "effect", "ci_low", "ci_high", "p", "p_holm",
                       "verdict", "n_seeds", "n_contexts", "n_pairs", "n_better", "n_worse", "n_unscored",
                       "n_both_diverged"]


def _effect_tables(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pooled and the per-task effect of every non-baseline level (the module's conventions), each family with
    Holm-adjusted p-values and verdicts."""
    runs = _runs(df)
    pooled_rows, task_tables = [], []
    for axis in AXES:
        contexts = [a for a in AXES if a != axis]
        for level in _levels(runs, axis):
            pairs = _matched_pairs(runs, axis, level)
            per_task = task_effects(pairs)
            pooled = pool_tasks(per_task)
            counts = _pair_counts(pairs)
            named = {"axis": axis, "level": level, "baseline": BASELINE_LEVELS[axis]}
            pooled_rows.append({**named, "measured_at": _measured_at(pairs, runs, axis), "effect": pooled.mean,
                                "ci_low": pooled.ci_low, "ci_high": pooled.ci_high, "p": pooled.p,
                                "tasks_paired": len(per_task), **counts.sum().to_dict()})
            n_contexts = pairs.dropna(subset=["delta"]).drop_duplicates(["task_label", *contexts]).groupby(
                "task_label", sort=False).size().rename("n_contexts")
            task_tables.append(per_task.join(n_contexts, on="task_label").join(counts, on="task_label").assign(**named))
    pooled = pd.DataFrame(pooled_rows, columns=[c for c in EFFECT_COLUMNS if c not in ("p_holm", "verdict")])
    by_task = pd.concat(task_tables, ignore_index=True) if task_tables else pd.DataFrame(columns=TASK_EFFECT_COLUMNS)
    position = {label: i for i, label in enumerate(task_order(by_task["task_label"]))}
    by_task = by_task.sort_values("task_label", key=lambda c: c.map(position), kind="stable", ignore_index=True)
    tables = []
    for table, columns in ((pooled, EFFECT_COLUMNS), (by_task, TASK_EFFECT_COLUMNS)):
        table = table.assign(p_holm=holm(table["p"].astype(float)))
        table["verdict"] = [verdict(e, p) for e, p in zip(table["effect"], table["p_holm"])]
        tables.append(table[columns])
    return tables[0], tables[1]


def remedy_effects(df: pd.DataFrame) -> pd.DataFrame:
    """Per axis and non-baseline level, its pooled effect on the bounded score against the axis's baseline level:
    the mean over tasks (equal weight) of the per-task effects (effects_by_task), with its CI_LEVEL t-interval over
    tasks (df = tasks - 1; with one task, that task's interval over seeds), which covers the mean effect over tasks
    like these at the contexts in `measured_at`; `p` its two-sided p-value against no effect, `p_holm` Holm's
    adjustment over this family (every level), `verdict` the adjusted decision. Counts over matched run pairs:
    `n_pairs` scored, `n_better` / `n_worse` where the level scored higher / lower, `n_unscored` where a run failed
    (left out), `n_both_diverged` where both diverged before any validation (in, as a difference of 0)."""
    return _effect_tables(df)[0]


def effects_by_task(df: pd.DataFrame) -> pd.DataFrame:
    """Per axis, non-baseline level and task (task_label): the mean over seeds of each seed's difference in bounded
    score to the baseline level, averaged over the contexts (equal weight per context) at which both ran with that
    seed, with its CI_LEVEL t-interval over seeds (none for one seed): it covers the level's mean effect on that task
    over training randomness, at those contexts. `p_holm` and `verdict`: Holm over every (level, task) row."""
    return _effect_tables(df)[1]


def interactions(df: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Every 2x2 interaction of levels a (axis A) and b (axis B): per matched quadruple (task, other axes' levels,
    seed), [s(a,b) - s(a0,b)] - [s(a,b0) - s(a0,b0)] (a0, b0 the baseline levels), estimated like the remedy
    effects (task_effects per task over seeds, pool_tasks over tasks, with its interval), `p_holm` Holm's
    adjustment over every interaction with a p-value; then sorted by size, largest first, and cut to the `top`
    largest (None: all), so the shown rows' intervals and adjustment are those of the whole family. `n` scored
    quadruples, `n_unscored` those with a failed corner (left out)."""
    runs = _runs(df)
    rows = []
    for axis_a, axis_b in itertools.combinations(AXES, 2):
        for level_a in _levels(runs, axis_a):
            pairs = _matched_pairs(runs, axis_a, level_a)  # level_a's effect, at every level of axis_b
            keys = ["task_label", *(a for a in AXES if a not in (axis_a, axis_b)), "seed"]
            at_base = pairs[pairs[axis_b] == BASELINE_LEVELS[axis_b]].drop(columns=axis_b)
            for level_b in _levels(runs, axis_b):
                at_b = pairs[pairs[axis_b] == level_b].drop(columns=axis_b)
                m = at_b.merge(at_base, on=keys, suffixes=("", "_base"))
                contrast = m["delta"] - m["delta_base"]
                if not contrast.count():
                    continue
                per_task = task_effects(m[keys].assign(delta=contrast))
                pooled = pool_tasks(per_task)
                rows.append({"axis_a": axis_a, "level_a": level_a, "axis_b": axis_b, "level_b": level_b,
                             "interaction": pooled.mean, "ci_low": pooled.ci_low, "ci_high": pooled.ci_high,
                             "p": pooled.p, "tasks_paired": len(per_task), "n": int(contrast.count()),
                             "n_unscored": int(contrast.isna().sum())})
    table = pd.DataFrame(rows, columns=["axis_a", "level_a", "axis_b", "level_b", "interaction", "ci_low", "ci_high",
                                        "p", "tasks_paired", "n", "n_unscored"])
    table.insert(8, "p_holm", holm(table["p"].astype(float)))
    table.insert(9, "verdict", [verdict(e, p, "positive", "negative") for e, p in zip(table["interaction"],
                                                                                       table["p_holm"])])
    table = table.loc[table["interaction"].abs().sort_values(ascending=False, kind="stable").index]
    return table.head(top).reset_index(drop=True) if top is not None else table.reset_index(drop=True)


def _family_label(task_label: str, task: str, param: str, lengths: list) -> str:
    tested = "/".join(number_text(v) for v in lengths)
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


def _names(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def effect_finding(effects: pd.DataFrame) -> str | None:
    """One short sentence on the pooled remedy effects (remedy_effects' table): the levels that help and hurt by
    their Holm-adjusted verdict, each with its effect and interval (the largest three), and how many are unclear.
    None where no level has a scored pair; the table has the rest."""
    scored = effects[effects["n_pairs"] > 0]
    if scored.empty:
        return None

    def described(r) -> str:
        interval = "" if pd.isna(r.ci_low) else f" {_interval(r.ci_low, r.ci_high)}"
        return f"{r.axis}={r.level} {_signed(r.effect)}{interval}"

    helps = scored[scored["verdict"] == "helps"].sort_values("effect", ascending=False)
    hurts = scored[scored["verdict"] == "hurts"].sort_values("effect")
    unclear = scored[scored["verdict"] == "unclear"].sort_values("effect", key=abs, ascending=False)
    lone = scored[scored["verdict"] == "no interval"]
    parts = [f"{what}: {_names([described(r) for r in rows.itertuples()])}" for what, rows in
             (("helps", helps), ("hurts", hurts)) if len(rows)]
    if len(unclear):
        parts.append(f"{_count(len(unclear), 'level')} without a clear effect (largest: {described(unclear.iloc[0])})")
    if len(lone):
        parts.append(f"{_count(len(lone), 'level')} measured on one seed of one task, without an interval")
    family = int(scored["p_holm"].notna().sum())
    return (f"Remedy effects, change in score pooled over tasks (Holm-adjusted p below {1 - CI_LEVEL:.2g} over "
            f"{_count(family, 'level')}): " + "; ".join(parts) + ".")


def findings(task_tbl: pd.DataFrame, overall_tbl: pd.DataFrame, threshold: float = 0.9,
             effects: pd.DataFrame | None = None) -> list[str]:
    """A few short sentences with numbers, read off the task and overall tables (and the remedy effects, where
    given): the best combo overall, the effects that clear Holm, and per task the best combo and counts (the
    tables name the rest)."""
    out = []
    scored = overall_tbl.dropna(subset=["mean_score"])
    if len(scored):
        best = scored.iloc[0]  # the table puts combos scored on every task they ran on first
        beaten = "" if best.mean_score > AT_BASELINE else " (no combo beats the memoryless baseline on average)"
        out.append(f"Best overall: {best.label}, mean score {number_text(best.mean_score)} over "
                   f"{best.tasks_scored}/{best.n_tasks} tasks, mean rank {number_text(best.mean_rank)}{beaten}.")
    if effects is not None and (sentence := effect_finding(effects)):
        out.append(sentence)
    for label, t in task_tbl.groupby("task_label", sort=False):  # the table's (natural) order
        solved = t[t["score"] >= threshold]
        unscored = t[t["n_ok"] == 0]  # every seed diverged (score 0) or failed: said apart, not "at the baseline"
        at_base = t[(t["score"] <= AT_BASELINE) & (t["n_ok"] > 0)]
        top = t.dropna(subset=["score"])
        best = f"best {top.iloc[0].label} ({number_text(top.iloc[0].score)})" if len(top) else "no combo scored"
        if len(solved):
            s = f"{label}: {len(solved)} of {len(t)} combos {'solves' if len(solved) == 1 else 'solve'} it"
        else:
            s = f"{label}: none of {len(t)} combos solves it"
        s += f" (mean score ≥ {threshold:g}); {best}."
        if len(at_base):
            s += (f" {_count(len(at_base), 'combo')} {'sits' if len(at_base) == 1 else 'sit'} at the memoryless "
                  f"baseline (mean score ≤ {AT_BASELINE:g}).")
        if len(unscored):
            s += f" {_count(len(unscored), 'combo')} had no ok run."
        out.append(s)
    return out


# ---------------------------------------------------------------------------------------------
# rendering


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


def _signed(x, text: Callable[[float], str] = number_text) -> str:
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


def _interval(low, high, text: Callable[[float], str] = number_text) -> str:
    return f"[{_signed(low, text)}, {_signed(high, text)}]"


def _with_interval(t: pd.DataFrame, c: str) -> pd.Series:
    """A mean with its interval (the table's ci_low, ci_high): "+0.41 [+0.33, +0.49]"."""
    return pd.Series([_signed(m, cell_text) if pd.isna(lo) else f"{_signed(m, cell_text)} {_interval(lo, hi, cell_text)}"
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
