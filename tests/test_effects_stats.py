"""The statistics behind the remedy effects: Student's t tail, the t-test, Holm's adjustment, and a simulation
showing that the per-task and pooled intervals cover at their nominal rate on data with task and seed structure.

The simulated runs follow the model the effects assume: a run's bounded score is
    0.5 + a_k + g_kcs + [level] (mu + u_k + v_kc) + noise
for task k, context c (an lr level) and seed s: a task offset a_k, a seed offset g_kcs shared by the two levels
(matched seeds share their data, so pairing removes it), a task random effect u_k on the effect and a context
effect v_kc. The pooled effect's estimand is mu, the mean effect over tasks; a task's is mu + u_k + mean_c v_kc.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnnbench.leaderboard.effects import (effects_by_task, holm, mean_ci, pool_tasks, remedy_effects, t_sf, t_test, verdict)

from rnnbench.leaderboard.render import CI_LEVEL

MU = 0.1  # the true mean effect over tasks


def simulated_runs(rng: np.random.Generator, replications: int, tasks: int, seeds: int, contexts: int = 2,
                   task_sd: float = 0.08) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Runs of clip=none and clip=norm in `replications` independent grids of `tasks` tasks (task label
    "rep<r>/task<k>"), `contexts` lr levels and `seeds` seeds, in the columns load_results gives. Returns the runs,
    the per-task true effects (replication x task) and the naive pooled pairs' deltas (replication x pairs)."""
    shape = (replications, tasks, contexts, seeds)
    rep, task, ctx, seed = (a.ravel() for a in np.meshgrid(*map(np.arange, shape), indexing="ij"))
    task_offset, task_effect = rng.normal(0, 0.05, shape[:2]), rng.normal(0, task_sd, shape[:2])
    context_effect, seed_offset = rng.normal(0, 0.03, shape[:3]), rng.normal(0, 0.05, shape)
    base = 0.5 + task_offset[rep, task] + seed_offset[rep, task, ctx, seed] + rng.normal(0, 0.02, len(rep))
    level = (0.5 + task_offset[rep, task] + seed_offset[rep, task, ctx, seed] + rng.normal(0, 0.02, len(rep))
             + MU + task_effect[rep, task] + context_effect[rep, task, ctx])
    labels = [f"rep{r}/task{k}" for r, k in zip(rep, task)]
    lrs = np.array(["constant", "warmup_cosine", "plateau"])[ctx]

    def runs(clip: str, score: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"task_label": labels, "remedies.clip": clip, "remedies.lr": lrs, "seed": seed,
                             "status": "ok", "normalized_score": score})

    truth = MU + task_effect + context_effect.mean(axis=2)
    naive = (level - base).reshape(replications, -1)
    return pd.concat([runs("none", base), runs("norm", level)], ignore_index=True), truth, naive


@pytest.mark.parametrize("tasks, seeds", [(5, 3), (3, 5)])
def test_pooled_and_per_task_intervals_cover_at_their_nominal_rate(tasks, seeds):
    """400 simulated grids: the pooled interval (over tasks, df = tasks - 1) covers the mean effect over tasks in
    95% +- 2.5 points of them, and each task's interval (over seeds) its task's effect likewise; the naive interval
    over every pair pooled across tasks and contexts, which counts pairs on one task as independent, covers it far
    less often."""
    replications = 400
    rng = np.random.default_rng(27)
    runs, truth, naive = simulated_runs(rng, replications, tasks, seeds)
    by_task = effects_by_task(runs)
    by_task = by_task[(by_task["axis"] == "clip") & (by_task["level"] == "norm")]
    where = by_task["task_label"].str.extract(r"rep(\d+)/task(\d+)").astype(int)
    true_task = truth[where[0], where[1]]
    task_coverage = ((by_task["ci_low"] <= true_task) & (true_task <= by_task["ci_high"])).mean()
    pooled = [pool_tasks(rows) for _, rows in by_task.groupby(where[0])]
    assert len(pooled) == replications and all(t.n == tasks for t in pooled)
    pooled_coverage = np.mean([t.ci_low <= MU <= t.ci_high for t in pooled])
    naive_coverage = np.mean([low <= MU <= high for low, high in map(mean_ci, naive)])
    print(f"{tasks} tasks x {seeds} seeds: pooled {pooled_coverage:.3f}, per task {task_coverage:.3f}, "
          f"naive {naive_coverage:.3f}")
    assert abs(pooled_coverage - CI_LEVEL) <= 0.025, pooled_coverage
    assert abs(task_coverage - CI_LEVEL) <= 0.025, task_coverage
    assert naive_coverage < 0.8, naive_coverage


def test_the_pooled_effect_is_pool_tasks_over_the_per_task_effects():
    """remedy_effects' pooled row is pool_tasks over effects_by_task's rows of its level (so the simulation's pooling
    is the leaderboard's), and with one task it equals that task's effect and interval."""
    runs, _, _ = simulated_runs(np.random.default_rng(1), replications=1, tasks=4, seeds=3)
    pooled = remedy_effects(runs).set_index(["axis", "level"]).loc[("clip", "norm")]
    by_task = effects_by_task(runs).query("axis == 'clip' and level == 'norm'")
    expected = pool_tasks(by_task)
    assert (pooled["effect"], pooled["ci_low"], pooled["ci_high"], pooled["p"]) == pytest.approx(
        (expected.mean, expected.ci_low, expected.ci_high, expected.p))
    assert pooled["effect"] == pytest.approx(by_task["effect"].mean()) and pooled["tasks_paired"] == 4
    one = runs[runs["task_label"] == "rep0/task2"]
    pooled = remedy_effects(one).set_index(["axis", "level"]).loc[("clip", "norm")]
    task = effects_by_task(one).query("axis == 'clip' and level == 'norm'").iloc[0]
    assert (pooled["effect"], pooled["ci_low"], pooled["ci_high"], pooled["p"]) == pytest.approx(
        (task["effect"], task["ci_low"], task["ci_high"], task["p"]))


def test_t_tail_matches_closed_forms_and_tables():
    """P(T > x): df=1 is 1/2 - atan(x)/pi, df=2 is 1/2 - x / (2 sqrt(x^2 + 2)); the printed tables' 97.5% points
    leave 0.025; symmetric about 0."""
    for x in (0.0, 0.5, 2.0, 12.706, 100.0):
        assert t_sf(x, 1) == pytest.approx(0.5 - math.atan(x) / math.pi, abs=1e-9)
        assert t_sf(x, 2) == pytest.approx(0.5 - x / (2 * math.sqrt(x * x + 2)), abs=1e-9)
    for df, x in {4: 2.776, 10: 2.228, 30: 2.042}.items():
        assert t_sf(x, df) == pytest.approx(0.025, abs=2e-5)
    assert t_sf(-1.3, 7) == pytest.approx(1 - t_sf(1.3, 7))
    with pytest.raises(ValueError, match="df >= 1"):
        t_sf(1.0, 0)


def test_t_test_gives_the_two_sided_p_value_and_its_edge_cases():
    """Three values at df=2: t = mean / (s / sqrt 3), p = 2 P(T > |t|) by the closed form; one value: a mean and no
    interval; equal values: a point, p 1 at 0 and 0 elsewhere; NaNs left out."""
    values = [0.1, 0.3, 0.2]
    t = 0.2 / (0.1 / math.sqrt(3))
    test = t_test(values)
    assert test.mean == pytest.approx(0.2) and test.n == 3
    assert test.p == pytest.approx(1 - t / math.sqrt(t * t + 2))
    assert (test.ci_low, test.ci_high) == pytest.approx(mean_ci(values))
    one = t_test([0.4, float("nan")])
    assert one.mean == 0.4 and one.n == 1 and all(math.isnan(x) for x in (one.ci_low, one.ci_high, one.p))
    assert t_test([0.0, 0.0]).p == 1.0 and t_test([0.2, 0.2]).p == 0.0
    with pytest.raises(ValueError, match="0 < level < 1"):
        t_test(values, level=0)


def test_holm_adjusts_the_family_and_the_verdict_reads_the_adjusted_p():
    """Holm by hand: sorted p 0.005, 0.01, 0.03, 0.04 of four become 0.02, 0.03, 0.06, 0.06 (running maximum of
    (m - i + 1) p); a NaN is outside the family. An effect with raw p 0.03 in that family is unclear, not helps."""
    p = pd.Series([0.01, 0.04, np.nan, 0.03, 0.005])
    assert holm(p).tolist()[:2] == pytest.approx([0.03, 0.06]) and math.isnan(holm(p)[2])
    assert holm(p).tolist()[3:] == pytest.approx([0.06, 0.02])
    assert holm(pd.Series([0.6, 0.9])).tolist() == [1.0, 1.0]  # capped at 1 (unclipped: 1.2, 1.2)
    assert holm(pd.Series([], dtype=float)).empty
    assert verdict(0.2, holm(p)[4]) == "helps" and verdict(-0.2, holm(p)[4]) == "hurts"
    assert verdict(0.2, holm(p)[3]) == "unclear" and verdict(0.2, np.nan) == "no interval"
    assert verdict(0.2, 0.01, "positive", "negative") == "positive"
