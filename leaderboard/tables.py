"""Aggregate runs into leaderboard tables (pandas): scores, the tuned choice, task and overall tables, the frontier.
(Remedy effects: leaderboard.effects; the findings' sentences: leaderboard.findings; text: leaderboard.render.)

Conventions of the leaderboard, in one place:
- Scores are bounded below (seed_score, SCORE_RULE): a run counts its normalized score, 0 where it is below 0,
  wherever runs are averaged, ranked or compared, so that one run far worse than the memoryless baseline (an exploded
  Adam run scores about -1.2e7) cannot decide a mean. Above, a score is as measured: it reaches 1 at a perfect model,
  and on a task whose reference is a model (text: the Kneser-Ney trigram) a run that beats the reference scores above
  1, up to the finite score of a perfect model (perplexity 1), so the tuned choice and the ranks tell such runs apart. An `ok` run counts its best checkpoint's score; a `diverged` run the score of its
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

import re

import numpy as np
import pandas as pd

from rnnbench.bench.axes import AXIS_NAMES as AXES, BASELINE_LEVELS, remedy_label
from rnnbench.bench.record import STATUSES
from rnnbench.leaderboard.render import CI_LEVEL, TIE_DIGITS, number_text

AT_BASELINE = 0.1  # a mean (bounded) score at most this "sits at the memoryless baseline"
EFFECT_ESTIMAND = ("pooled change in bounded score when one axis leaves its baseline level, runs matched on task, "
                   "the other axes' levels and seed: per task the mean over seeds of each seed's mean over its "
                   "contexts (equal weight per context), then the mean over tasks (equal weight per task)")
EFFECT_INTERVAL = (f"{CI_LEVEL:.0%} t-interval over tasks, df = tasks - 1, covering the mean effect over tasks like "
                   "these at the measured contexts (with one task: its interval over seeds)")
BOLD_RULE = ("bold marks a column's best only where it beats the runner-up by more than the larger of their standard "
             "errors (std/√n over seeds; a mean over tasks: √(Σ se²)/tasks); within that, or with no standard error "
             "(one seed), nothing is bold")


def task_order(labels) -> list[str]:
    """Distinct task labels in natural order: copy(delay=50) before copy(delay=100)."""
    def key(label: str):  # re.split with a group alternates text and digits, so types line up
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]

    return sorted(set(labels), key=key)


SCORE_RULE = ("each run's normalized score counts 0 where it is below 0 (0 the memoryless baseline, 1 perfect or the "
              "task's reference model, which a run may beat: text's Kneser-Ney trigram); a "
              "diverged run counts the score of its best validated weights before the divergence, bounded alike, or 0 "
              "where it diverged before any validation; a failed run is left out")


def _bounded(df: pd.DataFrame, column: str) -> pd.Series:
    """SCORE_RULE applied to a score column: 0 where below 0; 0 for a diverged run without one; NaN for a failed
    run and for any other run without one (a record that lacks the column altogether)."""
    bounded = _column(df, column).clip(lower=0.0)
    bounded = bounded.mask((df["status"] == "diverged") & bounded.isna(), 0.0)
    return bounded.where(df["status"] != "failed")


def seed_score(df: pd.DataFrame) -> pd.Series:
    """Each run's score as every aggregate counts it (SCORE_RULE): the normalized score, 0 where below 0, for an ok
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
    df = df.assign(_val=validation_score(df),
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
    seeds), the last weights' score (`last_score`: the mean over ok seeds of each run's last-step score, bounded
    below at 0 as the score is), mean steps to the best checkpoint over ok seeds, the recurrent layers' parameter count
    (`params`, the mean over runs: one number unless merged records differ), the optimizer setting(s) its runs
    trained with (`tuning`: after select_tuned, the chosen one), run counts by status, the rank within the task, and
    the score's standard error over seeds (`score_se`, sample std / sqrt(scored seeds): BOLD_RULE's noise)."""
    keys = ["task_label", "combo"]
    df = df.assign(last_score=_column(df, "last.normalized_score").clip(lower=0.0),
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
        .join(df.groupby(keys)["tuning"].agg(lambda s: ", ".join(sorted(set(s) - {""}))), how="outer")
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


def _family_label(task_label: str, task: str, param: str, lengths: list) -> str:
    tested = "/".join(number_text(v) for v in lengths)
    label, n = re.subn(rf"\b{param}=[^,)]*", f"{param}={tested}", task_label)
    return label if n else f"{task}({param}={tested})"


def frontier(df: pd.DataFrame, threshold: float = 0.9) -> pd.DataFrame:
    """Where a task sweeps its length parameter (the runs' `length_param`, what the task declares:
    Task.length_param) with its other parameters fixed: per combo, the longest tested value whose score (seed_score's
    mean) is >= threshold (NaN: none). One column per swept family, named by its task label with the tested values."""
    params = [c for c in df.columns if c.startswith("config.task.params.")]
    columns: dict[str, pd.Series] = {}
    scored = df.assign(_score=seed_score(df))
    for task, runs in scored.groupby("task", sort=True):
        for param in sorted(runs["length_param"].dropna().unique()):
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


def remedy_levels(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Each run's level on every remedy axis; an axis a record leaves null (say, activation on a gated cell) takes
    the baseline level."""
    return {a: df.get(f"remedies.{a}", pd.Series(index=df.index, dtype=object)).fillna(BASELINE_LEVELS[a]) for a in AXES}
