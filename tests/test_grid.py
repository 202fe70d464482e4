"""The grid (bench/grid.py) without training: which remedy combinations a suite's sub-grids give, how many runs its
grid holds and which, the fields a grid sweeps, and the limit and the seed count it refuses. Every expected value is
written out by hand or built here by a plain product, not read back from the grid's own code. These take under a
second, so mutation testing runs them for every mutant of the grid (README: Development); tests/test_runner.py
checks the shipped suites' grids."""

from __future__ import annotations

import itertools

import pytest

from rnnbench.bench.config import ModelConfig, RunConfig
from rnnbench.bench import grid
from rnnbench.bench.grid import expand, grid_size, remedy_combinations, swept_fields
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.suite import load_suite

BASE = {"cell": "rnn", "activation": "tanh", "init": "default", "clip": "none", "lr": "constant", "skip": "none"}


def combo(**levels: str) -> dict[str, str]:
    return {**BASE, **levels}


def test_sub_grids_union_in_order_with_gated_activations_collapsed_and_chrono_left_off_the_rnn():
    grids = [
        {"cell": ["rnn", "lstm"], "activation": ["tanh", "relu"]},  # lstm+relu is lstm+tanh: a gated cell's own
        {"cell": ["lstm"], "init": ["chrono", "default"]},  # lstm+default already given by the first sub-grid
        {"init": ["chrono"], "clip": ["norm"]},  # the baseline cell is a vanilla RNN: chrono has no gates to set
        {"cell": ["rnn", "gru"], "init": ["chrono"]},  # the RNN's left out, the GRU after it still given
        {"cell": ["gru"], "skip": ["none"], "lr": ["constant", "warmup_cosine"]},
    ]
    assert remedy_combinations(grids) == [
        combo(),
        combo(activation="relu"),
        combo(cell="lstm"),
        combo(cell="lstm", init="chrono"),
        combo(cell="gru", init="chrono"),
        combo(cell="gru"),
        combo(cell="gru", lr="warmup_cosine"),
    ]
    for c in remedy_combinations(grids):
        assert list(c) == list(BASE)  # every axis named, in the axes' order (a run id is built from them)


def test_a_sub_grid_naming_no_axis_is_the_baseline_and_each_combination_is_given_once():
    assert remedy_combinations([{}]) == [combo()]
    assert remedy_combinations([{}, {"cell": ["rnn"]}, {"activation": ["tanh"]}]) == [combo()]
    assert remedy_combinations([{"cell": ["gru"]}, {"cell": ["gru"], "activation": ["relu", "tanh"]}]) == [
        combo(cell="gru")
    ]
    assert remedy_combinations([]) == []


SUITE = """
name: gridtest
tasks:
  adding: {seq_len: [8, 10, 12], train_size: [64, 32], val_size: 32, test_size: 32}
  copy: {delay: 3, train_size: 64, val_size: 32, test_size: 32}
axes:
  - {cell: [rnn, gru], clip: [none, norm]}
  - {cell: [gru], init: [chrono]}
  - {activation: [relu], skip: [temporal]}
seeds: 2
model: {hidden_size: [8, 16]}
budget: {max_steps: [4, 6], batch_size: 16, eval_every: 2, probe_batch: 4}
tune: [{optimizer: adam, learning_rate: [0.001, 0.003]}, {optimizer: sgd, learning_rate: 0.03}]
"""


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "gridtest.yaml"
    path.write_text(SUITE)
    return load_suite(str(path))


def plain_product(tasks: dict[str, list[dict]], seeds: int) -> set[tuple]:
    """The grid of SUITE as a plain product, a run as (task, its parameters, remedies, hidden size, steps, optimizer,
    learning rate, seed)."""
    remedies = [combo(cell=cell, clip=clip) for cell in ("rnn", "gru") for clip in ("none", "norm")]
    remedies += [combo(cell="gru", init="chrono"), combo(activation="relu", skip="temporal")]
    tuning = [("adam", 0.001), ("adam", 0.003), ("sgd", 0.03)]
    return {
        (task, tuple(sorted(params.items())), tuple(r.values()), hidden, steps, optimizer, lr, seed)
        for task, settings in tasks.items() for params in settings for r in remedies for hidden in (8, 16)
        for steps in (4, 6) for optimizer, lr in tuning for seed in range(seeds)
    }


def as_tuple(cfg: RunConfig) -> tuple:
    """A run as plain_product gives it, its remedies read from the model and the budget that train it."""
    model, budget = cfg.model, cfg.budget
    remedies = (model.cell, model.activation, model.init, cfg.clip, cfg.lr, model.skip)
    return (cfg.task, tuple(sorted(cfg.task_params.items())), remedies, model.hidden_size, budget.max_steps,
            budget.optimizer, budget.learning_rate, cfg.seed)


ADDING = [{"seq_len": s, "train_size": n, "val_size": 32, "test_size": 32} for s in (8, 10, 12) for n in (64, 32)]
COPY = [{"delay": 3, "train_size": 64, "val_size": 32, "test_size": 32}]


def test_the_grid_is_the_product_of_task_settings_sizes_combinations_tuning_and_seeds(suite):
    runs = expand(suite)
    # (6 adding settings + 1 copy) x 2 hidden sizes x 2 step budgets x 6 combinations x 3 tuning settings x 2 seeds
    assert grid_size(suite) == len(runs) == 7 * 2 * 2 * 6 * 3 * 2 == 1008
    assert {as_tuple(r) for r in runs} == plain_product({"adding": ADDING, "copy": COPY}, seeds=2)
    assert len({r.run_id for r in runs}) == len(runs)


def test_chosen_tasks_and_seeds_narrow_the_grid_and_an_unknown_task_is_one_line(suite):
    runs = expand(suite, tasks=["copy"], seeds=3)
    assert grid_size(suite, ["copy"], 3) == len(runs) == 1 * 2 * 2 * 6 * 3 * 3
    assert {as_tuple(r) for r in runs} == plain_product({"copy": COPY}, seeds=3)
    both = expand(suite, tasks=["copy", "adding"], seeds=1)
    assert {as_tuple(r) for r in both} == plain_product({"adding": ADDING, "copy": COPY}, seeds=1)
    with pytest.raises(ConfigError) as err:
        expand(suite, tasks=["adding", "copy_task"])
    assert str(err.value) == "unknown task in this suite 'copy_task' (did you mean 'copy'?); valid choices: adding, copy"
    with pytest.raises(ConfigError, match="copy_task"):
        grid_size(suite, ["copy_task"])


def test_a_grid_is_refused_above_its_limit_before_any_run_is_built(suite, monkeypatch):
    assert len(expand(suite, limit=1008)) == 1008  # exactly at the limit: built
    assert len(expand(suite, limit=None)) == 1008
    with pytest.raises(ConfigError) as err:
        expand(suite, limit=1007)
    assert str(err.value) == ("suite gridtest: the grid holds 1,008 runs, more than 1,007; fewer seeds, tasks or "
                              "levels, or --allow-large to train them all")
    # the limit holds the grid asked for: the chosen tasks and seeds (72 runs), not the suite's whole grid
    assert len(expand(suite, tasks=["copy"], seeds=1, limit=72)) == 72
    # counted, not built: a typo such as seeds: 100000000 is refused at once, not after listing its runs
    built, real = [], grid.RunConfig  # a spy: each run still built by the real RunConfig, and counted
    monkeypatch.setattr(grid, "RunConfig", lambda *args: built.append(args) or real(*args))
    with pytest.raises(ConfigError, match="the grid holds 50,400,000,000 runs, more than 200,000"):
        expand(suite, seeds=100_000_000)
    assert built == []
    assert len(expand(suite, tasks=["copy"], seeds=1)) == len(built) == 72  # the spy sees what is built


def test_each_task_setting_is_checked_before_any_run_is_built(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("tasks: {adding: {seq_len: [8, 0]}}\n")
    with pytest.raises(ConfigError, match="task 'adding': seq_len must be an integer >= 2, got 0"):
        expand(load_suite(str(path)))
    path.write_text("tasks: {adding: {seqlen: [8]}}\n")
    with pytest.raises(ConfigError, match="seqlen"):
        expand(load_suite(str(path)))


@pytest.mark.parametrize("seeds", [-1, -5])
def test_a_seed_count_below_one_is_refused(suite, seeds):
    with pytest.raises(ConfigError, match=f"seeds must be >= 1, got {seeds}"):
        expand(suite, seeds=seeds)


def test_swept_fields_are_the_settings_that_differ_sorted():
    a = RunConfig("adding", {"seq_len": 8}, ModelConfig(hidden_size=8))
    b = RunConfig("adding", {"seq_len": 8}, ModelConfig(hidden_size=16))
    c = RunConfig("adding", {"seq_len": 8}, ModelConfig(hidden_size=8, num_layers=2))
    lstm = RunConfig("adding", {"seq_len": 8}, ModelConfig(hidden_size=8, cell="lstm"), seed=3)  # a remedy, a seed
    assert swept_fields([a, a]) == []
    assert swept_fields([a, lstm]) == []
    assert swept_fields([a, b]) == ["model.hidden_size"]
    assert swept_fields([c, b, a]) == ["model.hidden_size", "model.num_layers"]
    assert swept_fields([]) == []


def test_each_point_of_the_size_sweep_keeps_the_suites_other_settings(suite):
    for cfg in expand(suite, tasks=["copy"], seeds=1):
        assert (cfg.budget.batch_size, cfg.budget.eval_every, cfg.budget.probe_batch) == (16, 2, 4)
    assert swept_fields(expand(suite, seeds=1)) == ["budget.max_steps", "model.hidden_size"]
