"""The tuning protocol: a suite's grid of optimizer settings, each combination compared at its best setting chosen on
validation (real runs and records, real pandas)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnbench.bench.cli import main
from rnnbench.bench.grid import expand
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.suite import load_suite
from rnnbench.leaderboard import load_results
from rnnbench.leaderboard.tables import select_tuned, task_table

TUNED_SUITE = """\
name: tuned
tasks:
  adding: {seq_len: 6, train_size: 64, val_size: 32, test_size: 32}
axes:
  - {cell: [rnn, gru]}
tune: [{optimizer: adam, learning_rate: [0.001, 0.05]}, {optimizer: sgd, learning_rate: 0.1}]
seeds: 2
model: {hidden_size: 8, num_layers: 1}
budget: {max_steps: 8, batch_size: 16, eval_every: 4, probe_batch: 4}
"""


def test_a_tuning_grid_trains_every_setting_and_the_leaderboard_keeps_each_combos_best_on_validation(tmp_path,
                                                                                                     capsys):
    suite = tmp_path / "tuned.yaml"
    suite.write_text(TUNED_SUITE)
    grid = expand(load_suite(str(suite)))
    assert len(grid) == 2 * 3 * 2  # combos x settings x seeds
    assert {(c.budget.optimizer, c.budget.learning_rate) for c in grid} == {("adam", 0.001), ("adam", 0.05),
                                                                             ("sgd", 0.1)}
    out = tmp_path / "res"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--workers", "0", "--quiet", "--no-leaderboard",
                 "--dry-run"]) == 0
    assert "2 remedy combinations x 3 tuning settings x 2 seeds" in capsys.readouterr().out
    assert main(["run", "--suite", str(suite), "--out", str(out), "--workers", "0", "--quiet"]) == 0
    df = load_results([out])
    assert len(df) == 12 and df["val_score"].notna().all()
    assert df["task_label"].nunique() == 1  # the settings are tuning, not separate task settings
    chosen = select_tuned(df)
    for combo, runs in df.groupby("combo"):
        means = runs.groupby("tuning")["val_score"].apply(lambda s: s.clip(lower=0).mean())
        best = means[means == means.max()].index
        picked = chosen[chosen["combo"] == combo]
        assert len(picked) == 2 and picked["tuning"].nunique() == 1 and picked["tuning"].iloc[0] in best
        assert (picked["tuning_settings"] == 3).all() and (picked["tuning_runs"] == 6).all()
    table = task_table(chosen)
    assert len(table) == 2 and set(table["tuning"]) <= set(df["tuning"])
    page = (out / "leaderboard" / "leaderboard.md").read_text()
    assert "Tuning: each combination on each task is shown at its best of 3 optimizer settings" in page
    assert "4 of the 12 runs are the chosen settings'" in page


def _record(root: Path, tuning: tuple[str, float], seed: int, val: float | None, test: float | None,
            status: str = "ok") -> None:
    optimizer, rate = tuning
    run_id = f"{optimizer}{rate}-{seed}-{status}".replace(".", "")
    rec = {"run_id": run_id, "suite": "t", "created": "2026-12-01T00:00:00+00:00", "status": status,
           "config": {"task": {"name": "adding", "params": {"seq_len": 100}, "version": 3}, "seed": seed,
                      "model": {"cell": "rnn"}, "clip": "none", "lr": "constant",
                      "budget": {"optimizer": optimizer, "learning_rate": rate, "max_steps": 100}},
           "task": "adding", "task_label": "adding(seq_len=100)", "combo": "rnn", "remedies": {"cell": "rnn"},
           "primary_metric": "mse", "higher_is_better": False, "baseline": {"mse": 1 / 6},
           "metrics": {} if test is None else {"mse": (1 - test) / 6}, "normalized_score": test, "val_score": val,
           "best_step": 50, "history": [], "grad": {}}
    path = root / "runs" / run_id / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))


def test_the_choice_reads_validation_never_test(tmp_path):
    """Setting A has the better test scores, B the better validation scores: B is chosen (and shown with its test
    scores, the worse ones)."""
    for seed in range(2):
        _record(tmp_path, ("adam", 0.01), seed, val=0.5, test=0.9)
        _record(tmp_path, ("adam", 0.001), seed, val=0.6, test=0.4)
    chosen = select_tuned(load_results([tmp_path]))
    assert set(chosen["tuning"]) == {"adam lr=0.001"}
    assert task_table(chosen)["score"].iloc[0] == pytest.approx(0.4)


def test_a_diverged_seed_counts_0_in_the_choice_and_ties_go_to_the_first_setting(tmp_path):
    """A: validation 0.9 and a seed that diverged before validating (0): mean 0.45; B: 0.6 and 0.6: B is chosen. Then
    C and D tie exactly: the first in (optimizer, learning rate) order is chosen, whatever the files' order."""
    _record(tmp_path, ("adam", 0.01), 0, val=0.9, test=0.9)
    _record(tmp_path, ("adam", 0.01), 1, val=None, test=None, status="diverged")
    _record(tmp_path, ("sgd", 0.1), 0, val=0.6, test=0.6)
    _record(tmp_path, ("sgd", 0.1), 1, val=0.6, test=0.6)
    assert set(select_tuned(load_results([tmp_path]))["tuning"]) == {"sgd lr=0.1"}
    tie = tmp_path / "tie"
    for setting in (("sgd", 0.1), ("adam", 0.003), ("adam", 0.001)):
        _record(tie, setting, 0, val=0.7, test=0.7)
    assert set(select_tuned(load_results([tie]))["tuning"]) == {"adam lr=0.001"}


def test_a_grid_of_one_setting_changes_nothing(tmp_path):
    for seed in range(3):
        _record(tmp_path, ("adam", 0.001), seed, val=0.2 * seed, test=0.3 * seed)
    df = load_results([tmp_path])
    chosen = select_tuned(df)
    assert len(chosen) == 3 and (chosen["tuning_settings"] == 1).all()
    assert task_table(chosen)["score"].iloc[0] == pytest.approx(task_table(df)["score"].iloc[0])


@pytest.mark.parametrize("tune, needle", [
    ("{momentum: [0.9]}", "unknown tuning field 'momentum'; valid fields: optimizer, learning_rate"),
    ("{optimizer: [adamw]}", "adamw"),
    ("{learning_rate: [0.0]}", "learning_rate must be a finite number > 0"),
    ("[]", "'tune' must map budget fields"),
])
def test_a_bad_tuning_grid_is_one_line(tune, needle, tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text(f"tasks: {{adding: {{}}}}\ntune: {tune}\n")
    with pytest.raises(ConfigError, match=needle):
        load_suite(str(suite))
