"""The leaderboard's counting rules, each by a case that its inversion gets wrong: ranks and ties, the overall table's
order, the bounded score (0 where below 0, a failed run left out), the bold best, interactions paired by seed and
the tuned setting's choice. The records are written as the runner writes them, with their scores given, and every
expected value is worked out by hand in the test. No training: these tests take about a second, so mutation testing
runs them for every mutant (README: Development)."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.bench.record import RECORD_VERSION
from rnnbench.leaderboard import load_results
from rnnbench.leaderboard.tables import frontier, overall_table, select_tuned, task_table
from rnnbench.leaderboard.effects import interactions
from rnnbench.leaderboard.findings import findings
from rnnbench.leaderboard.render import render
from rnnbench.tasks import TASKS, Task

RECALL = "delayed_recall(delay=50)"
CHANCE = 1 / 8  # delayed recall with 8 cues: the memoryless accuracy


def record(root: Path, combo: str, seed: int, score: float | None, *, status: str = "ok", task: str = "delayed_recall",
           delay: int = 50, cues: int | None = None, val: float | None = None,
           tuning: tuple[str, float] = ("adam", 0.001), levels: dict[str, str] | None = None, run_id: str | None = None,
           max_steps: int = 100, suite: str = "rules", last: float | None = None, version: int | None = 1,
           params: dict | None = None, **fields) -> None:
    """One result.json. `combo` is the cell (or, with `levels`, the combination's name); the run's accuracy is the one
    whose normalized score is `score` (score 1: accuracy 1; 0: chance); `val` its validation score, `last` its
    last weights' score. Every task is
    scored on accuracy here; its label is "<task>(delay=<delay>[, cues=<cues>])", or with `params` those. `fields`
    replace the record's own (a hostile record's)."""
    optimizer, rate = tuning
    params = params or ({"delay": delay} if cues is None else {"delay": delay, "cues": cues})
    label = f"{task}(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
    remedies = levels or {"cell": combo}
    run_id = run_id or f"{label}-{combo}-{optimizer}{rate}-{seed}-{suite}"
    accuracy = None if score is None else CHANCE + score * (1 - CHANCE)
    rec = {"run_id": run_id, "suite": suite, "created": "2026-12-01T00:00:00+00:00", "status": status,
           "error": None if status == "ok" else "boom",
           "config": {"task": {"name": task, "params": params, "version": version}, "seed": seed,
                      "budget": {"optimizer": optimizer, "learning_rate": rate, "max_steps": max_steps}},
           "task": task, "task_label": label, "combo": combo, "remedies": remedies,
           "primary_metric": "accuracy", "higher_is_better": True, "baseline": {"accuracy": CHANCE},
           "metrics": {} if accuracy is None else {"accuracy": accuracy}, "normalized_score": score,
           "val_score": val, "best_step": None if score is None else 50, "history": [], "grad": {},
           "last": None if last is None else {"step": 100, "metrics": {}, "normalized_score": last}, **fields}
    path = root / "runs" / run_id.replace("(", "_").replace(")", "_").replace("=", "_") / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))


def by_combo(table: pd.DataFrame, column: str, task: str | None = None) -> dict:
    if task is not None:
        table = table[table["task_label"] == task]
    return table.set_index("combo")[column].to_dict()


# the same seed scores in two orders, whose means as pandas' group means sum them differ in the last bit
# (0.4000000000000001 and 0.39999999999999997): one mean score of 0.4, which ranks and choices must treat as one
SAME = [0.1, 0.2, 0.9]
REORDERED = [0.2, 0.9, 0.1]


def test_the_group_means_of_the_same_scores_in_two_orders_differ():
    """The precondition of the tie tests below (without it they would test nothing), in both ways the tables group:
    each combo's seeds together (task_table) and settings interleaved seed by seed (select_tuned). Should pandas ever
    sum these exactly, pick other scores."""
    together = pd.DataFrame({"g": [0] * 3 + [1] * 3, "v": SAME + REORDERED}).groupby("g")["v"].agg(["mean", "sem"])
    interleaved = pd.DataFrame({"g": [0, 1] * 3, "v": [v for pair in zip(SAME, REORDERED) for v in pair]})
    for means in (together["mean"], interleaved.groupby("g").agg(m=("v", "mean"))["m"]):
        assert means[0] > means[1] and means[0] == pytest.approx(0.4, abs=1e-15) == means[1]


def test_tied_combos_share_the_best_rank_and_the_next_combo_counts_them(tmp_path):
    """Recall: gru and lstm 0.8, rnn 0.5: ranks 1, 1, 3 (not 1, 1, 2). Copy: rnn 0.9, gru 0.4, lstm 0.2: 1, 2, 3. Mean
    ranks: gru (1 + 2) / 2 = 1.5, lstm (1 + 3) / 2 = 2, rnn (3 + 1) / 2 = 2."""
    for combo, recall, copy in (("gru", 0.8, 0.4), ("lstm", 0.8, 0.2), ("rnn", 0.5, 0.9)):
        record(tmp_path, combo, 0, recall)
        record(tmp_path, combo, 0, copy, task="copy")
    df = load_results(tmp_path)
    assert by_combo(task_table(df), "rank", RECALL) == {"gru": 1, "lstm": 1, "rnn": 3}
    assert by_combo(task_table(df), "rank", "copy(delay=50)") == {"rnn": 1, "gru": 2, "lstm": 3}
    assert by_combo(overall_table(df), "mean_rank") == {"gru": 1.5, "lstm": 2.0, "rnn": 2.0}


def test_the_task_table_lists_settings_in_natural_order_then_by_rank(tmp_path):
    """Three delays written 100, 7, 50: the table shows delay 7, then 50, then 100 (as text 100 would come first),
    each task's combos by rank (rnn 0.3 below gru 0.6 though it sorts first by name)."""
    for delay in (100, 7, 50):
        record(tmp_path, "rnn", 0, 0.3, delay=delay)
        record(tmp_path, "gru", 0, 0.6, delay=delay)
    table = task_table(load_results(tmp_path))
    assert list(zip(table["task_label"], table["combo"])) == [
        (f"delayed_recall(delay={d})", combo) for d in (7, 50, 100) for combo in ("gru", "rnn")
    ]


def test_combos_without_a_score_on_a_task_share_its_last_rank(tmp_path):
    """lstm 0.6, gru 0.3, and two combos whose every run failed: ranks 1, 2, 3, 3."""
    record(tmp_path, "lstm", 0, 0.6)
    record(tmp_path, "gru", 0, 0.3)
    record(tmp_path, "rnn", 0, None, status="failed")
    record(tmp_path, "gru + chrono", 0, None, status="failed", levels={"cell": "gru", "init": "chrono"})
    ranks = by_combo(task_table(load_results(tmp_path)), "rank")
    assert ranks == {"lstm": 1, "gru": 2, "rnn": 3, "gru + chrono": 3}


def test_seed_means_that_differ_only_in_their_last_bit_tie_in_rank_and_in_the_overall_order(tmp_path):
    """lstm's seeds score 0.1, 0.2, 0.9 and gru's 0.2, 0.9, 0.1: both mean 0.4, one rank; in the overall table a
    tie on the mean score and the mean rank falls to the name, so gru comes first and "Best overall" names it."""
    for seed, (lstm, gru) in enumerate(zip(SAME, REORDERED)):
        record(tmp_path, "gru", seed, gru)
        record(tmp_path, "lstm", seed, lstm)
    df = load_results(tmp_path)
    tasks, overall = task_table(df), overall_table(df)
    assert by_combo(tasks, "rank") == {"gru": 1, "lstm": 1}
    assert list(overall["combo"]) == ["gru", "lstm"]
    assert findings(tasks, overall)[0].startswith("Best overall: gru, mean score 0.4 ")


def test_a_score_above_1_counts_as_measured(tmp_path):
    """A run better than the task's reference model (text: a model beating the trigram scores above 1) counts its
    score: lstm's 1.3 and 1.1 average 1.2, above gru's 1.1 and 1.1, so lstm ranks first where a cap at 1 would tie
    them. The last weights' score likewise: lstm's 1.6 and 0.4 average 1.0. A score below 0 still counts 0."""
    record(tmp_path, "lstm", 0, 1.3, last=1.6)
    record(tmp_path, "lstm", 1, 1.1, last=0.4)
    record(tmp_path, "gru", 0, 1.1, last=-0.5)
    record(tmp_path, "gru", 1, 1.1, last=0.8)
    table = task_table(load_results(tmp_path))
    assert by_combo(table, "score") == pytest.approx({"gru": 1.1, "lstm": 1.2})
    assert by_combo(table, "last_score") == pytest.approx({"gru": 0.4, "lstm": 1.0})
    assert by_combo(table, "rank") == {"lstm": 1, "gru": 2}


def test_a_failed_run_is_left_out_even_where_its_record_has_a_score(tmp_path):
    """A run that failed after its test (say, writing its checkpoint) keeps the score it recorded, and is still left
    out: lstm counts only its ok seed's 0.6, not (0.6 + 0.9) / 2."""
    record(tmp_path, "lstm", 0, 0.6)
    record(tmp_path, "lstm", 1, 0.9, status="failed")
    df = load_results(tmp_path)
    row = task_table(df).set_index("combo").loc["lstm"]
    assert row["score"] == pytest.approx(0.6)
    assert (row["n_ok"], row["n_failed"]) == (1, 1)
    overall = overall_table(df).set_index("combo").loc["lstm"]
    assert (overall["mean_score"], overall["n_runs"], overall["n_failed"]) == (pytest.approx(0.6), 2, 1)


def test_two_combos_scoring_1_on_every_seed_tie_and_neither_is_bold(tmp_path):
    """gru and lstm both reach accuracy 1 on both seeds: no spread, no gap, nothing bold; rnn trails."""
    for seed, rnn in enumerate((0.3, 0.35)):
        record(tmp_path, "gru", seed, 1.0)
        record(tmp_path, "lstm", seed, 1.0)
        record(tmp_path, "rnn", seed, rnn)
    df = load_results(tmp_path)
    assert "**" not in render(task_table(df), "md")
    assert "**" not in render(overall_table(df), "md")


def test_a_mean_score_equal_to_twelve_digits_falls_to_the_mean_rank_in_the_overall_order(tmp_path):
    """Over three tasks gru scores 0.9, 0.5, 0.4 and lstm 0.6 on each: both mean 0.6; rnn 0.5, 0.55, 0.7 ranks between
    them. Ranks: gru 1, 3, 3 (mean 7/3), lstm 2, 1, 2 (5/3): lstm comes first, though gru's name sorts first."""
    for combo, scores in (("gru", (0.9, 0.5, 0.4)), ("lstm", (0.6, 0.6, 0.6)), ("rnn", (0.5, 0.55, 0.7))):
        for delay, s in zip((50, 100, 200), scores):
            record(tmp_path, combo, 0, s, delay=delay)
    overall = overall_table(load_results(tmp_path))
    assert list(overall["combo"]) == ["lstm", "gru", "rnn"]
    assert by_combo(overall, "mean_rank") == pytest.approx({"lstm": 5 / 3, "gru": 7 / 3, "rnn": 2})


def test_the_best_is_bold_against_the_runner_ups_noise_not_a_third_combos(tmp_path):
    """lstm 0.9 and 0.91 (standard error 0.005), gru 0.5 and 0.51 (0.005): 0.4 apart, lstm is bold. rnn, third with
    0.0 and 0.9 (standard error 0.45), is noisier than the gap but is not the runner-up."""
    for seed, (lstm, gru, rnn) in enumerate(((0.9, 0.5, 0.0), (0.91, 0.51, 0.9))):
        for combo, s in (("lstm", lstm), ("gru", gru), ("rnn", rnn)):
            record(tmp_path, combo, seed, s)
    md = render(task_table(load_results(tmp_path)), "md")
    rows = {line.split("|")[2].strip(): line for line in md.splitlines()[2:]}
    assert rows["lstm"].count("**") == 4 and "**" not in rows["gru"] + rows["rnn (baseline)"]  # accuracy and score


def test_a_mean_score_over_tasks_with_a_single_seed_somewhere_has_no_standard_error_and_is_not_bold(tmp_path):
    """lstm and rnn ran two seeds on recall and one on copy: the copy score has no standard error, so neither has the
    mean over the two tasks, and nothing in the overall table is bold, however far apart (0.9 against 0.3)."""
    for combo, s in (("lstm", 0.9), ("rnn", 0.3)):
        record(tmp_path, combo, 0, s)
        record(tmp_path, combo, 1, s + 0.01)
        record(tmp_path, combo, 0, s, task="copy")
    overall = overall_table(load_results(tmp_path))
    assert overall["mean_score_se"].isna().all()
    assert "**" not in render(overall, "md")


def test_an_interaction_on_one_task_is_paired_by_seed(tmp_path):
    """clip x lr on one task, three seeds that differ a lot (0.1, 0.3, 0.5 at the baseline). Per seed the interaction
    is [s(norm, warmup) - s(none, warmup)] - [s(norm, constant) - s(none, constant)] = 0.21, 0.19, 0.22; with one
    task the reported interval is the t-interval over these three seeds, t(0.975, df=2) = 0.95 / sqrt(2 * 0.975 *
    0.025) = 4.3027 (Student's t with 2 degrees of freedom in closed form)."""
    base = (0.1, 0.3, 0.5)
    clip_effect = (0.05, 0.10, 0.15)  # differs by seed, so pairing with another seed's runs would change the contrasts
    interaction = (0.21, 0.19, 0.22)
    for seed in range(3):
        scores = {("none", "constant"): base[seed], ("norm", "constant"): base[seed] + clip_effect[seed],
                  ("none", "warmup_cosine"): base[seed] + 0.05,
                  ("norm", "warmup_cosine"): base[seed] + 0.05 + clip_effect[seed] + interaction[seed]}
        for (clip, lr), s in scores.items():
            name = f"rnn·clip={clip}·lr={lr}"
            record(tmp_path, name, seed, s, levels={"cell": "rnn", "clip": clip, "lr": lr})
    row = interactions(load_results(tmp_path)).iloc[0]
    assert (row.axis_a, row.level_a, row.axis_b, row.level_b) == ("clip", "norm", "lr", "warmup_cosine")
    mean = statistics.mean(interaction)
    half = 0.95 / math.sqrt(2 * 0.975 * 0.025) * statistics.stdev(interaction) / math.sqrt(3)
    assert (row.interaction, row.ci_low, row.ci_high) == pytest.approx((mean, mean - half, mean + half), abs=1e-9)
    assert (row.n, row.tasks_paired) == (3, 1)


def test_a_length_whose_mean_score_is_exactly_the_threshold_is_solved(tmp_path):
    """The frontier is the longest length scored at least 0.9: lstm scores 1.0 at delay 50 and exactly 0.9 at 100
    (solved: 100), gru 0.95 and 0.85 (50)."""
    for combo, scores in (("lstm", (1.0, 0.9)), ("gru", (0.95, 0.85))):
        for delay, s in zip((50, 100), scores):
            record(tmp_path, combo, 0, s, delay=delay)
    table = frontier(load_results(tmp_path)).set_index("combo")
    assert table["delayed_recall(delay=50/100)"].to_dict() == {"gru": 50, "lstm": 100}


def test_the_frontier_compares_lengths_only_within_one_setting_of_the_other_parameters_and_the_training(tmp_path):
    """lstm with 8 cues scores 1.0 at delay 50 and 0.95 at 100 (solved to 100); with 16 cues 0.95 and 0.3 (to 50);
    with 4 cues only delay 50 ran (no length to compare: no column). Trained longer ("long" suite, 1000 steps) 1.0 and
    0.95 (to 100), shorter ("short", 100 steps) 0.95 and 0.2 (to 50). Averaging lengths over the settings would
    read 0.625 at delay 100 for the cues, 0.575 for the budgets, and call both solved to 50."""
    for cues, scores in ((8, (1.0, 0.95)), (16, (0.95, 0.3)), (4, (1.0,))):
        for delay, s in zip((50, 100), scores):
            record(tmp_path, "lstm", 0, s, delay=delay, cues=cues)
    for suite, steps, scores in (("long", 1000, (1.0, 0.95)), ("short", 100, (0.95, 0.2))):
        for delay, s in zip((50, 100), scores):
            record(tmp_path, "lstm", 0, s, task="copy", delay=delay, max_steps=steps, suite=suite)
    with pytest.warns(UserWarning, match=r"copy\(delay=(50|100)\): runs of 2 settings"):
        table = frontier(load_results(tmp_path)).set_index("combo")
    assert table.loc["lstm"].to_dict() == {"copy(delay=50/100) [long]": 100, "copy(delay=50/100) [short]": 50,
                                           "delayed_recall(delay=50/100, cues=8)": 100,
                                           "delayed_recall(delay=50/100, cues=16)": 50}


@dataclass(frozen=True)
class HorizonTask(Task):
    """A task whose length parameter has a name of its own, which it declares."""

    name = "toy_horizon"
    length_param = "horizon"
    version = 1
    horizon: int = 10


@pytest.fixture
def horizon_task():
    TASKS.register(HorizonTask.name)(HorizonTask)
    yield
    TASKS.unregister(HorizonTask.name)


def test_the_frontier_runs_along_the_length_parameter_a_task_declares(tmp_path, horizon_task):
    """toy_horizon declares `horizon` its length: lstm solves horizon 10 and 20, gru 10 only. Its records, written
    before records named their length parameter, read the registered task's declaration. A task not registered here
    whose records name none has no frontier, whatever its parameter is called (seq_len, swept 50 and 100 here)."""
    for combo, scores in (("lstm", (1.0, 0.95)), ("gru", (0.95, 0.3))):
        for horizon, s in zip((10, 20), scores):
            record(tmp_path, combo, 0, s, task="toy_horizon", params={"horizon": horizon})
    for seq_len in (50, 100):
        record(tmp_path, "lstm", 0, 1.0, task="unregistered", params={"seq_len": seq_len})
    df = load_results(tmp_path)
    assert set(zip(df["task"], df["length_param"].fillna("none"))) == {("toy_horizon", "horizon"),
                                                                       ("unregistered", "none")}
    table = frontier(df).set_index("combo")
    assert list(table.columns) == ["toy_horizon(horizon=10/20)"]
    assert table["toy_horizon(horizon=10/20)"].to_dict() == {"gru": 10, "lstm": 20}


def test_a_records_own_length_parameter_is_the_one_read(tmp_path):
    """Records that name their length parameter are read by it, a task the leaderboard does not know included
    (its plugin not loaded): `width` 4 and 8, lstm solving both; adding's runs that name `train_size` (not what
    the task declares) are compared along it."""
    for width in (4, 8):
        record(tmp_path, "lstm", 0, 1.0, task="unregistered", params={"width": width}, length_param="width")
    for size, s in ((100, 1.0), (200, 0.5)):
        record(tmp_path, "lstm", 0, s, task="adding", params={"seq_len": 50, "train_size": size},
               length_param="train_size", record_version=RECORD_VERSION)
    table = frontier(load_results(tmp_path)).set_index("combo")
    assert table.loc["lstm"].to_dict() == {"adding(seq_len=50, train_size=100/200)": 100,
                                           "unregistered(width=4/8)": 8}


def chosen_setting(root: Path) -> set[str]:
    return set(select_tuned(load_results(root))["tuning"])


def test_a_setting_whose_every_run_failed_is_never_chosen(tmp_path):
    """adam 0.001, the first setting in order, failed on both seeds (no validation score); sgd 0.1 validated at 0.3:
    sgd is chosen and its test score shown."""
    for seed in range(2):
        record(tmp_path, "lstm", seed, None, status="failed", tuning=("adam", 0.001))
        record(tmp_path, "lstm", seed, 0.25, val=0.3, tuning=("sgd", 0.1))
    chosen = select_tuned(load_results(tmp_path))
    assert set(chosen["tuning"]) == {"sgd lr=0.1"} and len(chosen) == 2
    assert task_table(chosen)["score"].iloc[0] == pytest.approx(0.25)
    assert chosen[["tuning_settings", "tuning_runs"]].drop_duplicates().values.tolist() == [[2, 4]]  # what it cost


def test_tied_settings_go_to_the_first_in_optimizer_then_rate_order_whatever_the_files_order(tmp_path):
    """Three settings validate at 0.7 each; the files are read sgd first, then adam 0.01, then adam 0.001 (their run
    ids' order); the choice is adam 0.001: the first optimizer by name, then the smallest rate."""
    for run_id, setting in (("a", ("sgd", 0.1)), ("b", ("adam", 0.01)), ("c", ("adam", 0.001))):
        record(tmp_path, "lstm", 0, 0.5, val=0.7, tuning=setting, run_id=run_id)
    assert list(load_results(tmp_path)["tuning"]) == ["sgd lr=0.1", "adam lr=0.01", "adam lr=0.001"]
    assert chosen_setting(tmp_path) == {"adam lr=0.001"}
    other = tmp_path / "other"
    for run_id, setting in (("a", ("sgd", 0.01)), ("b", ("adam", 0.1))):  # the optimizer decides before the rate
        record(other, "lstm", 0, 0.5, val=0.7, tuning=setting, run_id=run_id)
    assert chosen_setting(other) == {"adam lr=0.1"}


def test_settings_that_both_validate_past_the_reference_are_told_apart(tmp_path):
    """On a task whose reference is a model (text's trigram), adam 0.001 validates at 1.1 and sgd 0.1 at 1.2: both
    beat the reference, and sgd, the better on validation, is chosen (a cap at 1 would tie them and pick adam)."""
    for seed in range(2):
        record(tmp_path, "lstm", seed, 1.0, val=1.1, tuning=("adam", 0.001))
        record(tmp_path, "lstm", seed, 1.1, val=1.2, tuning=("sgd", 0.1))
    assert chosen_setting(tmp_path) == {"sgd lr=0.1"}


def test_settings_whose_mean_validation_scores_differ_only_in_their_last_bit_tie(tmp_path):
    """adam 0.001 validates at 0.2, 0.9, 0.1 over its seeds and sgd 0.1 at 0.1, 0.2, 0.9: both 0.4, a tie, so the first
    in order, adam, is chosen."""
    for seed, (adam, sgd) in enumerate(zip(REORDERED, SAME)):
        record(tmp_path, "lstm", seed, 0.5, val=adam, tuning=("adam", 0.001))
        record(tmp_path, "lstm", seed, 0.5, val=sgd, tuning=("sgd", 0.1))
    assert chosen_setting(tmp_path) == {"adam lr=0.001"}


def test_the_choice_is_per_task_and_combination(tmp_path):
    """lstm on recall validates best at sgd, gru at adam, and lstm on copy at adam: each keeps its own."""
    for (label, combo), (adam, sgd) in {(RECALL, "lstm"): (0.2, 0.6), (RECALL, "gru"): (0.7, 0.4),
                                        ("copy(delay=50)", "lstm"): (0.9, 0.1)}.items():
        task = label.split("(")[0]
        record(tmp_path, combo, 0, 0.5, val=adam, tuning=("adam", 0.001), task=task)
        record(tmp_path, combo, 0, 0.5, val=sgd, tuning=("sgd", 0.1), task=task)
    chosen = select_tuned(load_results(tmp_path)).set_index(["task_label", "combo"])["tuning"].to_dict()
    assert chosen == {(RECALL, "lstm"): "sgd lr=0.1", (RECALL, "gru"): "adam lr=0.001",
                      ("copy(delay=50)", "lstm"): "adam lr=0.001"}


@pytest.mark.parametrize("field, value, named", [
    ("normalized_score", True, "'normalized_score' must be a finite number <= 1e+06, got True"),
    ("normalized_score", 2e6, "'normalized_score' must be a finite number <= 1e+06, got 2000000.0"),
    ("normalized_score", float("nan"), "'normalized_score' must be a finite number <= 1e+06, got nan"),
    ("val_score", -float("inf"), "'val_score' must be a finite number <= 1e+06, got -inf"),
    ("metrics", {"accuracy": 1e41}, "'metrics' must be a mapping of names to finite numbers within ±1e+40, got a dict"),
    ("metrics", {"accuracy": float("inf")}, "'metrics' must be a mapping of names to finite numbers"),
    ("last", {"step": 100, "normalized_score": 1e300}, "'last.normalized_score' must be a finite number <= 1e+06"),
    ("config", {"seed": True, "task": {"version": 1}}, "'config.seed' must be a whole number >= 0, got True"),
    ("config", {"seed": 1, "task": {"version": -2}}, "'config.task.version' must be a whole number >= 0, got -2"),
])
def test_a_record_with_a_field_that_no_run_could_hold_is_left_out_with_a_warning_naming_it(tmp_path, field, value,
                                                                                          named):
    """A hostile or damaged record among good ones (lstm 0.8 and 0.6, rnn 0.5) leaves every number as without it: a
    score of true (JSON's 1), above a millionfold its reference or not finite, a metric beyond float32's range, a bad
    field nested in another; the warning names its file and the field."""
    record(tmp_path, "lstm", 0, 0.8)
    record(tmp_path, "lstm", 1, 0.6)
    record(tmp_path, "rnn", 0, 0.5)
    record(tmp_path, "rnn", 1, 0.5, run_id="hostile", **{field: value})
    with pytest.warns(UserWarning) as caught:
        df = load_results(tmp_path)
    (warning,) = [str(w.message) for w in caught if "hostile" in str(w.message)]
    assert warning.startswith(f"skipping result file {tmp_path / 'runs' / 'hostile' / 'result.json'}: field {named}")
    assert set(df["run_id"]) == {f"delayed_recall(delay=50)-{c}-adam0.001-{i}-rules" for c, i in
                                 (("lstm", 0), ("lstm", 1), ("rnn", 0))}
    assert by_combo(task_table(df), "score") == pytest.approx({"lstm": 0.7, "rnn": 0.5})


@pytest.mark.parametrize("content, reason", [
    (b'{"run_id": "cut", "status": "ok", "normalized_sc', "Unterminated string"),  # a write cut short
    (b'{"run_id": "caf\xe9"}', "can't decode byte 0xe9"),  # not UTF-8
])
def test_an_unreadable_result_file_is_left_out_with_a_warning_naming_it_and_why(tmp_path, content, reason):
    """A result file that is no JSON (cut short) or no UTF-8 among good ones (lstm 0.8, rnn 0.5): every number as
    without it; the one warning names the file and the reason."""
    record(tmp_path, "lstm", 0, 0.8)
    record(tmp_path, "rnn", 0, 0.5)
    bad = tmp_path / "runs" / "damaged" / "result.json"
    bad.parent.mkdir()
    bad.write_bytes(content)
    with pytest.warns(UserWarning) as caught:
        df = load_results(tmp_path)
    (warning,) = [w for w in caught if "damaged" in str(w.message)]
    assert str(warning.message).startswith(f"skipping unreadable result file {bad}: ")
    assert reason in str(warning.message)
    assert by_combo(task_table(df), "score") == pytest.approx({"lstm": 0.8, "rnn": 0.5})


def test_a_record_without_a_task_version_counts_as_older_than_any(tmp_path):
    """lstm's runs of task version 1 score 0.8; one from before the version was recorded scores 0.2: left out."""
    record(tmp_path, "lstm", 0, 0.8)
    record(tmp_path, "lstm", 1, 0.2, version=None)
    with pytest.warns(UserWarning, match=r"leaving out 1 delayed_recall run\(s\) of task version \(none\)"):
        df = load_results(tmp_path)
    assert by_combo(task_table(df), "score") == pytest.approx({"lstm": 0.8})


def test_a_run_without_the_length_parameter_adds_no_length_to_its_familys_frontier(tmp_path):
    """A run of the task whose parameters lack its length (a record written before the parameter existed, or hand
    made) has no length: the frontier runs over the lengths that were tested, 50 and 100, with nothing in between."""
    for delay, s in ((50, 1.0), (100, 0.95)):
        record(tmp_path, "lstm", 0, s, delay=delay)
    record(tmp_path, "lstm", 1, 0.0, params={"delay": None})
    table = frontier(load_results(tmp_path)).set_index("combo")
    assert table.loc["lstm"].to_dict() == {"delayed_recall(delay=50/100)": 100}


def test_an_unreadable_records_file_is_skipped_and_the_next_folders_are_still_read(tmp_path):
    """A damaged records.jsonl.gz (not gzip) in the first folder gets one warning naming it; the runs of the folders
    after it still count."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "records.jsonl.gz").write_bytes(b"not a gzip file")
    record(tmp_path / "b", "lstm", 0, 1.0)
    record(tmp_path / "c", "gru", 0, 0.5)
    with pytest.warns(UserWarning, match=r"unreadable records file .*a/records.jsonl.gz"):
        df = load_results([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    assert sorted(df["combo"]) == ["gru", "lstm"]
