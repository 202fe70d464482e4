"""Remedy effects and interactions: runs matched on task, context and seed, effects per task with t-intervals
over seeds, pooled over tasks with the task as the cluster, Holm within each family (the conventions:
leaderboard.tables' module docstring)."""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from rnnbench.bench.axes import AXIS_NAMES as AXES, BASELINE_LEVELS
from rnnbench.leaderboard.render import CI_LEVEL
from rnnbench.leaderboard.tables import remedy_levels, seed_score, task_order


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
    for column in ("task_label", "status", "normalized_score", "seed"):
        if column not in df:
            raise ValueError(f"remedy effects need the runs' {column!r} column (leaderboard.load_results' frame)")
    frame = pd.DataFrame({"task_label": df["task_label"], **effect_levels(df),
                          "seed": df["seed"], "score": seed_score(df),
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


def wilson(k: int, n: int, level: float = CI_LEVEL) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n: it keeps near its level at a few runs and never collapses to a
    point at 0 or n (the normal interval does: 3 of 3 would read [1, 1])."""
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    p, z2 = k / n, z * z
    centre, half = p + z2 / (2 * n), z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low, high = (centre - half) / (1 + z2 / n), (centre + half) / (1 + z2 / n)
    return (0.0 if k == 0 else low), (1.0 if k == n else high)  # exact where rounding would leave 3e-17


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
