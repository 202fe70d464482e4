"""Every registered task x every registered cell, trained end to end: a few real optimizer steps through the runner
(`bench.runner.execute`) into a result record, the same through the fused path (`bench.runner.execute_fused`)
for every cell that can fuse, and the leaderboard built from those records.

Parametrized over the registries (tasks.TASKS, models.CELLS), so a new task or cell is trained end to end without a
test of its own: this file registers a toy task and a toy cell to show it (TOYS, below), which every test here picks
up like the shipped ones. Sizes are tiny (hidden size 8, 4 steps, a text corpus of 300 short lines written here).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnbench.bench.config import Budget, RunConfig
from rnnbench.bench.record import RECORD_VERSION, RunRecord
from rnnbench.bench.runner import execute, execute_fused
from rnnbench.leaderboard import build, load_results
from rnnbench.leaderboard.tables import task_table
from rnnbench.models import CELLS, ModelConfig
from rnnbench.models.cells import Cell, ModuleCell, rnn_step
from rnnbench.models.fusion import fusable
from rnnbench.tasks import METRICS, TASKS
from rnnbench.tasks.base import SyntheticSizes, Task, TaskSpec
from tests.conftest import CONTRACT_FIELDS

# --------------------------------------------------------------------------------------------------
# a toy task and a toy cell, registered as a user's would be: nothing below names them


@dataclass(frozen=True)
class FirstBitTask(SyntheticSizes, Task):
    """Remember the first of `length` bits: x = 1 0 0 1 1 -> y (at the last step) = 1. Baseline: CE ln 2."""

    name = "toy_first_bit"
    version = 1
    length_param = "length"
    train_size: int = 64
    val_size: int = 32
    test_size: int = 32
    length: int = 6

    def spec(self) -> TaskSpec:
        last = range(self.length - 1, self.length)
        return TaskSpec(seq_len=self.length, vocab_size=2, num_classes=2, scored_steps=last, metric_steps=last,
                        metrics=("ce", "accuracy"), primary="ce", baselines={"ce": math.log(2), "accuracy": 0.5},
                        version=self.version)

    def generate(self, n: int, gen: torch.Generator):
        x = torch.randint(0, 2, (n, self.length), generator=gen)
        return x, x[:, :1].clone()


# a vanilla tanh RNN without a recurrence of its own and without activation levels: on a CPU it trains through
# torch's nn.RNN kernel, a path no shipped cell takes there (models.layer.route)
TOY_CELL = Cell(nn.RNN, ("h",), rnn_step)


class ToyElman(nn.Module):
    """A user's cell in the plain protocol (models.cells.register_cell): h_t = tanh(W x_t + U h_{t-1} + b)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.w = nn.Linear(input_size, hidden_size)
        self.u = nn.Parameter(torch.randn(hidden_size, hidden_size) / hidden_size ** 0.5)

    def forward(self, x_t, h):
        pre = self.w(x_t)
        return (h := torch.tanh(pre if h is None else pre + h @ self.u.t())), h


TOYS = ((TASKS, FirstBitTask.name, FirstBitTask), (CELLS, "toy_rnn", TOY_CELL),
        (CELLS, "toy_module", ModuleCell(ToyElman, recurrent=("u",))))


def _register_toys() -> None:
    for registry, name, obj in TOYS:
        registry.register(name)(obj)


def _unregister_toys() -> None:
    for registry, name, _ in TOYS:
        registry.unregister(name)


# The toys are in the registries while this file's tests are collected (the parameters below are read from the
# registries, as for any task or cell) and while they run (the fixture), and nowhere else: another test file
# parametrized over the registries never sees them.
_register_toys()
TASK_NAMES, CELL_NAMES = TASKS.names(), CELLS.names()
FUSED_CELLS = [c for c in CELL_NAMES if fusable([RunConfig("adding", {}, ModelConfig(cell=c, hidden_size=8))])]
_unregister_toys()


@pytest.fixture(scope="module", autouse=True)
def toys_registered():
    _register_toys()
    yield
    _unregister_toys()


# --------------------------------------------------------------------------------------------------
# tiny runs

TINY_SIZES = {"train_size": 64, "val_size": 32, "test_size": 32}
# name -> parameters at a tiny size ("{corpus}": a small text file written here). A task missing here trains at its
# defaults, with TINY_SIZES where it has those fields.
TINY: dict[str, dict] = {
    "adding": {"seq_len": 8},
    "copy": {"delay": 3},
    "delayed_recall": {"delay": 4, "num_cues": 4, "num_distractors": 3},
    "longrange_text": {"delay": 1, "num_facts": 4},
    "text": {"corpus": "{corpus}", "bptt": 8, "vocab_size": 30},
}
BUDGET = Budget(max_steps=4, batch_size=16, eval_every=2, probe_batch=4)
FUSED_SEEDS = (1, 2)  # a fused group of two runs (seed 0 is the unfused run's)


def task_params(name: str, corpus: Path) -> dict:
    fields = {f.name for f in dataclasses.fields(TASKS.get(name))}
    params = {k: v for k, v in TINY_SIZES.items() if k in fields}
    params.update({k: (str(corpus) if v == "{corpus}" else v) for k, v in TINY.get(name, {}).items()})
    return params


def config(task: str, cell: str, corpus: Path, seed: int = 0) -> RunConfig:
    return RunConfig(task, task_params(task, corpus), ModelConfig(cell=cell, hidden_size=8), seed=seed, budget=BUDGET)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """300 lines of 3-12 words over a 60-word vocabulary, Zipf-like."""
    rng = random.Random(0)
    words = [f"w{k:02d}" for k in range(60)]
    weights = [1 / (k + 1) for k in range(60)]
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text("\n".join(" ".join(rng.choices(words, weights, k=rng.randint(3, 12))) for _ in range(300)) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus):
    """train(task, cell, fused) -> the run's records (one; or the fused group's two), trained once per module into
    one results folder each for unfused and fused runs: the leaderboard test reads the folders."""
    out = {False: tmp_path_factory.mktemp("runs"), True: tmp_path_factory.mktemp("fused")}
    done: dict[tuple, list[dict]] = {}

    def train(task: str, cell: str, fused: bool = False) -> list[dict]:
        if (task, cell, fused) not in done:
            if fused:
                done[task, cell, fused] = execute_fused([config(task, cell, corpus, s) for s in FUSED_SEEDS], out[True])
            else:
                done[task, cell, fused] = [execute(config(task, cell, corpus), out[False])]
        return done[task, cell, fused]

    train.out = out
    return train


def check_record(record: dict, cfg: RunConfig, folder: Path) -> None:
    """A trained run's record: ok, a finite score, the contract's fields, the task's spec, and its file."""
    spec = cfg.build_task().spec()
    assert record["status"] == "ok", record["error"]
    assert CONTRACT_FIELDS <= set(record), CONTRACT_FIELDS - set(record)
    assert record["run_id"] == cfg.run_id and RunConfig.from_dict(record["config"]).run_id == cfg.run_id
    assert record["task"] == cfg.task and record["remedies"]["cell"] == cfg.model.cell
    assert record["steps_trained"] == BUDGET.max_steps
    assert set(spec.metrics) <= set(record["metrics"]) and all(math.isfinite(v) for v in record["metrics"].values())
    assert math.isfinite(record["normalized_score"])
    assert record["primary_metric"] == spec.primary and record["baseline"] == spec.baselines
    assert record["higher_is_better"] is METRICS[spec.primary].higher_is_better
    # the best checkpoint is the validation best in the primary metric's direction (ties: the lower loss)
    validations, primary = record["history"], f"val_{spec.primary}"
    assert [h["step"] for h in validations] == list(range(BUDGET.eval_every, BUDGET.max_steps + 1, BUDGET.eval_every))
    sign = -1 if record["higher_is_better"] else 1
    best = min(validations, key=lambda h: (sign * h[primary], h["val_loss"]))
    assert record["best_step"] == best["step"], validations
    assert record["val_metrics"][spec.primary] == best[primary]
    assert set(record["grad"]["probe"]) == {"start", "end"}
    assert json.loads((folder / "runs" / cfg.run_id / "result.json").read_text()) == record
    assert record["record_version"] == RECORD_VERSION and record["length_param"] == TASKS.get(cfg.task).length_param
    assert RunRecord.from_dict(record).to_dict() == record  # the leaderboard's checks pass every real record


# --------------------------------------------------------------------------------------------------
# the tests


def test_the_toys_are_in_the_parameters_and_nowhere_else():
    """The registries drive the parameters: the toy task and cell registered above are among them (so every test
    below trains them), beside every shipped task and cell."""
    assert {"toy_first_bit", "adding", "copy", "delayed_recall", "longrange_text", "text"} <= set(TASK_NAMES)
    assert {"toy_rnn", "toy_module", "rnn", "lstm", "gru"} <= set(CELL_NAMES)
    assert "toy_first_bit" in TASKS and "toy_rnn" in CELLS and "toy_module" in CELLS  # while this file's tests run


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_and_cell_trains_through_the_runner_into_a_record(trained, corpus, task, cell):
    (record,) = trained(task, cell)
    check_record(record, config(task, cell, corpus), trained.out[False])
    assert "fused_k" not in record


@pytest.mark.parametrize("cell", FUSED_CELLS)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_and_fusable_cell_trains_through_the_fused_path_into_records(trained, corpus, task, cell):
    records = trained(task, cell, fused=True)
    assert len(records) == len(FUSED_SEEDS)
    for seed, record in zip(FUSED_SEEDS, records):
        check_record(record, config(task, cell, corpus, seed), trained.out[True])
        assert record["fused_k"] == len(FUSED_SEEDS) and record["wall_seconds_shared"] is True


def test_the_leaderboard_builds_from_every_registered_task_and_cell(trained, tmp_path):
    """Every (task, cell) record reaches the leaderboard: one task-table row per task and cell, with the runs it
    trained (1 unfused, and the fused group's 2 where the cell fuses), each scored; the site names every task."""
    for task in TASK_NAMES:
        for cell in CELL_NAMES:
            trained(task, cell)
            if cell in FUSED_CELLS:
                trained(task, cell, fused=True)
    written = build([trained.out[False], trained.out[True]], tmp_path / "site")
    df = load_results([trained.out[False], trained.out[True]])
    table = task_table(df)
    rows = {(t, c.split("·")[0]): n for t, c, n in zip(table["task_label"].map(lambda s: s.split("(")[0]),
                                                      table["combo"], table["n_runs"])}
    assert rows == {(t, c): 1 + (len(FUSED_SEEDS) if c in FUSED_CELLS else 0) for t in TASK_NAMES for c in CELL_NAMES}
    assert table["score"].notna().all() and (table["n_ok"] == table["n_runs"]).all()
    page = written["index.html"].read_text()
    labels = set(df["task_label"])
    assert len(labels) == len(TASK_NAMES) and all(label.split("(")[0] in TASK_NAMES for label in labels)
    assert all(task in page for task in TASK_NAMES)
