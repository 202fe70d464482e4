"""`rnnbench run --fuse`: groups of runs trained as one stacked model, each recorded as its unfused twin."""

from __future__ import annotations

import math

import pytest

from rnnbench.bench.cli import _parser, main
from rnnbench.bench.config import Budget, RunConfig
from rnnbench.bench.group import StackedLoader
from rnnbench.bench.grid import expand
from rnnbench.bench.runner import execute, execute_fused
from rnnbench.bench.suite import load_suite
from rnnbench.models import ModelConfig
from rnnbench.models.fusion import group_runs
from rnnbench.tasks.data import TaskDataModule
from tests.test_runner import CONTRACT_FIELDS, results

FUSE_SUITE = """
name: fusetiny
tasks:
  adding: {seq_len: 8, train_size: 64, val_size: 32, test_size: 32}
axes:
  - {cell: [rnn], activation: [tanh], init: [default, orthogonal], clip: [none, norm]}
seeds: 3
model: {hidden_size: 8}
budget: {max_steps: 6, batch_size: 16, eval_every: 3, probe_batch: 4}
"""


def test_fused_sweep_records_match_the_unfused_sweep(tmp_path):
    suite = tmp_path / "fusetiny.yaml"
    suite.write_text(FUSE_SUITE)
    grid = expand(load_suite(str(suite)))
    assert len(grid) == 12 and [len(g) for g in group_runs(grid, 8, "cpu")] == [8, 4]
    common = ["run", "--suite", str(suite), "--workers", "0", "--quiet", "--no-leaderboard"]
    assert main([*common, "--out", str(tmp_path / "fused"), "--fuse"]) == 0
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    fused, plain = results(tmp_path / "fused"), results(tmp_path / "plain")
    assert set(fused) == set(plain) == {r.run_id for r in grid}
    for rid, rec in fused.items():
        twin = plain[rid]
        for r in (rec, twin):
            assert CONTRACT_FIELDS <= set(r), CONTRACT_FIELDS - set(r)
            assert r["status"] == "ok", r["error"]
        assert rec["fused_k"] > 1 and rec["wall_seconds_shared"] is True and "fused_k" not in twin
        assert rec["steps_trained"] == twin["steps_trained"] == 6
        assert rec["best_step"] == twin["best_step"]
        assert [h["step"] for h in rec["history"]] == [h["step"] for h in twin["history"]] == [3, 6]
        assert [h["lr"] for h in rec["history"]] == [h["lr"] for h in twin["history"]]
        assert set(rec["metrics"]) == set(twin["metrics"])
        for name, value in twin["metrics"].items():
            assert rec["metrics"][name] == pytest.approx(value, rel=1e-3), name
        assert rec["normalized_score"] == pytest.approx(twin["normalized_score"], rel=1e-3, abs=1e-6)
        assert rec["grad"]["norm_mean"] == pytest.approx(twin["grad"]["norm_mean"], rel=1e-3)
        assert rec["grad"]["clipped_fraction"] == twin["grad"]["clipped_fraction"]
        for when in ("start", "end"):
            assert rec["grad"]["probe"][when]["norms"] == pytest.approx(twin["grad"]["probe"][when]["norms"], rel=1e-3)


def test_a_diverging_run_is_frozen_while_its_group_mates_finish(tmp_path):
    tp = {"seq_len": 30, "train_size": 64, "val_size": 32, "test_size": 32}
    model = ModelConfig(cell="rnn", activation="relu", init="identity", hidden_size=16)
    common = dict(max_steps=20, batch_size=32, eval_every=10, optimizer="sgd", probe_batch=4)
    configs = [
        RunConfig("adding", tp, model, "none", "constant", 0, Budget(learning_rate=10.0, **common)),
        RunConfig("adding", tp, model, "none", "constant", 1, Budget(learning_rate=1e-3, **common)),
        RunConfig("adding", tp, model, "norm", "constant", 2, Budget(learning_rate=1e-3, **common)),
    ]
    assert [len(g) for g in group_runs(configs, 8, "cpu")] == [3]
    records = execute_fused(configs, tmp_path / "fused")
    assert [r["fused_k"] for r in records] == [3, 3, 3]
    bad, *mates = records
    assert bad["status"] == "diverged" and 1 <= bad["diverged_at_step"] <= 20
    assert bad["normalized_score"] is None and bad["steps_trained"] == bad["diverged_at_step"] - 1
    for rec in mates:
        assert rec["status"] == "ok", rec["error"]
        assert rec["steps_trained"] == 20 and all(math.isfinite(v) for v in rec["metrics"].values())
    for rec in records:
        assert CONTRACT_FIELDS <= set(rec)
    # the unfused twin of the diverging run diverges at the same step, its mates reach the same metrics
    twins = [execute(cfg, tmp_path / "plain") for cfg in configs]
    assert twins[0]["status"] == "diverged" and twins[0]["diverged_at_step"] == bad["diverged_at_step"]
    for rec, twin in zip(mates, twins[1:]):
        for name, value in twin["metrics"].items():
            assert rec["metrics"][name] == pytest.approx(value, rel=1e-3), name


@pytest.mark.parametrize("kernel", ["stepped", "blockdiag"])
def test_a_run_whose_activations_overflow_leaves_its_group_mates_alone(tmp_path, monkeypatch, kernel):
    """A ReLU RNN at Adam lr 3 overflows its hidden states; in the blockdiag kernel's wide matmuls its inf meets the
    zeros off its block (0 * inf = NaN in every run): that step is taken again by the stepped kernel to tell which
    run diverged, and the diverged run's zeroed weights keep the later wide steps and validations finite."""
    from rnnbench.models import fusion

    monkeypatch.setitem(fusion.FUSION_PAYS["cpu"], "rnn", fusion.FusionLimit(128, 32, kernel))
    tp = {"seq_len": 40, "train_size": 128, "val_size": 32, "test_size": 32}
    configs = [RunConfig("adding", tp, ModelConfig(cell="rnn", activation="relu", hidden_size=16), "none", "constant",
                         seed, Budget(max_steps=20, eval_every=5, batch_size=16, learning_rate=lr, probe_batch=4))
               for seed, lr in enumerate([1e-3, 3.0, 1e-3])]
    records = execute_fused(configs, tmp_path / "fused")
    assert [r["fused_kernel"] for r in records] == [kernel] * 3
    assert [r["status"] for r in records] == ["ok", "diverged", "ok"], [r["error"] for r in records]
    twins = [execute(cfg, tmp_path / "plain") for cfg in configs]
    assert twins[1]["status"] == "diverged" and twins[1]["diverged_at_step"] == records[1]["diverged_at_step"]
    for rec, twin in zip(records[::2], twins[::2]):
        assert rec["steps_trained"] == twin["steps_trained"] == 20
        for name, value in twin["metrics"].items():
            assert rec["metrics"][name] == pytest.approx(value, rel=1e-3), name


def test_stacked_loader_keeps_each_runs_batches_in_lockstep():
    task = RunConfig("adding", {"seq_len": 8, "train_size": 40, "val_size": 8, "test_size": 8},
                     ModelConfig(cell="rnn")).build_task()
    datas = [TaskDataModule(task, 16, seed) for seed in (0, 1)]
    loader = StackedLoader([d.train_dataloader() for d in datas])
    assert len(loader) == 3
    for _ in range(2):  # two epochs: each run's own reshuffle
        stacked = list(loader)
        assert len(stacked) == 3 and stacked[0][0].shape[:2] == (2, 16)
    fresh = [list(d.train_dataloader()) for d in datas]  # a fresh loader's first epoch
    first = list(StackedLoader([d.train_dataloader() for d in datas]))
    for k in range(2):
        for (x, y), (xs, ys) in zip(fresh[k], first):
            assert (xs[k] == x).all() and (ys[k] == y).all()


def test_fuse_is_documented_and_checked():
    help_text = " ".join(_parser()._subparsers._group_actions[0].choices["run"].format_help().split())
    assert "--fuse" in help_text and "stacked model" in help_text
    assert main(["run", "--suite", "quick", "--fuse", "--launcher", "ray", "--out", "/nonexistent"]) == 2
    assert main(["run", "--suite", "quick", "--fuse", "--wandb", "--dry-run"]) == 2  # refused before a dry run too


def test_the_fused_kernel_comes_from_the_fusion_table(tmp_path, monkeypatch):
    """FUSION_PAYS names the kernel each entry was measured with; a group trains with it and records it, and
    the blockdiag kernel (one K*H-wide fused-kernel call) reaches the stepped kernel's results."""
    from rnnbench.models import fusion

    configs = [RunConfig("adding", {"seq_len": 8, "train_size": 64, "val_size": 32, "test_size": 32},
                         ModelConfig(cell="rnn", hidden_size=8, init=init), "norm", "constant", seed,
                         Budget(max_steps=6, batch_size=16, eval_every=3, probe_batch=4))
               for seed, init in enumerate(["default", "orthogonal", "identity"])]
    stepped = execute_fused(configs, tmp_path / "stepped")
    monkeypatch.setitem(fusion.FUSION_PAYS["cpu"], "rnn", fusion.FusionLimit(128, 32, "blockdiag"))
    leaky = RunConfig("adding", {"seq_len": 8}, ModelConfig(cell="rnn", activation="leaky_relu"))
    assert fusion.fusion_kernel(configs[0], "cpu") == "blockdiag" and fusion.fusion_kernel(leaky, "cpu") == "stepped"
    assert fusion.fusion_kernel(configs[0], "cuda") == "stepped"
    blockdiag = execute_fused(configs, tmp_path / "blockdiag")
    for a, b in zip(stepped, blockdiag):
        assert (a["fused_kernel"], b["fused_kernel"]) == ("stepped", "blockdiag")
        assert a["status"] == b["status"] == "ok", (a["error"], b["error"])
        for name, value in a["metrics"].items():
            assert b["metrics"][name] == pytest.approx(value, rel=1e-4), name
        assert b["grad"]["norm_mean"] == pytest.approx(a["grad"]["norm_mean"], rel=1e-4)
