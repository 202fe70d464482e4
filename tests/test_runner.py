"""The runner end to end: real Lightning, real files, real worker processes, tiny sizes."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from rnnbench.bench.cli import main
from rnnbench.bench.config import AXES, Budget, RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.launch import shard
from rnnbench.bench.guard import Diverged, RunState
from rnnbench.bench.metrics import TaskMetrics
from rnnbench.bench.module import BenchModule
from rnnbench.bench.optim import OPTIMIZERS, make_optimizer
from rnnbench.bench.progress import Progress
from rnnbench.bench.recorder import finish_record, new_record
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.runner import execute
from rnnbench.bench.store import ResultStore
from rnnbench.bench.suite import load_suite
from rnnbench.models import ModelConfig, SequenceModel
from rnnbench.tasks import TASKS
from rnnbench.tasks.data import TaskDataModule
from rnnbench.tasks.corpus import corpus_digest, corpus_path
from rnnbench.tasks.text import load_corpus
from tests.conftest import CONTRACT_FIELDS, DEVICES, REPO, cli


def results(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")}


@pytest.mark.parametrize("name", ["quick", "reference"])
def test_a_one_factor_suite_covers_every_task_and_level(name, capsys):
    suite = load_suite(name)
    runs = expand(suite)
    assert {r.task for r in runs} == set(TASKS.names())
    for axis, levels in AXES.items():
        seen = {r.remedies[axis] for r in runs}
        assert seen == set(levels), axis
    # independent count: each sub-grid's product, gated cells' activation collapsed, chrono only on gated
    combos = set()
    for grid in suite.grids:
        axes = [grid.get(a, [{"cell": "rnn", "activation": "tanh", "init": "default", "clip": "none",
                                "lr": "constant", "skip": "none"}[a]]) for a in AXES]
        for c in itertools.product(*axes):
            cell, act, init, clip, lr, skip = c
            if cell != "rnn":
                act = "tanh"
            elif init == "chrono":
                continue
            combos.add((cell, act, init, clip, lr, skip))
    task_settings = sum(
        len(list(itertools.product(*params.values()))) if params else 1 for params in suite.tasks.values()
    )
    assert len(runs) == len(combos) * task_settings * len(suite.tune) * suite.seeds
    assert len({r.run_id for r in runs}) == len(runs)
    assert suite.seeds >= (3 if name == "reference" else 1)
    assert main(["run", "--suite", name, "--dry-run"]) == 0
    size = capsys.readouterr().out.strip().splitlines()[-2]  # then the runs' states in the default --out
    assert f"{len(runs)} runs" in size


def test_standard_suite_is_the_full_product():
    runs = expand(load_suite("standard"))
    per_cell = {"rnn": 3 * 3, "lstm": 4, "gru": 4}  # rnn: activation x init(no chrono); gated: init incl. chrono
    combos = sum(per_cell.values()) * 3 * 3 * 3  # x clip x lr x skip
    assert len({r.combo for r in runs}) == combos


def test_run_id_is_stable_and_config_sensitive():
    a = RunConfig("adding", {"seq_len": 8}, ModelConfig(cell="rnn"))
    b = RunConfig.from_dict(json.loads(json.dumps(a.to_dict())))
    assert a.run_id == b.run_id
    assert a.run_id != RunConfig("adding", {"seq_len": 9}, ModelConfig(cell="rnn")).run_id
    assert a.run_id != RunConfig("adding", {"seq_len": 8}, ModelConfig(cell="rnn"), seed=1).run_id


def test_tiny_suite_end_to_end_then_resume(tiny_suite, tmp_path, capsys):
    out = tmp_path / "res"
    grid = expand(load_suite(str(tiny_suite)))
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    records = results(out)
    assert set(records) == {r.run_id for r in grid}
    for rid, rec in records.items():
        assert CONTRACT_FIELDS <= set(rec), CONTRACT_FIELDS - set(rec)
        assert rec["status"] == "ok", rec["error"]
        assert rec["steps_trained"] == 4
        assert set(rec["metrics"]) >= {rec["primary_metric"]}
        assert rec["baseline"][rec["primary_metric"]] > 0
        assert len(rec["grad"]["probe"]["start"]["norms"]) == RunConfig.from_dict(rec["config"]).build_task().spec().seq_len
        # the reported checkpoint is the best validation on the task's primary metric (ties: the loss), not the last
        spec = RunConfig.from_dict(rec["config"]).build_task().spec()
        keys = [spec.checkpoint_key({k[len("val_"):]: v for k, v in h.items() if k.startswith("val_")})
                for h in rec["history"]]
        assert rec["best_step"] == rec["history"][keys.index(min(keys))]["step"]
        assert rec["last"]["step"] == 4 and rec["primary_metric"] in rec["last"]["metrics"]
    assert (out / "leaderboard" / "index.html").is_file()
    capsys.readouterr()
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "2", "--no-leaderboard"]) == 0
    assert f"{len(grid)} already finished, 0 to train" in capsys.readouterr().out


def test_forced_divergence_is_recorded_and_the_sweep_goes_on(tmp_path):
    suite = tmp_path / "div.yaml"
    suite.write_text(
        "name: div\ntasks:\n  adding: {seq_len: 30, train_size: 64, val_size: 32, test_size: 32}\n"
        "axes:\n  - {cell: [rnn], activation: [relu], init: [identity]}\n  - {cell: [lstm]}\n"
        "model: {hidden_size: 16}\n"
        "budget: {max_steps: 20, batch_size: 32, eval_every: 10, learning_rate: 10.0, optimizer: sgd, probe_batch: 4}\n"
    )
    out = tmp_path / "res"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--workers", "0", "--quiet", "--no-leaderboard"]) == 0
    by_cell = {r["remedies"]["cell"]: r for r in results(out).values()}
    assert by_cell["rnn"]["status"] == "diverged"
    assert 1 <= by_cell["rnn"]["diverged_at_step"] <= 20
    assert by_cell["rnn"]["normalized_score"] is None
    assert by_cell["lstm"]["status"] in ("ok", "diverged")  # recorded either way: the sweep went on
    assert len(by_cell) == 2


def test_a_sweep_with_a_failed_run_exits_1_and_its_rerun_retries_it(tmp_path, capsys):
    suite = tmp_path / "fail.yaml"
    suite.write_text(  # skip_k 6 on 6-step sequences is recorded failed (tested below); the plain run trains
        "name: fail\ntasks:\n  adding: {seq_len: 6, train_size: 32, val_size: 16, test_size: 16}\n"
        "axes:\n  cell: [rnn]\n  skip: [none, temporal]\nmodel: {hidden_size: 4, num_layers: 1, skip_k: 6}\n"
        "budget: {max_steps: 4, batch_size: 16, eval_every: 2, probe_batch: 4}\n"
    )
    args = ["run", "--suite", str(suite), "--out", str(tmp_path / "res"), "--workers", "0", "--quiet", "--no-leaderboard"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "1 ok, 0 diverged, 1 failed" in out
    # the end of the output lists the failures by error (a long sweep's would be far up)
    summary = out[out.index("failed runs by error (1;"):]
    assert "1 x ConfigError: skip 'temporal' with skip_k 6 on sequences of 6 steps" in summary
    assert "e.g. adding(seq_len=6) rnn·tanh·default·clip=none·lr=constant·skip=temporal seed=0" in summary
    assert sorted(r["status"] for r in results(tmp_path / "res").values()) == ["failed", "ok"]
    # a dry run says what a run would do with each run of the grid (here widened by a second seed, not yet run)
    assert main([*args, "--seeds", "2", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(" adam lr=0.001 " in line for line in lines[:4])  # each run's optimizer setting (the tuning)
    states = {(line.split()[1], line.split()[-4].rsplit("=", 1)[1], line.split()[-1]) for line in lines[:4]}
    assert states == {("ok", "none", "seed=0"), ("failed", "temporal", "seed=0"), ("todo", "none", "seed=1"),
                      ("todo", "temporal", "seed=1")}
    assert lines[-1] == (f"in {tmp_path / 'res'}/runs/: 1 finished (1 ok, 0 diverged: kept), 3 to train (2 todo, "
                         "1 failed before: retried)")
    assert main(args) == 1  # the failed run is retried (and fails again), the ok one skipped
    assert "0 ok, 0 diverged, 1 failed, 1 skipped" in capsys.readouterr().out


def _training(record: dict) -> list:
    """What a run's training decided, flattened to (path, value): everything in its record but times, dates and
    the device."""
    def flat(value, path):
        if isinstance(value, dict):
            return [item for k in sorted(value) for item in flat(value[k], f"{path}.{k}")]
        if isinstance(value, list):
            return [item for i, v in enumerate(value) for item in flat(v, f"{path}[{i}]")]
        return [(path, value)]
    return flat({k: record[k] for k in ("status", "error", "diverged_at_step", "metrics", "normalized_score",
                                        "best_step", "steps_trained", "history", "grad")}, "")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("clip, lr, learning_rate, optimizer", [
    ("norm", "warmup_cosine", 0.02, "adam"),  # epochs of 7 batches (the last one short) over groups of 20
    ("value", "plateau", 0.02, "adam"),
    ("none", "constant", 4.0, "sgd"),  # diverges mid-group (step 23), after one validation
])
def test_several_steps_per_lightning_batch_train_exactly_as_one(clip, lr, learning_rate, optimizer, device, tmp_path):
    """bench.steps: the runner's default (20 optimizer steps per Lightning batch here) against one step per batch
    (what Lightning's automatic optimization did): the same record, number for number on the CPU (on a GPU, where
    the guard also reads its numbers every 25 steps, to float32 rounding in case a kernel is not deterministic)."""
    from rnnbench.bench.speed.timing import execute_device
    from rnnbench.bench.steps import steps_for

    cfg = RunConfig("adding", {"seq_len": 12, "train_size": 200, "val_size": 32, "test_size": 32},
                    ModelConfig(cell="rnn", activation="relu", init="identity", hidden_size=16), clip=clip, lr=lr,
                    budget=Budget(max_steps=60, batch_size=32, eval_every=20, learning_rate=learning_rate,
                                  optimizer=optimizer, warmup_steps=10, clip_value=0.5, probe_batch=4))
    assert steps_for(cfg.budget) == 20
    on = execute_device(device)
    grouped, single = execute(cfg, tmp_path / "grouped", **on), execute(cfg, tmp_path / "single", steps_per_batch=1, **on)
    a, b = _training(grouped), _training(single)
    assert [path for path, _ in a] == [path for path, _ in b]
    if device == "cpu":
        assert a == b
    else:
        for (path, x), (_, y) in zip(a, b):
            assert x == (pytest.approx(y, rel=1e-4, abs=1e-6) if isinstance(y, float) else y), path
    if optimizer == "sgd":
        assert grouped["status"] == "diverged" and grouped["diverged_at_step"] % 10 not in (0, 1)
    else:
        assert grouped["status"] == "ok" and [h["step"] for h in grouped["history"]] == [20, 40, 60]


class _SeesPath(L.Callback):
    """Notes how bench.steps steps in this run (no hook of its own on the step's path)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        from rnnbench.bench.steps import step_path

        self.path = step_path(pl_module, pl_module.optimizers())


class _StepHook(_SeesPath):
    """Counts on_before_optimizer_step (no backward hook of its own)."""

    optimizer_step = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.optimizer_step += 1
        self.grad_seen = all(p.grad is not None for p in pl_module.parameters())  # after backward, before the update
        self.fx = pl_module._current_fx_name  # Lightning's dispatch names the hook (so that it may log)


class _StepHooks(_SeesPath):
    """Counts Lightning's backward and optimizer-step hooks: with them overridden, every step must reach them."""

    before = after = optimizer_step = 0

    def on_before_backward(self, trainer, pl_module, loss):
        self.before += 1

    def on_after_backward(self, trainer, pl_module):
        self.after += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.optimizer_step += 1


def test_a_step_skips_manual_backward_where_nothing_needs_it_and_always_steps_through_lightning(tmp_path):
    """bench.steps.step_path: on one device in 32-bit with no profiler and no backward hook overridden, a step calls
    loss.backward() itself; a callback with backward hooks gets Lightning's manual_backward, each hook every step.
    Either way the update is Lightning's LightningOptimizer.step, which counts global_step and dispatches every
    on_before_optimizer_step. Both train the same, number for number: global_step, clipping, the guard's norms, the
    schedule, validation."""
    from lightning.pytorch.core.optimizer import LightningOptimizer

    cfg = RunConfig("adding", {"seq_len": 12, "train_size": 200, "val_size": 32, "test_size": 32},
                    ModelConfig(cell="rnn", hidden_size=16), clip="norm", lr="warmup_cosine",
                    budget=Budget(max_steps=40, batch_size=32, eval_every=20, warmup_steps=10, clip_value=0.5))
    lean, hooked = _StepHook(), _StepHooks()
    plain, listened = execute(cfg, tmp_path / "a", callbacks=(lean,)), execute(cfg, tmp_path / "b", callbacks=(hooked,))
    assert lean.path.backward is torch.Tensor.backward and lean.path.step is LightningOptimizer.step
    assert lean.optimizer_step == 40 and lean.grad_seen and lean.fx == "on_before_optimizer_step"
    assert getattr(hooked.path.backward, "__func__", None) is L.LightningModule.manual_backward
    assert hooked.path.step is LightningOptimizer.step
    assert hooked.before == hooked.after == hooked.optimizer_step == listened["steps_trained"] == 40
    assert plain["status"] == listened["status"] == "ok" and _training(plain) == _training(listened)
    assert plain["grad"]["clipped_fraction"] > 0 and [h["step"] for h in plain["history"]] == [20, 40]


def test_steps_per_batch_divides_the_validation_interval_and_the_budget(tmp_path):
    from rnnbench.bench.steps import StepGroups, steps_for

    assert [steps_for(Budget(max_steps=m, eval_every=e)) for m, e in [(400, 100), (2000, 200), (75, 20), (7, 7), (300, 60)]] \
        == [50, 50, 5, 7, 30]
    assert steps_for(Budget(max_steps=400, eval_every=100), limit=1) == 1
    epochs = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    loader = type("Epochs", (), {"__iter__": lambda self: iter(epochs.pop(0))})()  # a new epoch per pass
    assert list(itertools.islice(StepGroups(loader, 2), 4)) == [[1, 2], [3, 4], [5, 6], [7, 8]]
    with pytest.raises(ValueError, match="yields no batches"):
        next(iter(StepGroups([], 3)))
    cfg = RunConfig("adding", {"seq_len": 8, "train_size": 32, "val_size": 16, "test_size": 16},
                    ModelConfig(cell="rnn", hidden_size=4), budget=Budget(max_steps=20, batch_size=16, eval_every=10))
    record = execute(cfg, tmp_path, steps_per_batch=3)
    assert record["status"] == "failed" and "steps per batch 3 must divide eval_every 10 and max_steps 20" \
        in record["error"]


def test_progress_eta_counts_the_runs_not_the_workers_start_up(capsys):
    """Two workers, 8 s of start-up, then runs of 2 s each, two at a time: 1 s a run from the first line on (the rate
    since the start alone would say 10 s a run)."""
    now = [0.0]
    progress = Progress(10, quiet=False, workers=2, clock=lambda: now[0])
    assert progress.eta() == "?"
    summary = {"status": "ok", "task_label": "adding(seq_len=30)", "combo": "rnn", "normalized_score": 0.5,
               "wall_seconds": 2.0}
    for t in (10.0, 10.1, 12.0, 12.1):
        now[0] = t
        progress.update(summary)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[1/10] ok       adding(seq_len=30) rnn score=0.500 (2.0s, ETA 0m09s)"  # 9 runs left at 1 s
    assert lines[-1].endswith("ETA 0m06s)") and progress.counts["ok"] == 4
    inline = Progress(3, quiet=True, workers=0, clock=lambda: now[0])  # runs in this process: one at a time
    now[0] += 2.5
    inline.update(summary)
    assert inline.eta() == "0m04s"  # 2 left at 2 s (their own time; the rate since the start says 2.5 s)


def _pool_workers(parent: int) -> list[int]:
    """The pids of `parent`'s pool workers (spawned processes; not its resource tracker), from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent and b"--multiprocessing-fork" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def _gone(pids: list[int], within: float) -> bool:
    """Whether every pid has exited (or is a zombie awaiting its new parent's wait) within `within` seconds:
    a bounded poll, not a sleep standing in for the event."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return not alive
        time.sleep(0.05)


def test_sigkill_mid_sweep_then_resume_records_each_run_once(tiny_suite, tmp_path):
    out = tmp_path / "res"
    grid = {r.run_id for r in expand(load_suite(str(tiny_suite)))}
    args = cli("run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "1", "--quiet", "--no-leaderboard")
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "runs").glob("*/result.json")):
        time.sleep(0.05)
    workers = _pool_workers(proc.pid)
    assert len(workers) == 1, workers  # --workers 1: the worker training the runs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = set(results(out))
    assert 1 <= len(partial) < len(grid), "kill the sweep mid-way"
    assert _gone(workers, within=60), "the orphaned worker notices its parent is gone and exits"
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert set(results(out)) == grid
    assert all(len(list((out / "runs" / rid).glob("result.json"))) == 1 for rid in grid)
    assert not list(out.rglob("*.tmp"))
    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert f"0 ok, 0 diverged, 0 failed, {len(grid)} skipped" in again.stdout


KILLER = """
import os, signal, sys
from pathlib import Path
victims, once = os.environ.get("RNNBENCH_TEST_KILL_RUN"), os.environ.get("RNNBENCH_TEST_KILL_ONCE")
hangs = os.environ.get("RNNBENCH_TEST_HANG_RUN", "")
if (victims or hangs) and "--multiprocessing-fork" in sys.argv:  # a pool worker: a victim's run SIGKILLs the worker
    import rnnbench.bench.worker as worker

    run_one = worker.run_one

    def killing_run_one(cfg_dict, opts):
        from rnnbench.bench.config import RunConfig
        if RunConfig.from_dict(cfg_dict).run_id in hangs.split(","):
            import time
            time.sleep(3600)  # a run that never returns (a collective waiting on a peer that is gone, ...)
        if victims and RunConfig.from_dict(cfg_dict).run_id in victims.split(",") and not (once and Path(once).exists()):
            if once:
                Path(once).touch()
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
        return run_one(cfg_dict, opts)

    worker.run_one = killing_run_one
"""


@pytest.mark.parametrize("dies", ["every time", "once", "two runs"])
def test_a_dead_worker_fails_only_the_run_that_killed_it(tiny_suite, tmp_path, dies):
    """A run whose worker dies (here it SIGKILLs its own worker, through a sitecustomize in the workers) breaks the
    pool and every run in flight with it, two workers x 2 runs each: the runs in flight are rerun one at a time, so
    only a run that dies again alone is recorded failed; one that died once (a transient kill) trains; two such runs
    both fail and only they (while a suspect runs alone nothing else starts, so the second death cannot be pinned
    on it: a race these tiny runs rarely reach, see _run_pool)."""
    grid = expand(load_suite(str(tiny_suite)))
    victims = [grid[0].run_id] + ([grid[4].run_id] if dies == "two runs" else [])  # grid[0]: the first job submitted
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "inject"), str(REPO)]),
           "RNNBENCH_TEST_KILL_RUN": ",".join(victims)}
    if dies == "once":
        env["RNNBENCH_TEST_KILL_ONCE"] = str(tmp_path / "killed")
    out = tmp_path / "res"
    done = subprocess.run(cli("run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "2", "--quiet",
                              "--no-leaderboard"), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    records = results(out)
    assert set(records) == {r.run_id for r in grid}, done.stderr
    failed = {rid for rid, r in records.items() if r["status"] == "failed"}
    if dies == "once":
        assert (tmp_path / "killed").exists() and not failed, done.stdout
    else:
        assert failed == set(victims), done.stdout
        assert all("worker process died" in records[v]["error"] for v in victims)


def test_a_run_past_its_time_limit_is_killed_and_failed_and_the_others_train(tiny_suite, tmp_path):
    """--run-timeout: a run that hangs (here it sleeps for an hour, through the sitecustomize above) has its worker
    killed once it ran past the limit and is recorded failed with the limit in its error and its time; the runs in
    flight beside it (2 workers x 2 runs each) start again and train, and so does the rest of the grid."""
    grid = expand(load_suite(str(tiny_suite)))
    hung = grid[1].run_id
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "inject"), str(REPO)]),
           "RNNBENCH_TEST_HANG_RUN": hung}
    out = tmp_path / "res"
    done = subprocess.run(cli("run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "2", "--quiet",
                              "--no-leaderboard", "--run-timeout", "10"), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    records = results(out)
    assert set(records) == {r.run_id for r in grid}, done.stderr
    assert {rid for rid, r in records.items() if r["status"] != "ok"} == {hung}, done.stdout
    assert records[hung]["status"] == "failed" and "--run-timeout 10 s" in records[hung]["error"]
    assert records[hung]["wall_seconds"] >= 10  # the rule, not a speed: never killed before its limit


def _sigterm_inside_fit() -> str:
    """In a pool worker: a tiny Lightning fit whose training step SIGTERMs this process, as a broken pool does to
    the workers it did not lose."""
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
            return self.w(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 1)), batch_size=2)
    L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False).fit(Module(), data)
    return "trained on"


def test_a_worker_sigtermed_inside_fit_exits(tmp_path):
    """Lightning's SIGTERM handler inside fit() only notes the signal, so a worker that a broken pool SIGTERMed went on
    training (and took the next job of the dead pool, which the new pool trains too). Now it exits."""
    from concurrent.futures.process import BrokenProcessPool

    from rnnbench.bench.launch import LaunchOptions, make_pool

    pool = make_pool(LaunchOptions(out_dir=tmp_path, workers=1))
    try:
        with pytest.raises(BrokenProcessPool):
            pool.submit(_sigterm_inside_fit).result(timeout=120)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _deaf_sleep(started: str) -> str:
    """In a pool worker: ignore SIGTERM (as a worker stuck in native code does) and sleep."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    Path(started).touch()
    time.sleep(120)
    return "woke"


def test_a_broken_pools_workers_are_killed_even_deaf_to_sigterm(tmp_path):
    """A worker that cannot act on SIGTERM (hung in a CUDA call, say) held the sweep at exit, waiting on the broken
    pool's workers: _kill_workers SIGKILLs them."""
    from concurrent.futures.process import BrokenProcessPool

    from rnnbench.bench.launch import LaunchOptions, _kill_workers, make_pool

    pool = make_pool(LaunchOptions(out_dir=tmp_path, workers=1))
    try:
        future = pool.submit(_deaf_sleep, str(tmp_path / "started"))
        for _ in range(600):
            if (tmp_path / "started").exists():
                break
            time.sleep(0.1)
        assert (tmp_path / "started").exists(), "the worker never started its job"
        _kill_workers(pool)
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=60)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.parametrize("flags, message", [
    (["--run-timeout", "0"], "must be > 0"),
    (["--run-timeout", "nan"], "must be > 0"),
    (["--run-timeout", "60", "--workers", "0"], "--workers 0"),
    (["--run-timeout", "60", "--launcher", "ray"], "--launcher ray"),
    (["--run-timeout", "60", "--strategy", "ddp", "--devices", "2"], "--strategy ddp"),
])
def test_run_timeout_refused_where_it_cannot_act(tiny_suite, tmp_path, flags, message):
    done = subprocess.run(cli("run", "--suite", str(tiny_suite), "--out", str(tmp_path / "res"), *flags), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "res").exists()


def test_a_record_is_readable_by_others_as_a_plain_new_file_is(tmp_path):
    """A record (and any file atomic_write writes: a published leaderboard) gets a plain new file's mode, 0o644
    under umask 022, not the temp file's 0600 (a web server serving the leaderboard could not read it). In a fresh
    process with umask 022, as the store reads the umask once at import."""
    code = ("import os, stat, sys; os.umask(0o022); from rnnbench.bench.store import ResultStore; "
            "p = ResultStore(sys.argv[1]).path(ResultStore(sys.argv[1]).write({'run_id': 'r1', 'status': 'ok'})['run_id']); "
            "print(oct(stat.S_IMODE(p.stat().st_mode)))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0o644"], out.stdout
    assert json.loads((tmp_path / "runs" / "r1" / "result.json").read_text())["status"] == "ok"


def test_cleaning_the_store_spares_a_write_in_progress(tmp_path):
    """A sweep starts by removing temp files killed writers left; one a few seconds old may be another sweep's
    (shards sharing --out) about to be renamed into place, so only temp files older than an hour go."""
    import tempfile

    store = ResultStore(tmp_path)
    folder = tmp_path / "runs" / "abc"
    folder.mkdir(parents=True)
    old = Path(tempfile.mkstemp(prefix=".result.", suffix=".tmp", dir=folder)[1])
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    young = Path(tempfile.mkstemp(prefix=".result.", suffix=".tmp", dir=folder)[1])
    assert store.clean() == 1
    assert not old.exists() and young.exists()
    os.replace(young, folder / "result.json")  # the other sweep's write completes
    assert store.clean(older_than=0) == 0


def test_an_empty_shard_ends_without_a_leaderboard_and_an_out_that_is_a_file_before_training(tiny_suite, tmp_path,
                                                                                           capsys):
    """A shard with no runs of its own (more shards than runs) succeeds, saying why no leaderboard was built (it
    was an error: a job array marked those shards failed); --out naming a file is refused before any training."""
    grid = expand(load_suite(str(tiny_suite)))
    n = len(grid) + 1
    empty = next(i for i in range(n) if not shard(grid, i, n))
    out = tmp_path / "res"
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "0", "--shard", f"{empty}/{n}",
                 "--quiet"]) == 0
    assert "no leaderboard built" in capsys.readouterr().out and not (out / "leaderboard").exists()
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["run", "--suite", str(tiny_suite), "--out", str(afile), "--workers", "0", "--quiet"]) == 2
    assert main(["leaderboard", "--results", str(tmp_path), "--out", str(afile)]) == 2
    err = capsys.readouterr().err
    assert err.count("rnnbench: error: --out") == 2 and "cannot make that folder" in err
    assert afile.read_text() == ""


def test_a_record_that_is_not_a_json_object_is_not_a_finished_run(tmp_path):
    """A file that holds no record (not JSON, cut off, not an object) is no record: the run is `todo`; an object
    whose status is not a finished one (or has none) is a record of a run that did not finish: `failed`. Both are
    trained again."""
    cfg = RunConfig("adding", {"seq_len": 8}, ModelConfig())
    store = ResultStore(tmp_path)
    for text, state in (("[]", "todo"), ('"ok"', "todo"), ("{\"status\": \"ok\"", "todo"), ("", "todo"),
                        ('{"status": "running"}', "failed"), ("{}", "failed"), ('{"status": "ok"}', "ok")):
        store.path(cfg.run_id).parent.mkdir(parents=True, exist_ok=True)
        store.path(cfg.run_id).write_text(text)
        assert store.state(cfg) == state, text
        assert store.finished(cfg) is (state == "ok"), text
    assert main(["run", "--suite", "quick", "--tasks", "adding", "--out", str(tmp_path), "--dry-run"]) == 0


def test_a_run_on_a_corpus_file_rewritten_since_is_trained_again(tmp_path, capsys):
    """The run id holds a corpus path, not its text: a finished run whose corpus file now holds other text is
    'stale' (the dry run says so) and trained again, not skipped; the label names the vocabulary (it changes the task)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat {i % 7} sat on mat {i % 3}\n" for i in range(60)))
    suite = tmp_path / "text.yaml"
    suite.write_text(f"tasks: {{text: {{corpus: {corpus}, bptt: 5, vocab_size: 12}}}}\nseeds: 1\nmodel: {{hidden_size: 4}}\n"
                     "budget: {max_steps: 2, eval_every: 2, batch_size: 4, probe_batch: 2}\n")
    (cfg,) = expand(load_suite(str(suite)))
    assert cfg.task_label == f"text(corpus={corpus}, bptt=5, vocab_size=12)"
    common = ["run", "--suite", str(suite), "--out", str(tmp_path / "res"), "--workers", "0", "--no-leaderboard"]
    assert main([*common, "--quiet"]) == 0
    first = ResultStore(tmp_path / "res").read(cfg.run_id)
    assert first["status"] == "ok" and ResultStore(tmp_path / "res").state(cfg) == "ok"
    corpus.write_text("".join(f"a dog {i % 5} ran to the park {i % 4}\n" for i in range(60)))
    for cached in (load_corpus, corpus_digest, corpus_path):  # the next sweep is a new process: caches start empty
        cached.cache_clear()
    capsys.readouterr()
    assert main([*common, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{cfg.run_id}  stale" in out and "0 finished" in out and "1 trained on data changed since: retried" in out
    assert main(common) == 0
    assert "0 skipped" in capsys.readouterr().out
    second = ResultStore(tmp_path / "res").read(cfg.run_id)
    assert second["status"] == "ok" and second["task_data"] != first["task_data"]
    assert ResultStore(tmp_path / "res").state(cfg) == "ok"


def test_a_shards_dry_run_does_not_claim_its_runs_are_the_grids_product(tiny_suite, tmp_path, capsys):
    grid = expand(load_suite(str(tiny_suite)))
    part = shard(grid, 0, 2)
    assert main(["run", "--suite", str(tiny_suite), "--out", str(tmp_path), "--shard", "0/2", "--dry-run"]) == 0
    size = [line for line in capsys.readouterr().out.splitlines() if line.startswith("suite ")]
    assert size == [f"suite tiny: {len(part)} runs of this shard, across {len({c.task_label for c in part})} task "
                    f"settings x {len({c.combo for c in part})} remedy combinations x 1 seeds"]


def test_shards_cover_the_grid_exactly_once(tiny_suite, tmp_path):
    grid = expand(load_suite(str(tiny_suite)))
    parts = [shard(grid, i, 3) for i in range(3)]
    ids = [r.run_id for p in parts for r in p]
    assert sorted(ids) == sorted(r.run_id for r in grid)
    # a run's shard is its own: the same with the tasks in another order and more seeds (a grid in another order)
    other = expand(load_suite(str(tiny_suite)), tasks=["copy", "adding"], seeds=2)
    assert len(other) == 2 * len(grid)
    where = {r.run_id: i for i, part in enumerate(parts) for r in part}
    assert all(where[r.run_id] == i for i in range(3) for r in shard(other, i, 3) if r.run_id in where)
    out = tmp_path / "res"
    for i in range(2):
        assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "2", "--shard", f"{i}/2",
                     "--quiet", "--no-leaderboard"]) == 0
    assert set(results(out)) == {r.run_id for r in grid}


def test_reading_a_suite_does_not_import_lightning():
    """The sweep's parent process (and `run --dry-run`, `list`) reads and checks suites and configs (bench.suite,
    bench.config) and launches workers; Lightning (~5 s to import here) is imported by the workers that train, not
    by it."""
    code = ("import sys, rnnbench.bench.cli, rnnbench.bench.launch, rnnbench.tasks; "
            "from rnnbench.bench.grid import expand; from rnnbench.bench.suite import load_suite; "
            "runs = expand(load_suite('quick')); runs[0].build_task().spec(); "
            "print(len(runs), sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'torchmetrics')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.split() == [str(len(expand(load_suite("quick")))), "[]"], out  # the whole grid read, nothing imported


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--suite", "nosuch"], "unknown suite 'nosuch'; valid choices: " + ", ".join(
            sorted(p.stem for p in (REPO / "bench" / "suites").glob("*.yaml")))),
        (["run", "--suite", "quick", "--tasks", "nosuchtask"], "valid choices:"),
        (["run", "--suite", "BAD_AXIS"], "valid choices:"),
        (["run", "--suite", "BAD_LEVEL"], "valid choices:"),
        (["run", "--suite", "MALFORMED"], "malformed suite YAML"),
        (["run", "--suite", "NEG_BUDGET"], "max_steps must be an integer >= 1"),
        (["run", "--suite", "INF_BUDGET"], "budget learning_rate must be a finite number > 0, got inf"),
        (["run", "--suite", "NOT_UTF8"], "cannot read suite"),
        (["run", "--suite", "PLATEAU_NOOP"], "lr level 'plateau' would train exactly as 'constant'"),
        (["run", "--suite", "quick", "--shard", "3/2"], "expected i/n"),
        (["run", "--suite", "quick", "--launcher", "ray", "--devices", "1,3"], "Ray gives each run one of the"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    bad = {
        "BAD_AXIS": "tasks: {adding: {}}\naxes: {colour: [red]}\n",
        "BAD_LEVEL": "tasks: {adding: {}}\naxes: {cell: [transformer]}\n",
        "MALFORMED": "tasks: {adding: [\n",
        "NEG_BUDGET": "tasks: {adding: {}}\nbudget: {max_steps: -3}\n",
        "INF_BUDGET": "tasks: {adding: {}}\nbudget: {learning_rate: .inf}\n",
        "NOT_UTF8": b"# \xff\xfe\ntasks: {adding: {}}\n",
        "PLATEAU_NOOP": "tasks: {adding: {}}\naxes: [{cell: [rnn]}, {lr: [plateau]}]\nbudget: {max_steps: 400, eval_every: 100}\n",
    }
    if args[2] in bad:
        path = tmp_path / "suite.yaml"
        text = bad[args[2]]
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        args = [*args[:2], str(path), *args[3:]]
    proc = subprocess.run(cli(*args, "--dry-run"), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0]


@pytest.mark.parametrize("text, needle", [
    ("tasks: {adding: {}}\naxes: {cell: []}\n", "axis 'cell' (valid levels: rnn, lstm, gru) has no values"),
    ("tasks: {adding: {seq_len: []}}\n", "parameter 'seq_len' of task 'adding' has no values"),
    ("tasks: {adding: {}}\naxes: [{cell: [lstm]}, {cell: [rnn], init: [chrono]}]\n",
     "axes entry 2 ({'cell': ['rnn'], 'init': ['chrono']}) leaves no remedy combination"),
    ("tasks: {adding: {}}\nmodel: 5\n", "'model' must be a mapping of parameters, got 5"),
    ("tasks: {adding: {}}\nbudget: [1]\n", "'budget' must be a mapping of parameters, got [1]"),
    ("tasks: {adding: {}}\nseeds: true\n", "seeds must be an integer >= 1, got True"),
    ("tasks: {adding: {}}\naxes: 7\n", "'axes' must map axis names to levels"),
])
def test_a_suite_that_would_train_nothing_or_garbage_is_refused(text, needle, tmp_path):
    """(rnnbench run prints a ConfigError as one line and exits 2: test_bad_input_is_one_line_and_exit_2)"""
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_suite(str(path))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_value_given_twice_is_one_run(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("tasks: {adding: {seq_len: [10, 10, 12]}}\naxes: {cell: [rnn, rnn, gru]}\nseeds: 2\n")
    runs = expand(load_suite(str(path)))
    assert len(runs) == 2 * 2 * 2 and len({r.run_id for r in runs}) == len(runs)


def test_help_explains_every_command():
    for args in (["--help"], ["run", "--help"], ["leaderboard", "--help"], ["list", "--help"]):
        proc = subprocess.run(cli(*args), cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "usage: rnnbench" in proc.stdout
    proc = subprocess.run(cli("list"), cwd=REPO, capture_output=True, text=True, timeout=60)
    for name in [*TASKS.names(), *AXES, "quick", "standard", "full"]:
        assert name in proc.stdout


def test_metrics_match_a_naive_computation():
    torch.manual_seed(0)
    spec = TASKS.get("copy")(delay=3, train_size=8, val_size=8, test_size=8).spec()
    metrics = TaskMetrics(spec)
    outs, ys = [], []
    for _ in range(3):  # several batches: the metric must aggregate, not average batch means
        n = int(torch.randint(2, 6, ()).item())
        out = torch.randn(n, len(spec.scored_steps), spec.num_classes)
        y = torch.randint(0, spec.num_classes, (n, len(spec.scored_steps)))
        metrics.update(out, y)
        outs.append(out)
        ys.append(y)
    out, y = torch.cat(outs), torch.cat(ys)
    got = metrics.compute()
    logp = out.log_softmax(-1)
    ce = -logp.gather(-1, y.unsqueeze(-1)).mean().item()
    m = spec.metric_slice
    acc = (out[:, m].argmax(-1) == y[:, m]).float().mean().item()
    assert got["ce"] == pytest.approx(ce, rel=1e-5) and got["loss"] == got["ce"]
    assert got["accuracy"] == pytest.approx(acc, rel=1e-6)
    text_like = TASKS.get("longrange_text")(delay=1, train_size=8, val_size=8, test_size=8).spec()
    pm = TaskMetrics(text_like)
    o = torch.randn(4, len(text_like.scored_steps), text_like.num_classes)
    t = torch.randint(0, text_like.num_classes, (4, len(text_like.scored_steps)))
    pm.update(o, t)
    naive_ppl = torch.exp(-o.log_softmax(-1).gather(-1, t.unsqueeze(-1)).mean()).item()
    assert pm.compute()["perplexity"] == pytest.approx(naive_ppl, rel=1e-5)
    reg = TaskMetrics(TASKS.get("adding")(seq_len=8, train_size=8, val_size=8, test_size=8).spec())
    a, b = torch.randn(5, 1), torch.randn(5, 1)
    reg.update(a, b)
    assert reg.compute()["mse"] == pytest.approx(((a - b) ** 2).mean().item(), rel=1e-6)


def test_perplexity_stays_finite_where_a_target_is_far_below_the_top_logit():
    """Perplexity is exp(mean CE) from log-softmax: one target 110 nats below its step's top logit is a finite
    (large) CE; a softmax in float32 gives it probability 0, and the split's perplexity would be inf."""
    spec = TASKS.get("longrange_text")(delay=1, train_size=8, val_size=8, test_size=8).spec()
    metrics = TaskMetrics(spec)
    torch.manual_seed(0)
    out = torch.randn(4, len(spec.scored_steps), spec.num_classes)
    y = torch.randint(0, spec.num_classes, (4, len(spec.scored_steps)))
    out[0, 0, :] = 0.0
    out[0, 0, (y[0, 0] + 1) % spec.num_classes] = 110.0
    metrics.update(out, y)
    naive = math.exp(-out.double().log_softmax(-1).gather(-1, y.unsqueeze(-1)).mean().item())
    got = metrics.compute()
    assert math.isfinite(got["perplexity"]) and got["perplexity"] == pytest.approx(naive, rel=1e-4)


def test_a_nan_output_reaches_the_validation_loss():
    """Half the samples' outputs NaN: the cross-entropy (the validation loss the divergence guard and the best
    checkpoint read) is NaN, not the mean over the other half (torchmetrics' MeanMetric drops NaN by default)."""
    spec = TASKS.get("copy")(delay=3, train_size=8, val_size=8, test_size=8).spec()
    metrics = TaskMetrics(spec)
    y = torch.randint(1, spec.num_classes, (4, len(spec.scored_steps)))
    out = torch.nn.functional.one_hot(y, spec.num_classes).float() * 50.0
    out[2:] = float("nan")
    metrics.update(out, y)
    got = metrics.compute()
    assert math.isnan(got["ce"]) and math.isnan(got["loss"])


def test_a_non_finite_test_metric_is_a_diverged_run():
    """The best weights' test outputs overflow: no score to report (the leaderboard would skip a NaN one and
    average the combo over its other seeds), so the run is recorded diverged, with the metric that overflowed."""
    spec = TASKS.get("adding")(seq_len=8, train_size=8, val_size=8, test_size=8).spec()
    record = new_record(RunConfig("adding", {"seq_len": 8}, ModelConfig()), "custom")
    with pytest.raises(Diverged, match=r"non-finite test mse \(the best weights, validated\) at step 40"):
        finish_record(record, spec, {"mse": float("inf"), "loss": float("inf")}, 40)
    finish_record(record, spec, {"mse": 0.5, "loss": 0.5}, 40)
    assert record.status == "ok" and record.metrics == {"mse": 0.5}


class _Recording(torch.optim.SGD):
    """SGD that remembers the gradient norm it was handed at each step."""

    seen: list[float] = []

    def step(self, closure=None):
        loss = closure() if closure is not None else None  # Lightning runs forward/backward/clip in the closure
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        _Recording.seen.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        super().step()
        return loss


@pytest.mark.parametrize("clip, c", [("norm", 0.05), ("value", 0.01)])
def test_clipping_bounds_what_the_optimizer_sees(clip, c, tmp_path):
    """Through the runs' Trainer, 5 optimizer steps in one Lightning batch: each step is clipped before the
    optimizer sees it, and the guard saw it before the clip."""
    from rnnbench.bench.prepare import grouped_trainer

    task = TASKS.get("adding")(seq_len=20, train_size=64, val_size=16, test_size=16)
    spec = task.spec()
    budget = Budget(max_steps=5, batch_size=16, eval_every=5, learning_rate=0.1, clip_value=c)

    class Module(BenchModule):
        def configure_optimizers(self):
            return _Recording(self.parameters(), lr=0.1)

    _Recording.seen = []
    module = Module(SequenceModel(spec, ModelConfig(cell="rnn", activation="relu", init="identity", hidden_size=16)),
                    spec, "constant", budget, clip)
    trainer, grouped = grouped_trainer("cpu", 1, budget, tmp_path, TaskDataModule(task, 16, 0), 5)
    trainer.fit(module, datamodule=grouped)
    (run,) = module.runs
    assert len(_Recording.seen) == 5 and trainer.global_step == 5 and run.steps == 5
    if clip == "norm":
        assert max(_Recording.seen) <= c + 1e-6
    # the guard saw the norm before clipping: it was larger, so the clip did something
    assert run.norm_max > c and run.stats()["clipped_fraction"] > 0


def _monitored_fit(check_every: int, lr: float) -> tuple[RunState, int | None]:
    """A ReLU RNN with identity recurrence trained by SGD at `lr` (diverges when lr is large), its guard reading its
    device values every `check_every` steps; returns the run's state and the step it diverged at (None)."""
    torch.manual_seed(0)
    task = TASKS.get("adding")(seq_len=30, train_size=128, val_size=32, test_size=32)
    spec = task.spec()
    budget = Budget(max_steps=24, batch_size=32, eval_every=10, learning_rate=lr, optimizer="sgd", clip_value=1e30)
    module = BenchModule(SequenceModel(spec, ModelConfig(cell="rnn", activation="relu", init="identity", hidden_size=16)),
                         spec, "constant", budget, "value", check_every=check_every)  # rows of 3; nothing clipped
    trainer = L.Trainer(max_steps=24, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, val_check_interval=10, check_val_every_n_epoch=None,
                        num_sanity_val_steps=0)
    diverged = None
    try:
        trainer.fit(module, datamodule=TaskDataModule(task, 32, 0))
    except Diverged as err:
        diverged = err.step
    (run,) = module.runs
    assert diverged == (run.diverged.step if run.diverged else None)
    return run, diverged


@pytest.mark.parametrize("lr", [0.01, 3.0])
def test_deferred_divergence_checks_match_a_check_every_step(lr):
    """On a GPU the guard reads its numbers every 25 steps, not every step: what it records (statistics, the
    step a divergence is recorded at) must be what a check every step records, with a bad step in any position."""
    (every, at), (deferred, deferred_at) = _monitored_fit(1, lr), _monitored_fit(7, lr)
    assert (at is not None) == (lr > 1), at  # the large lr does diverge
    assert deferred_at == at
    assert deferred.stats() == every.stats() and deferred.best_step == every.best_step
    if every.diverged is None:
        assert every.steps == 24


def test_failed_run_is_recorded_with_its_error(tmp_path):
    cfg = RunConfig("text", {"corpus": str(tmp_path / "empty"), "bptt": 5}, ModelConfig(cell="rnn", hidden_size=4),
                    budget=Budget(max_steps=2, batch_size=2, eval_every=1))
    (tmp_path / "empty").mkdir()
    record = execute(cfg, tmp_path / "res")
    assert record["status"] == "failed" and "no train file" in record["error"] and "wandb_error" not in record
    mirrored = execute(cfg, tmp_path / "wandb", wandb_project="p")  # --wandb: the record says why there is no mirror
    assert mirrored["status"] == "failed" and mirrored["wandb_error"].startswith("W&B not started: the run failed")
    assert ResultStore(tmp_path / "res").read(cfg.run_id)["status"] == "failed"


def test_ddp_on_two_cpu_processes(tiny_suite, tmp_path):
    """`--devices 2 --strategy ddp`: each run spans two gloo processes; rank zero alone writes results. 3 validation
    batches: one process scores 2, the other 1 (tasks.data shards them, Lightning's sampler is off); 1 test batch:
    the second process has none."""
    out = tmp_path / "res"
    tiny_suite.write_text(tiny_suite.read_text().replace("val_size: 32, test_size: 32", "val_size: 48, test_size: 16"))
    args = cli("run", "--suite", str(tiny_suite), "--tasks", "adding", "--out", str(out), "--devices", "2",
               "--strategy", "ddp", "--quiet", "--no-leaderboard")
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = results(out)
    grid = [r for r in expand(load_suite(str(tiny_suite))) if r.task == "adding"]
    assert set(records) == {r.run_id for r in grid}
    for rec in records.values():
        assert rec["status"] == "ok", rec["error"]
        assert rec["world_size"] == 2 and "ddp" in rec["device"]
        assert rec["steps_trained"] == 4
    assert proc.stdout.count("done:") == 1  # the second process prints nothing


def test_lr_schedules_act_on_the_learning_rate(tmp_path):
    """plateau halves the lr after 3 validations without improvement; warmup_cosine follows its formula."""
    budget = Budget(max_steps=120, batch_size=32, eval_every=10, learning_rate=0.001, optimizer="sgd", warmup_steps=20)
    lrs = {}
    for lr in ("constant", "plateau", "warmup_cosine"):
        cfg = RunConfig("adding", {"seq_len": 20, "train_size": 256, "val_size": 64, "test_size": 64},
                        ModelConfig(cell="rnn", hidden_size=8), lr=lr, budget=budget)
        record = execute(cfg, tmp_path)
        assert record["status"] == "ok", record["error"]
        lrs[lr] = [(h["step"], h["lr"], h["val_loss"]) for h in record["history"]]
    assert {lr for _, lr, _ in lrs["constant"]} == {0.001}
    # replay ReduceLROnPlateau(patience=PLATEAU_PATIENCE, factor=0.5) on the validation losses the run recorded
    from rnnbench.bench.optim import PLATEAU_PATIENCE, plateau_first_step

    best, bad, expected = float("inf"), 0, 0.001
    for _, lr, loss in lrs["plateau"]:
        if loss < best * (1 - 1e-4):
            best, bad = loss, 0
        else:
            bad += 1
        if bad > PLATEAU_PATIENCE:
            expected, bad = expected / 2, 0
        assert lr == pytest.approx(expected)
    lowered = [step for step, lr, _ in lrs["plateau"] if lr < 0.001]
    assert lowered, "the losses here stagnate: the plateau must act"
    assert lowered[0] >= plateau_first_step(budget) == 40  # what a suite's check relies on (bench.suite.load_suite)
    import math

    for step, lr, _ in lrs["warmup_cosine"]:  # after `step` scheduler steps: the lr of the next step
        want = 0.001 * ((step + 1) / 20 if step < 20 else 0.5 * (1 + math.cos(math.pi * min(1.0, (step - 20) / 100))))
        assert lr == pytest.approx(want, abs=1e-12)


def test_default_workers_fill_the_cores_and_share_gpus():
    from rnnbench.bench.devices import WORKERS_PER_GPU, default_workers

    cores = os.cpu_count() or 1
    assert default_workers(()) == cores  # CPU: one per core
    assert default_workers((3,), gpu_gib=80) == min(cores, WORKERS_PER_GPU) >= 1  # several per GPU, never more than the cores
    assert default_workers(tuple(range(cores + 1)), gpu_gib=80) == cores + 1  # at least one per GPU
    assert default_workers((0,), gpu_gib=3) == 1 and default_workers((1, 3), gpu_gib=1) == 2  # a small GPU: its memory decides


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_runs_optimizer_is_torchs_fused_form_of_the_budgets(name):
    """make_optimizer (what BenchModule trains with): the budget's optimizer and learning rate, fused where this
    torch has a fused kernel for the device (CPU: torch >= 2.4), making the same updates as the default form."""
    spec = TASKS.get("adding")(seq_len=6, train_size=8, val_size=8, test_size=8).spec()
    budget = Budget(optimizer=name, learning_rate=0.05)
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(SequenceModel(spec, ModelConfig(cell="rnn", hidden_size=8)))
    cls, settings = OPTIMIZERS[name]
    ours, plain = make_optimizer(models[0].parameters(), budget), cls(models[1].parameters(), lr=0.05, **settings)
    assert type(ours) is cls and ours.defaults["lr"] == 0.05
    assert all(ours.defaults[k] == v for k, v in settings.items())
    if torch.__version__ >= (2, 4):
        assert ours.defaults["fused"] is True
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=gen) for p in models[0].parameters()]
        for model, opt in zip(models, (ours, plain)):
            for p, g in zip(model.parameters(), grads):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    module = BenchModule(models[0], spec, "constant", budget)
    assert type(module.configure_optimizers()) is cls


def test_records_name_the_commit_and_say_when_the_checkout_differs_from_it(tmp_path):
    """A record's git_commit is its checkout's HEAD, "-dirty" where tracked files were changed (a suite edited
    after the commit trains something that commit does not hold); None outside a checkout. The README's header
    shortens each to 7 characters and keeps the mark."""
    from rnnbench.bench.recorder import commit_of
    from rnnbench.leaderboard.readme import short_commits

    assert commit_of(tmp_path) is None
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "suite.yaml").write_text("budget: {eval_every: 100}\n")
    subprocess.run([*git, "add", "suite.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "suite"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / "untracked.txt").write_text("results, notes: not the code\n")
    assert commit_of(tmp_path) == head
    (tmp_path / "suite.yaml").write_text("budget: {eval_every: 50}\n")
    assert commit_of(tmp_path) == head + "-dirty"
    assert short_commits(f"{head}, {head}-dirty") == f"{head[:7]}, {head[:7]}-dirty"
    assert short_commits("unknown") == "unknown"


def test_a_temporal_skip_as_long_as_the_sequence_is_a_failed_run_not_a_no_op_remedy(tmp_path):
    """skip_k >= T: h_(t-k) is 0 at every step, so the run would train as no skip (with unused weights) under the
    label skip=temporal. The model computes it (tests/test_models.py's "temporal k>L" layout); as a run it is
    recorded failed with one line saying why and what to use. skip_k = T - 1 trains."""
    def run(k: int) -> dict:
        cfg = RunConfig("adding", {"seq_len": 6, "train_size": 32, "val_size": 16, "test_size": 16},
                        ModelConfig(cell="rnn", hidden_size=4, skip="temporal", skip_k=k),
                        budget=Budget(max_steps=2, batch_size=16, eval_every=2))
        return execute(cfg, tmp_path / str(k))

    refused, trained = run(6), run(5)
    assert refused["status"] == "failed" and "\n" not in refused["error"]
    assert "skip_k 6 on sequences of 6 steps" in refused["error"] and "use skip_k < 6" in refused["error"]
    assert trained["status"] == "ok"


def _worker_numerics() -> dict:
    """In a pool worker: its intra-op threads, whether a float32 denormal survives a multiplication (it is 0 with
    flush-to-zero on, as a control shows in the same thread), and cuDNN's and matmul's TF32 flags."""
    flushed = (torch.tensor(1e-42) * 1).item()
    torch.set_flush_denormal(False)
    control = (torch.tensor(1e-42) * 1).item()
    return {"threads": torch.get_num_threads(), "denormal": flushed, "control": control,
            "cudnn_tf32": torch.backends.cudnn.allow_tf32, "matmul_tf32": torch.backends.cuda.matmul.allow_tf32}


def test_a_worker_computes_in_full_float32_on_every_path(tmp_path, monkeypatch):
    """A worker's numerics, read inside a real pool worker (a fresh spawned process, where torch's defaults are
    several threads, denormals kept and TF32 allowed in cuDNN): one intra-op thread, flush-to-zero on in the thread
    that trains, and cuDNN without TF32 (torch allows it there by default, not in matmuls), so a remedy's cuDNN runs
    compute at the precision of its loop, recurrence and fused-group runs."""
    from rnnbench.bench.launch import LaunchOptions, make_pool

    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a spawned process's default: 3 threads unless the set-up sets 1
    pool = make_pool(LaunchOptions(out_dir=tmp_path, workers=1))
    try:
        seen = pool.submit(_worker_numerics).result(timeout=120)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert seen["control"] > 0, seen  # without flush-to-zero the denormal 1e-42 survives: the probe can tell
    assert seen["denormal"] == 0.0, seen
    assert seen["threads"] == 1, seen
    assert seen["cudnn_tf32"] is False and seen["matmul_tf32"] is False, seen


def test_a_published_folder_resumes_its_sweep(tiny_suite, tmp_path, capsys):
    """A folder holding only the published records (records.jsonl.gz, as a checkout of leaderboard/published/ has
    them) knows its finished runs: the same sweep into it trains nothing again, and a failed run is retried."""
    out, published = tmp_path / "res", tmp_path / "published"
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "0", "--quiet",
                 "--no-leaderboard"]) == 0
    assert main(["leaderboard", "--results", str(out), "--out", str(published), "--publish"]) == 0
    assert not (published / "runs").exists()
    capsys.readouterr()
    grid = expand(load_suite(str(tiny_suite)))
    assert main(["run", "--suite", str(tiny_suite), "--out", str(published), "--workers", "0", "--no-leaderboard"]) == 0
    assert f"{len(grid)} already finished, 0 to train" in capsys.readouterr().out
    store = ResultStore(published)
    assert all(store.state(cfg) == "ok" for cfg in grid) and store.has_records()


@pytest.mark.parametrize("sweeps", [2, 4])
def test_sweeps_sharing_one_out_train_each_run_once(tiny_suite, tmp_path, sweeps):
    """Sweeps started at once on one --out (a job started twice, a requeued SLURM job beside the old one): each run
    is trained by one of them (a claim per run), the others report it as trained elsewhere, nothing is lost."""
    out = tmp_path / "res"
    grid = expand(load_suite(str(tiny_suite)))
    procs = [subprocess.Popen(cli("run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "1",
                                  "--no-leaderboard", "--quiet"), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(sweeps)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    trained = elsewhere = 0
    for text in outputs:  # "done: 3 ok, 0 diverged, 0 failed, 0 skipped (already finished), 5 trained by another..."
        done = next(line for line in text.splitlines() if line.startswith("done:"))
        trained += int(re.search(r"done: (\d+) ok", done).group(1))
        found = re.search(r"(\d+) trained by another sweep", done)
        elsewhere += (int(found.group(1)) if found else 0) + int(re.search(r"(\d+) skipped", done).group(1))
    assert trained == len(grid), outputs  # each run trained once over all the sweeps
    assert elsewhere == (sweeps - 1) * len(grid)  # and every sweep accounts for every run: done here or elsewhere
    records = results(out)
    assert set(records) == {r.run_id for r in grid} and all(r["status"] == "ok" for r in records.values())


def test_a_failed_record_never_replaces_a_finished_one(tmp_path):
    store = ResultStore(tmp_path)
    cfg = RunConfig("adding", {"seq_len": 8}, ModelConfig())
    ok = {**new_record(cfg, "custom").to_dict(), "status": "ok", "normalized_score": 0.9}
    assert store.write(ok) == ok
    failed = new_record(cfg, "custom")  # another sweep's attempt at the same run
    assert store.write(failed)["status"] == "ok" and store.read(cfg.run_id)["normalized_score"] == 0.9
    fresh = RunConfig("adding", {"seq_len": 9}, ModelConfig())
    assert store.write(new_record(fresh, "custom"))["status"] == "failed"  # nothing finished to keep: written
