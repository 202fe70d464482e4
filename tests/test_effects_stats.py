"""The statistics behind the remedy effects: Student's t tail, the t-test, Holm's adjustment, and a simulation
showing that the per-task and pooled intervals cover at their nominal rate on data with task and seed structure.

The simulated runs follow the model the effects assume: a run's bounded score is
    0.5 + a_k + g_kcs + [level] (mu + u_k + v_kc) + noise
for task k, context c (an lr level) and seed s: a task offset a_k, a seed offset g_kcs shared by the two levels
(matched seeds share their data, so pairing removes it), a task random effect u_k on the effect and a context
effect v_kc. The pooled effect's estimand is mu, the mean effect over tasks; a task's is mu + u_k + mean_c v_kc.
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from rnnbench.bench.axes import BASELINE_LEVELS
from rnnbench.leaderboard.effects import (EFFECT_COLUMNS, TASK_EFFECT_COLUMNS, TTest, effects_by_task, holm,
                                         interactions, mean_ci, pool_tasks, remedy_effects, t_sf, t_test, verdict,
                                         wilson)

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


# --- the published numbers' rules, one small hand-worked grid each (mutation testing: README "Development") ---

Z95, Z90 = 1.959963984540054, 1.6448536269514722  # the normal's 97.5% and 95% points (printed tables: 1.960, 1.645)


def wilson_by_hand(k: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval as textbooks write it (Wilson 1927; Agresti & Coull 1998): the p solving
    |p_hat - p| = z sqrt(p (1 - p) / n), i.e. (p_hat + z^2/2n -+ z sqrt(p_hat (1 - p_hat)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p_hat = k / n
    denominator = 1 + z ** 2 / n
    centre = (p_hat + z ** 2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p_hat * (1 - p_hat) / n + z ** 2 / (4 * n ** 2))
    return centre - half, centre + half


def grid_runs(rows) -> pd.DataFrame:
    """Runs in the columns load_results gives: rows of (task_label, {axis: level} for the axes off their baseline,
    seed, normalized score[, status])."""
    records = []
    for task, levels, seed, score, *status in rows:
        record = {"task_label": task, "seed": seed, "status": status[0] if status else "ok", "normalized_score": score}
        record.update({f"remedies.{axis}": levels.get(axis, base) for axis, base in BASELINE_LEVELS.items()})
        records.append(record)
    return pd.DataFrame(records)


def test_the_wilson_interval_is_the_score_interval_of_the_textbooks():
    """Wilson 95% intervals from the printed tables: 0/10 [0, 0.2775], 1/10 [0.0179, 0.4042], 5/10 [0.2366, 0.7634],
    10/10 [0.7225, 1]; every k of n at 95% and 90% the closed form (wilson_by_hand) with the normal's printed points;
    the interval holds k/n and keeps inside [0, 1]."""
    expected = {(0, 10): (0.0, 0.2775), (1, 10): (0.0179, 0.4042), (5, 10): (0.2366, 0.7634), (10, 10): (0.7225, 1.0)}
    for (k, n), interval in expected.items():
        assert wilson(k, n) == pytest.approx(interval, abs=6e-5)
    for level, z in ((0.95, Z95), (0.90, Z90)):
        for n in (1, 3, 7, 10, 20):
            for k in range(n + 1):
                low, high = wilson(k, n, level)
                assert (low, high) == pytest.approx(wilson_by_hand(k, n, z), abs=1e-12), (k, n, level)
                assert 0 <= low <= k / n <= high <= 1 and low < high
    assert wilson(3, 3) != pytest.approx((1.0, 1.0))  # the normal interval's collapse at k = n


def test_the_wilson_interval_reaches_exactly_0_and_1_only_at_0_and_n_successes():
    """At k = 0 the closed form's lower end is 0 and at k = n its upper end 1 exactly (rounding would leave +-3e-17:
    shown as -0.00); one success, or one failure, leaves the end off 0 or 1 (1/n at 95%: above 0 for every n)."""
    for n in range(1, 30):
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0, n
        assert wilson(1, n)[0] > 0 and wilson(n - 1, n)[1] < 1, n
        assert wilson(1, n)[0] == pytest.approx(wilson_by_hand(1, n, Z95)[0], abs=1e-12)


def test_values_symmetric_about_0_have_p_1_and_no_p_value_exceeds_1():
    """Values whose mean is exactly 0 and that spread give t = 0, so p = 2 P(T > 0) = 1 at every df, not 1 plus the
    tail's rounding (which would read as a probability above 1)."""
    for n in range(2, 13):
        values = [float(i) for i in range(-(n // 2), n // 2 + 1) if i or n % 2]
        assert len(values) == n and sum(values) == 0
        p = t_test(values).p
        assert p <= 1.0 and p == pytest.approx(1.0, abs=1e-12), n


def test_an_empty_sample_has_a_missing_mean_without_a_warning():
    """No values (or only NaNs): mean NaN, no interval, n 0, and no 'mean of empty slice' warning in the build."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        test = t_test([float("nan")])
    assert test.n == 0 and all(math.isnan(x) for x in (test.mean, test.ci_low, test.ci_high, test.p))


def test_an_adjusted_p_exactly_at_the_threshold_is_not_below_it():
    """The verdict needs the adjusted p strictly below 1 - CI_LEVEL."""
    assert verdict(0.2, 1 - CI_LEVEL) == "unclear" and verdict(0.2, (1 - CI_LEVEL) * 0.999) == "helps"


def test_with_one_task_the_pooled_test_is_that_tasks_own_and_counts_one_task():
    """pool_tasks' n counts tasks (the clusters): with one task, its test over seeds, n 1."""
    one = pd.DataFrame([{"task_label": "copy", "effect": 0.1, "ci_low": 0.02, "ci_high": 0.18, "p": 0.03,
                         "n_seeds": 4}])
    assert pool_tasks(one) == TTest(0.1, 0.02, 0.18, 0.03, 1)


def test_a_grid_of_baseline_runs_only_has_empty_effect_tables_with_their_columns():
    """No level off the baseline: no effect, and the tables still have every column (a page with no remedy runs)."""
    df = grid_runs([("copy", {}, seed, 0.5) for seed in range(3)])
    effects, by_task = remedy_effects(df), effects_by_task(df)
    assert effects.empty and list(effects.columns) == EFFECT_COLUMNS
    assert by_task.empty and list(by_task.columns) == TASK_EFFECT_COLUMNS


# every level off the baseline, in the order the tables list them: axis by axis, levels by name
LEVELS = [("cell", "gru"), ("cell", "lstm"), ("activation", "leaky_relu"), ("activation", "relu"),
          ("init", "identity"), ("clip", "norm"), ("clip", "value"), ("lr", "plateau"), ("lr", "warmup_cosine"),
          ("skip", "residual"), ("skip", "temporal")]


def test_the_per_task_effects_list_tasks_in_natural_order_then_levels_and_count_pairs_in_whole_numbers():
    """Two tasks, copy(delay=100) run first, and every level against the baseline at 2 seeds: the per-task rows go
    copy(delay=50) before copy(delay=100) (natural order, not the text's), each task's rows in the level order, rows
    numbered 0..21. Level i's delta on seed s is d + 0.002 s with d = (i + 1) / 100 on delay=50 and -(i + 1) / 100
    on delay=100, so its effect is d + 0.001, and its pooled effect over the two tasks 0.001; every count a whole
    number: 2 pairs per task, both better on delay=50 and both worse on delay=100 (pooled: 4 pairs, 2 and 2)."""
    tasks = {"copy(delay=100)": -1, "copy(delay=50)": 1}
    rows = []
    for task, sign in tasks.items():
        for seed in range(2):
            rows.append((task, {}, seed, 0.4 + 0.1 * seed))
            for i, (axis, level) in enumerate(LEVELS):
                rows.append((task, {axis: level}, seed, 0.4 + 0.1 * seed + sign * (i + 1) / 100 + 0.002 * seed))
    df = grid_runs(rows)
    by_task = effects_by_task(df)
    expected = [(task, axis, level) for task in ("copy(delay=50)", "copy(delay=100)") for axis, level in LEVELS]
    assert list(zip(by_task["task_label"], by_task["axis"], by_task["level"])) == expected
    assert list(by_task.index) == list(range(len(expected)))
    effects = [tasks[task] * (LEVELS.index((axis, level)) + 1) / 100 + 0.001 for task, axis, level in expected]
    assert by_task["effect"].tolist() == pytest.approx(effects, abs=1e-12)
    for column in ("n_seeds", "n_contexts", "n_pairs", "n_better", "n_worse", "n_unscored", "n_both_diverged"):
        assert by_task[column].dtype.kind == "i", column
    assert by_task["n_pairs"].eq(2).all() and by_task["n_contexts"].eq(1).all()
    assert (by_task["n_better"] == by_task["task_label"].map({"copy(delay=50)": 2, "copy(delay=100)": 0})).all()
    pooled = remedy_effects(df)
    assert list(zip(pooled["axis"], pooled["level"])) == LEVELS
    assert pooled["effect"].tolist() == pytest.approx([0.001] * len(LEVELS), abs=1e-12)
    for column in ("tasks_paired", "n_pairs", "n_better", "n_worse", "n_unscored", "n_both_diverged"):
        assert pooled[column].dtype.kind == "i", column
    assert pooled[["tasks_paired", "n_pairs", "n_better", "n_worse"]].eq([2, 4, 2, 2]).all().all()


def test_a_level_whose_every_run_failed_is_measured_nowhere_and_its_pairs_count_as_unscored():
    """clip=norm failed on both seeds: two pairs, none scored, no effect; the row says so."""
    rows = [("copy", {}, seed, 0.5) for seed in range(2)]
    rows += [("copy", {"clip": "norm"}, seed, None, "failed") for seed in range(2)]
    row = remedy_effects(grid_runs(rows)).iloc[0]
    assert (row["axis"], row["level"], row["measured_at"]) == ("clip", "norm", "measured nowhere (no scored pair)")
    assert (row["n_pairs"], row["n_unscored"]) == (0, 2) and math.isnan(row["effect"])


def test_measured_at_names_every_level_that_all_the_measured_contexts_share():
    """clip=none ran at three contexts: (warmup_cosine, no skip, tanh), (warmup_cosine, no skip, relu) and (constant,
    temporal skip, tanh); clip=norm at the first two only. Both measured contexts share lr=warmup_cosine and skip=none,
    which the grid varies (and cell and init, which it does not): "measured at 2 of 3 contexts, all with
    lr=warmup_cosine, skip=none"."""
    contexts = [{"lr": "warmup_cosine", "activation": "tanh"}, {"lr": "warmup_cosine", "activation": "relu"},
                {"skip": "temporal"}]
    rows = [("copy", context, seed, 0.5) for context in contexts for seed in range(2)]
    rows += [("copy", {**context, "clip": "norm"}, seed, 0.6 + 0.01 * seed) for context in contexts[:2]
             for seed in range(2)]
    effects = remedy_effects(grid_runs(rows)).set_index(["axis", "level"])
    assert effects.loc[("clip", "norm"), "measured_at"] == (
        "measured at 2 of 3 contexts, all with lr=warmup_cosine, skip=none")


def interaction_grid():
    """clip x lr x skip, every corner, one task, seeds 0-2: score = 0.3 + 0.1 seed + 0.05 clip + 0.03 lr + 0.02 skip
    + I_cl clip lr + I_ck clip skip + I_lk lr skip (each axis 1 at its non-baseline level), with the seeds'
    interactions below; each seed's 2x2 contrast is exactly its I at either level of the third axis."""
    i_cl, i_ck, i_lk = (0.10, 0.11, 0.09), (-0.20, -0.23, -0.17), (0.03, -0.02, 0.005)
    rows = []
    for seed in range(3):
        for c, l, k in itertools.product((0, 1), repeat=3):
            levels = {"clip": ("none", "norm")[c], "lr": ("constant", "warmup_cosine")[l], "skip": ("none", "temporal")[k]}
            score = (0.3 + 0.1 * seed + 0.05 * c + 0.03 * l + 0.02 * k + i_cl[seed] * c * l + i_ck[seed] * c * k
                     + i_lk[seed] * l * k)
            rows.append(("copy", levels, seed, score))
    return grid_runs(rows), {("clip", "lr"): i_cl, ("clip", "skip"): i_ck, ("lr", "skip"): i_lk}


def test_interactions_carry_their_t_interval_holm_verdict_and_are_sorted_by_size():
    """interaction_grid by hand, three seeds (df 2, where Student's t has closed forms: P(T > t) = 1/2 - t / (2 sqrt(t^2
    + 2)) and the 97.5% point 0.95 / sqrt(2 0.975 0.025) = 4.3027): each interaction's mean over seeds, mean +- 4.3027 s /
    sqrt 3, p = 1 - t / sqrt(t^2 + 2). Holm over the three: clip x lr (p 0.0033) times 3, clip x skip (0.0074) times
    2, lr x skip (large) as is, each the running maximum: clip x lr positive, clip x skip negative, lr x skip
    unclear. Rows largest |interaction| first: clip x skip (-0.2), clip x lr (0.1), lr x skip (0.005)."""
    df, truth = interaction_grid()
    table = interactions(df)
    assert list(table.columns) == ["axis_a", "level_a", "axis_b", "level_b", "interaction", "ci_low", "ci_high", "p",
                                   "p_holm", "verdict", "tasks_paired", "n", "n_unscored"]
    assert list(zip(table["axis_a"], table["axis_b"])) == [("clip", "skip"), ("clip", "lr"), ("lr", "skip")]
    assert list(zip(table["level_a"], table["level_b"])) == [("norm", "temporal"), ("norm", "warmup_cosine"),
                                                             ("warmup_cosine", "temporal")]
    q = 0.95 / math.sqrt(2 * 0.975 * 0.025)
    p = {}
    for row in table.itertuples():
        values = truth[(row.axis_a, row.axis_b)]
        mean, s = statistics.mean(values), statistics.stdev(values)
        t = abs(mean) / (s / math.sqrt(3))
        p[(row.axis_a, row.axis_b)] = 1 - t / math.sqrt(t * t + 2)
        assert (row.interaction, row.ci_low, row.ci_high) == pytest.approx(
            (mean, mean - q * s / math.sqrt(3), mean + q * s / math.sqrt(3)), abs=1e-9)
        assert row.p == pytest.approx(p[(row.axis_a, row.axis_b)], abs=1e-9)
        assert (row.tasks_paired, row.n, row.n_unscored) == (1, 6, 0)
    first = 3 * p[("clip", "lr")]
    second = max(first, 2 * p[("clip", "skip")])
    third = min(1.0, max(second, p[("lr", "skip")]))
    assert p[("clip", "lr")] < p[("clip", "skip")] < p[("lr", "skip")] and second < 0.05 < third
    assert table["p_holm"].tolist() == pytest.approx([second, first, third], abs=1e-9)
    assert table["verdict"].tolist() == ["negative", "positive", "unclear"]
    assert list(table.index) == [0, 1, 2]


def test_the_top_interactions_are_the_largest_rows_of_the_whole_family():
    """top=k keeps the k largest rows, numbered from 0, with the family's Holm adjustment; top=None keeps all."""
    df, _ = interaction_grid()
    every = interactions(df)
    assert len(every) == 3 and interactions(df, top=None).equals(every)
    for k in (1, 2):
        top = interactions(df, top=k)
        assert list(top.index) == list(range(k))
        pd.testing.assert_frame_equal(top, every.head(k))


def test_interactions_of_equal_size_keep_the_axis_then_level_order():
    """A nearly solved task: every run scores 1 less 0.125 for each pair of axes at their last level (activation=relu,
    clip=value, lr=warmup_cosine, skip=temporal), exact in binary. Each 2x2 contrast is then -0.125 where both levels
    are the last ones and exactly 0 elsewhere (the pair terms with a third axis cancel), so the 24 rows (6 pairs of
    axes x 2 x 2 levels, past the size where a sort's order of ties is its own) tie in two sizes: first the six
    -0.125 rows, then the eighteen 0 rows, each group in the order axis pair by axis pair, levels by name; top=8 the
    six and the first two zeros."""
    axes = {"activation": ("tanh", "leaky_relu", "relu"), "clip": ("none", "norm", "value"),
            "lr": ("constant", "plateau", "warmup_cosine"), "skip": ("none", "residual", "temporal")}
    rows = []
    for levels in itertools.product(*axes.values()):
        marked = sum(level == choices[-1] for level, choices in zip(levels, axes.values()))
        rows += [("copy", dict(zip(axes, levels)), seed, 1.0 - 0.125 * math.comb(marked, 2)) for seed in range(2)]
    df = grid_runs(rows)
    order = [(a, la, b, lb) for a, b in itertools.combinations(axes, 2) for la in axes[a][1:] for lb in axes[b][1:]]
    both_last = [row for row in order if row[1] == axes[row[0]][-1] and row[3] == axes[row[2]][-1]]
    expected = both_last + [row for row in order if row not in both_last]
    table = interactions(df)
    assert list(zip(table["axis_a"], table["level_a"], table["axis_b"], table["level_b"])) == expected
    assert table["interaction"].tolist() == [-0.125] * 6 + [0.0] * 18
    top = interactions(df, top=8)
    assert list(zip(top["axis_a"], top["level_a"], top["axis_b"], top["level_b"])) == expected[:8]


def test_runs_without_a_column_the_effects_need_are_refused_naming_it():
    """The effects need each run's task_label, status, normalized_score and seed (load_results' frame)."""
    df = grid_runs([("copy", {}, 0, 0.5)])
    for column in ("task_label", "status", "normalized_score", "seed"):
        with pytest.raises(ValueError, match=f"'{column}' column"):
            remedy_effects(df.drop(columns=column))
