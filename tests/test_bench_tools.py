"""The benchmark tools' own logic (their timings are never asserted): bench.speed.size's sampling and step cuts,
and its projection run end to end through the real sweep on a tiny suite."""

from __future__ import annotations

import dataclasses
from collections import Counter
import re
import subprocess
import sys

import pytest

from rnnbench.bench.config import RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.launch import LaunchOptions, make_jobs
from rnnbench.bench.speed.size import cut_steps, path_of, sample_jobs
from rnnbench.bench.suite import load_suite
from rnnbench.models import ModelConfig
from tests.conftest import REPO, cli


def test_cut_steps_keeps_the_share_of_evaluations_and_warmup(tiny_suite):
    cfg = expand(load_suite(str(tiny_suite)))[0]
    full = cfg.budget.__class__(max_steps=2000, eval_every=200, warmup_steps=100)
    cut = cut_steps(cfg.__class__(cfg.task, cfg.task_params, cfg.model, budget=full), 100)
    assert (cut.budget.max_steps, cut.budget.eval_every, cut.budget.warmup_steps) == (100, 10, 5)
    assert cut.run_id != cfg.run_id and cut.model == cfg.model and cut.task_params == cfg.task_params


def test_sample_jobs_spreads_over_the_job_list_and_keeps_fused_groups_whole(tiny_suite):
    runs = expand(load_suite(str(tiny_suite)), seeds=4)
    jobs = make_jobs(runs, LaunchOptions(out_dir=REPO, fuse=True))
    assert any(len(job) > 1 for job in jobs), "the tiny suite's vanilla RNN runs fuse on a CPU"
    picked = sample_jobs(jobs, 4)
    assert len(picked) == 4 and all(any(p is job for job in jobs) for p in picked)  # whole jobs
    positions = [next(i for i, job in enumerate(jobs) if job is p) for p in picked]
    assert positions == sorted(positions) and len(set(positions)) == 4
    assert Counter(job[0].task for job in picked) == {"adding": 2, "copy": 2}  # each task setting its share
    assert sample_jobs(jobs, 4) == picked and sample_jobs(jobs, 4, seed=1) != picked  # seeded
    assert sample_jobs(jobs, 10 * len(jobs)) == jobs


def test_the_projection_scales_sampled_jobs_to_the_suites_jobs():
    """65 single runs and 10 fused groups of 6 (75 jobs), a group taking twice a single run's 10 s: the true total is
    65 * 10 + 10 * 20 = 850 s on one worker. A sample of 16 jobs is scaled by jobs (75 / 16), whatever mix of groups
    it drew; by runs (125 / the sample's runs) a sample of 5 groups would project 683 s, of none 1250 s."""
    from rnnbench.bench.speed.size import projected_hours

    for groups in range(0, 6):  # sampled groups, the rest single runs
        full = groups * 20 + (16 - groups) * 10
        assert projected_hours(full, 0.0, 0.0, 1, 75, 16) == pytest.approx(full * 75 / 16 / 3600)
    assert projected_hours(200, 0.0, 0.0, 2, 75, 16) == pytest.approx(200 / 2 * 75 / 16 / 3600)  # workers share it
    # start-up: the first sweep's wall beyond its runs' share of the workers, added once
    assert projected_hours(200, 30.0, 40.0, 2, 75, 16) == pytest.approx((200 / 2 * 75 / 16 + 10) / 3600)
    assert projected_hours(200, 10.0, 40.0, 2, 75, 16) == pytest.approx(200 / 2 * 75 / 16 / 3600)


def test_path_of_names_the_route_the_run_takes_on_the_device():
    """path_of names the path the run's model takes (SequenceModel.path), its cell and its skip."""
    from rnnbench.models import SequenceModel

    cfg = RunConfig("adding", {"seq_len": 8}, ModelConfig(cell="rnn", skip="temporal"))
    leaky = dataclasses.replace(cfg, model=ModelConfig(cell="rnn", activation="leaky_relu"))
    lstm = dataclasses.replace(cfg, model=ModelConfig(cell="lstm", num_layers=2, skip="residual"))
    for run, suffix in ((cfg, " skip=temporal"), (leaky, ""), (lstm, " skip=residual")):
        model = SequenceModel(run.build_task().spec(), run.model)
        for device in ("cpu", "cuda"):
            assert path_of(run, device) == f"{run.model.cell} {model.path(device)}{suffix}", (run.model, device)
    assert path_of(leaky, "cuda") == "rnn recurrence"  # no fused kernel for leaky_relu: on any device


def test_size_projects_a_tiny_suite_through_the_real_sweep(tiny_suite):
    """Fused, 3 seeds: the tiny suite's 18 runs are fewer jobs, and the projection scales the sampled jobs' time by
    the suite's jobs (not its runs): the printed terms give the printed total."""
    tiny_suite.write_text(tiny_suite.read_text().replace("seeds: 1", "seeds: 3"))
    size = cli("size", "--suite", str(tiny_suite))
    proc = subprocess.run(size + ["--jobs", "2", "--steps", "2", "4", "--workers", "1", "--fuse"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    runs, jobs = map(int, re.search(r"suite tiny: (\d+) runs in (\d+) jobs; sample: \d+ runs in 2 jobs", out).groups())
    assert runs == 18 and jobs < runs and "'failed': 0" in out
    terms = re.search(r"projection: ([0-9.]+) s summed job time / 1 workers x (\d+) suite jobs / 2 sampled jobs \+ "
                      r"([0-9.]+) s pool start-up = ([0-9.]+) s", out)
    assert terms, out
    full, suite_jobs, startup, total = float(terms[1]), int(terms[2]), float(terms[3]), float(terms[4])
    assert suite_jobs == jobs and full > 0
    assert total == pytest.approx(full * jobs / 2 + startup, abs=0.03)
    per_run = float(re.search(r"suite tiny, 18 runs: [0-9.]+ h projected on this machine \(([0-9.]+) s of wall per "
                              r"run", out).group(1))
    assert per_run == pytest.approx(total / runs, abs=0.006)
    rough = re.search(r"rough projection from 2 steps alone .*: ([0-9.]+) h", out)  # printed before the 2nd sweep
    assert rough and out.index("rough projection") < out.index("  4 steps: sweep wall"), out
    bad = subprocess.run(size + ["--steps", "4", "40"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--steps 4 40" in bad.stderr and "max_steps (4)" in bad.stderr


def test_size_refuses_a_projection_with_failed_sample_runs(tiny_suite, tmp_path):
    """A sampled run that fails (here a text corpus folder without files) takes next to no time: projecting it as
    a run would be too low, so the tool says so and exits 1."""
    (tmp_path / "empty").mkdir()
    tiny_suite.write_text(tiny_suite.read_text().replace("axes:", f"  text: {{corpus: '{tmp_path / 'empty'}', "
                                                                  "bptt: 5}\naxes:", 1))
    proc = subprocess.run(cli("size", "--suite", str(tiny_suite), "--tasks", "text",
                               "--jobs", "1", "--steps", "2", "4", "--workers", "1"),
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "sampled runs failed, so the projection is too low" in proc.stderr
    assert "no train file" in proc.stderr


def test_perf_row_verdicts():
    from rnnbench.bench.speed.timing import Row

    assert [Row("p", "m", v, "<= 1.05").verdict for v in (1.0, 1.05, 1.06)] == ["pass", "pass", "FAIL"]
    assert [Row("p", "m", v, ">= 0.8").verdict for v in (0.9, 0.7)] == ["pass", "FAIL"]
    assert Row("p", "m", float("nan"), "<= 1.2").verdict == "FAIL"  # not measured is not a pass
    assert Row("p", "m", 3.0, "info").verdict == "-"


def test_a_ratio_near_its_bound_gets_more_rounds():
    """A part-2 row whose median ratio lands within NEAR_TARGET of its bound is timed EXTRA_ROUNDS more times
    (the verdict rests on more rounds); one far from it, or an info row, keeps 5 (after 1 warm-up)."""
    from rnnbench.bench.speed.timing import EXTRA_ROUNDS, NEAR_TARGET, fwd_bwd_row

    def rounds(ratio: float, target: str) -> int:
        calls = []
        row = fwd_bwd_row("r", lambda: calls.append(1) or ratio, lambda: 1.0, "cpu", target)  # seconds "measured"
        assert row.value == pytest.approx(ratio) and f"{len(calls) - 1} rounds" in row.detail
        return len(calls) - 1

    near = 1.2 * (1 - NEAR_TARGET / 2)
    assert rounds(near, "<= 1.2") == 5 + EXTRA_ROUNDS
    assert rounds(1.2 * (1 + NEAR_TARGET / 2), "<= 1.2") == 5 + EXTRA_ROUNDS
    assert rounds(0.6, "<= 1.2") == 5 and rounds(near, "info") == 5


def test_lightning_floor_times_a_minimal_module_through_the_runs_trainer():
    """bench.speed.overhead's reference for Lightning's own cost: the run's model and data through bench.prepare.make_trainer,
    with the hand-written loop interleaved in blocks (timings are not asserted, only that blocks were taken)."""
    from rnnbench.bench.config import Budget
    from rnnbench.bench.speed.overhead import lightning_floor

    k, blocks = 2, 4  # a pair at every block boundary after the first: steps k, 2k, .., (blocks + 1) k
    cfg = RunConfig("adding", {"seq_len": 6, "train_size": 32, "val_size": 8, "test_size": 8},
                    ModelConfig(cell="rnn", hidden_size=8),
                    budget=Budget(max_steps=(blocks + 1) * k + 1, batch_size=8, eval_every=1000, probe_batch=4))
    timer = lightning_floor(cfg, k, "cpu")
    assert len(timer.pairs) == blocks + 1 and all(a > 0 and b > 0 for a, b in timer.pairs)
    model = timer.hand[0]
    assert sum(p.numel() for p in model.parameters()) == 8 * 2 + 8 * 8 + 2 * 8 + 8 + 1  # the run's own model


def test_perf_times_execute_in_blocks_across_groups_of_steps(tmp_path):
    """bench.speed.overhead's Lightning row: execute() itself with 2 optimizer steps per Lightning batch, timed in blocks of
    4 steps, the hand loop drawing the task's own batches (through the GroupedSteps wrapper) between blocks."""
    from rnnbench.bench.config import Budget
    from rnnbench.bench.runner import execute
    from rnnbench.bench.speed.overhead import InterleavedLoop

    k = 4
    cfg = RunConfig("adding", {"seq_len": 6, "train_size": 24, "val_size": 8, "test_size": 8},
                    ModelConfig(cell="rnn", hidden_size=8),
                    budget=Budget(max_steps=5 * k, batch_size=8, eval_every=1000, probe_batch=4))
    timer = InterleavedLoop(k)
    record = execute(cfg, tmp_path, callbacks=(timer,), steps_per_batch=2)
    assert record["status"] == "ok" and record["steps_trained"] == 5 * k
    assert len(timer.pairs) == 4 and all(a > 0 and b > 0 for a, b in timer.pairs)  # boundaries at steps 4, 8, 12, 16
    x, y = next(timer.hand[2])  # one plain batch of the task, not a group
    assert x.shape == (8, 6, 2) and y.shape[0] == 8


def test_speed_fused_times_every_fused_kernel_the_cell_allows():
    """bench.speed.fused on tiny sizes (its timings are not asserted): both kernels where the activation has a
    fused kernel, only 'stepped' for leaky_relu; a ratio for each. The CUDA table runs this same code."""
    from rnnbench.bench.speed.fused import measure

    seq_ms, fused = measure(("gru", 4, 8, 5), K=2, device="cpu", repeats=1, warmup=1)
    assert seq_ms > 0 and set(fused) == {"stepped", "blockdiag"}
    assert all(ms > 0 and ratio > 0 for ms, ratio in fused.values())
    _, fused = measure(("rnn/leaky_relu", 4, 8, 5), K=2, device="cpu", repeats=1, warmup=1)
    assert set(fused) == {"stepped"}


def test_perf_graphed_rows_run_and_restore_the_graph_devices(monkeypatch):
    """bench.speed.remedies' rows that decide models.graphed.GRAPH_DEVICES on a GPU, run on tiny sizes on the CPU
    (there they time the eager recurrence both ways): three rows, and the table left as it was."""
    from rnnbench.bench.speed import models as sm
    from rnnbench.bench.speed import remedies
    from rnnbench.models import graphed

    for name, value in (("H", 8), ("T", 12), ("B", 4)):
        monkeypatch.setattr(sm, name, value)
    before = set(graphed.GRAPH_DEVICES)
    rows = remedies.graphed_recurrence(True, "cpu")
    assert [r.name.split(":")[1].strip() for r in rows] == [
        "graphed recurrence / eager recurrence", "graphed recurrence / eager recurrence",
        "graphed recurrence / chunked cuDNN calls"]
    assert all(r.value > 0 and r.target == "info" for r in rows)
    assert graphed.GRAPH_DEVICES == before


def test_perf_refuses_a_selection_that_measures_nothing_here(capsys):
    """--only a GPU-only part on the CPU (or a CPU-only part with --device cuda) would print an empty table:
    refused with the choices for that device."""
    from rnnbench.bench.speed import perf
    from rnnbench.bench.speed.timing import print_table

    with pytest.raises(SystemExit) as exit_:
        perf.main(["--only", "gpu_busy"])
    assert exit_.value.code == 2
    assert "none of them measures on --device cpu" in capsys.readouterr().err
    print_table([])
    assert capsys.readouterr().out == "nothing measured\n"
