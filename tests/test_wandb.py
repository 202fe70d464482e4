"""The W&B mirror (bench.tracking) through real offline W&B runs, read back from the files W&B writes."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

from rnnbench.bench.cli import main
from rnnbench.bench.grid import expand
from rnnbench.bench.runner import execute
from rnnbench.bench.suite import load_suite
from rnnbench.tasks.data import TaskDataModule
from tests.conftest import REPO, TINY_SUITE, cli

WANDB_VARS = ("WANDB_MODE", "WANDB_API_KEY", "WANDB_SILENT", "WANDB_BASE_URL", "WANDB_DIR", "WANDB_PROJECT")


def wandb_records(path: Path) -> list:
    """An offline W&B run file (run-*.wandb), read back as its protobuf records (wandb_internal_pb2.Record).
    The file is W&B's LevelDB-style log: a 7-byte file header; 32 KiB blocks; records of a 7-byte header (CRC,
    length, kind: full / first / middle / last piece) and the record's bytes."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, pieces, out = path.read_bytes(), 7, b"", []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pieces = chunk if kind in (1, 2) else pieces + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pieces)
            out.append(record)
    return out


class OfflineRun:
    """One offline W&B run folder, decoded: its run record, config, history rows, final summary, artifacts."""

    def __init__(self, folder: Path, within: float = 30.0):
        """W&B's service writes the file after `finish()` returns: wait (up to `within` seconds) for its exit record."""
        self.folder = folder
        deadline = time.monotonic() + within
        while True:
            kinds = [(r.WhichOneof("record_type"), r) for r in wandb_records(next(folder.glob("run-*.wandb")))]
            if any(kind == "exit" for kind, _ in kinds) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert any(kind == "exit" for kind, _ in kinds), f"{folder}: no exit record within {within} s"
        self.run = next(r.run for kind, r in kinds if kind == "run")
        self.config = {i.key: json.loads(i.value_json) for i in self.run.config.update if not i.key.startswith("_")}
        self.history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
                        for kind, r in kinds if kind == "history"]
        self.summary = {}
        for kind, r in kinds:
            if kind == "summary":
                self.summary.update({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                     for i in r.summary.update})
        self.artifacts = [r.artifact for kind, r in kinds if kind == "artifact"]

    def rows(self, key: str) -> list[dict]:
        return [h for h in self.history if key in h]

    def table(self, key: str) -> dict:
        """A logged wandb.Table, read from its file under files/: {"columns": [...], "data": [[...], ...]}."""
        (row,) = [h for h in self.history if f"{key}/_type" in h]
        assert row[f"{key}/_type"] == "table-file"
        return json.loads((self.folder / "files" / row[f"{key}/path"]).read_text())


def offline_runs(out: Path, job_type: str = "train") -> list[OfflineRun]:
    runs = [OfflineRun(f) for f in sorted((out / "wandb").glob("offline-run-*"))]
    return [r for r in runs if r.run.job_type == job_type]


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without the user's W&B settings, HOME a fresh folder (no ~/.netrc: not logged in)."""
    env = {k: v for k, v in os.environ.items() if k not in WANDB_VARS}
    return {**env, "HOME": str(home), **extra}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The tiny suite (adding and copy: 6 runs) trained by `rnnbench run --wandb` in a worker process, as a user
    runs it: not logged in (so offline), no W&B variables set. Returns (out folder, the command's output)."""
    root = tmp_path_factory.mktemp("wandb_sweep")
    (root / "tiny.yaml").write_text(TINY_SUITE)
    (root / "home").mkdir()
    out = root / "res"
    done = subprocess.run(cli("run", "--suite", str(root / "tiny.yaml"), "--out", str(out), "--workers", "1",
                              "--wandb", "--no-leaderboard"), cwd=REPO, env=clean_env(root / "home"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout + done.stderr


def test_wandb_prints_nothing_into_the_sweeps_progress_lines(sweep):
    out, output = sweep
    lines = output.replace(str(out), "OUT").strip().splitlines()
    assert sum(line.startswith("[") for line in lines) == 6  # a progress line per run
    assert not [line for line in lines if "wandb" in line.lower() and not line.startswith("W&B ran offline")], output
    assert lines[-1] == "W&B ran offline: upload with `wandb sync OUT/wandb/offline-run-*`"


def test_each_attempt_is_a_readable_run_grouped_tagged_and_configured_by_its_remedies(sweep):
    out, _ = sweep
    recs, runs = records(out), offline_runs(out)
    assert len(runs) == len(recs) == 6
    names = {r.run.display_name for r in runs}
    assert names == {f"{task} · {combo} · adam lr=0.001 · seed 0" for task in ("adding(seq_len=8)", "copy(delay=3)")
                     for combo in ("rnn (baseline)", "lstm", "rnn + clip=norm")}
    for run in runs:
        rid = run.config["run_id"]
        record = recs[rid]
        assert run.run.run_id.startswith(rid + "-") and len(run.run.run_id) > len(rid) + 1  # the hash, plus the attempt
        assert run.run.job_type == "train"
        assert run.config["suite"] == "tiny" and run.config["git_commit"] == record["git_commit"] is not None
        assert run.config["remedies"] == record["remedies"] and run.config["tuning"] == "adam lr=0.001"
        assert run.config["task"]["params"] == record["config"]["task"]["params"]  # the full config is still there
        assert run.config["budget"]["max_steps"] == 4
        cell, clip = record["remedies"]["cell"], record["remedies"]["clip"]
        expected = {"suite=tiny", f"task={record['task']}", f"cell={cell}"} | ({f"clip={clip}"} - {"clip=none"})
        assert set(run.run.tags) == expected
        assert run.run.run_group == f"{record['task_label']} · {run.config['combo']}"


def test_train_val_and_test_metrics_are_in_their_sections_and_agree_with_the_record(sweep):
    """train/ every 2 optimizer steps here (bench.guard.Guard.LOG_EVERY's divisor of eval_every 2): two windows of
    two steps, so their means average to the record's mean norm; val/ at each validation; test/ once."""
    out, _ = sweep
    recs = records(out)
    clipped = []
    for run in offline_runs(out):
        record = recs[run.config["run_id"]]
        assert not [k for h in run.history for k in h if k.startswith("val_") or k == "lr"]  # one section per split
        train = run.rows("train/grad_norm")
        assert [int(h["trainer/global_step"]) for h in train] == [2, 4]
        assert sum(h["train/grad_norm"] for h in train) / 2 == pytest.approx(record["grad"]["norm_mean"])
        assert max(h["train/grad_norm_max"] for h in train) == pytest.approx(record["grad"]["norm_max"])
        fraction = sum(h["train/clipped_fraction"] for h in train) / 2
        assert fraction == pytest.approx(record["grad"]["clipped_fraction"])
        clipped.append((record["remedies"]["clip"], fraction))
        assert all(h["train/loss"] > 0 for h in train)
        val = run.rows("val/loss")
        assert [int(h["trainer/global_step"]) for h in val] == [h["step"] for h in record["history"]] == [2, 4]
        for h, kept in zip(val, record["history"]):
            assert {k[len("val/"):]: v for k, v in h.items() if k.startswith("val/")} == pytest.approx(
                {k[len("val_"):]: v for k, v in kept.items() if k.startswith("val_")})
            assert h["train/lr"] == kept["lr"]
        (test,) = run.rows("test/normalized_score")
        metrics = {k[len("test/"):]: v for k, v in test.items() if k.startswith("test/")}
        assert metrics.pop("normalized_score") == pytest.approx(record["normalized_score"])
        assert metrics == pytest.approx(record["metrics"])
        assert run.summary["test/normalized_score"] == pytest.approx(record["normalized_score"])
        assert run.summary["status"] == record["status"] == "ok" and run.summary["best_step"] == record["best_step"]
        assert run.summary["grad/norm_max"] == pytest.approx(record["grad"]["norm_max"])
    assert [f for clip, f in clipped if clip == "none"] == [0.0] * 4  # no clip remedy: nothing counts as clipped
    assert max(f for clip, f in clipped if clip == "norm") > 0  # adding's tanh RNN: every norm above 1, clipped


def test_the_summary_shows_each_validation_metrics_best_value_in_its_direction(sweep):
    """Every val/ metric logged (the task's metrics, its loss under its own name and as `loss`)."""
    out, _ = sweep
    seen = set()
    for run in offline_runs(out):
        for name in {k[len("val/"):] for h in run.history for k in h if k.startswith("val/")}:
            values = [h[f"val/{name}"] for h in run.rows(f"val/{name}")]
            higher = name == "accuracy"
            assert run.summary[f"val/{name}"] == {"max" if higher else "min": pytest.approx(
                max(values) if higher else min(values))}
            seen.add((name, higher))
    assert {("accuracy", True), ("recall_ce", False), ("ce", False), ("mse", False), ("loss", False)} <= seen


def test_a_logged_best_is_kept_over_a_later_worse_value(tmp_path, monkeypatch):
    """define_summaries on a W&B run of its own: a metric to minimise logged 3, 1, 2 and one to maximise 0.2, 0.9,
    0.5 keep 1 and 0.9 (W&B's default summary would keep 2 and 0.5)."""
    import wandb

    from rnnbench.bench.tracking import define_summaries, quiet_settings

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="p", dir=str(tmp_path), settings=quiet_settings(), reinit="finish_previous")
    define_summaries(run, {"primary_metric": "accuracy", "higher_is_better": True})
    for step, (ce, acc) in enumerate([(3.0, 0.2), (1.0, 0.9), (2.0, 0.5)]):
        run.log({"val/ce": ce, "val/accuracy": acc, "val/loss": ce, "trainer/global_step": step})
    run.finish()
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    summary = OfflineRun(folder).summary
    assert summary["val/ce"] == {"min": 1.0} and summary["val/loss"] == {"min": 1.0}
    assert summary["val/accuracy"] == {"max": 0.9}


def test_the_gradient_flow_probe_is_a_wandb_table_of_start_and_end(sweep):
    out, _ = sweep
    recs = records(out)
    for run in offline_runs(out):
        probe = recs[run.config["run_id"]]["grad"]["probe"]
        table = run.table("gradient_flow/table")
        assert table["columns"] == ["t", "norm_start", "norm_end", "log10_norm_start", "log10_norm_end"]
        t, start, end = ([row[i] for row in table["data"]] for i in range(3))
        assert t == list(range(1, len(probe["start"]["norms"]) + 1)) and len(t) > 1
        assert start == pytest.approx(probe["start"]["norms"]) and end == pytest.approx(probe["end"]["norms"])
        assert run.summary["gradient_flow/log10_ratio_end"] == pytest.approx(probe["end"]["log10_ratio"])
        plot = run.table("gradient_flow/plot_table")  # the line plot's data: (step, line, log10 norm) rows
        assert sorted(plot["columns"]) == ["lineKey", "lineVal", "step"] and len(plot["data"]) == 2 * len(t)


def test_train_rows_are_the_same_when_the_monitor_reads_its_numbers_late(tmp_path, monkeypatch):
    """On a GPU the guard reads its numbers every 25 steps, not every step: the train/ rows it logs (every 4
    steps here: eval_every 12) are those of a read every step, whatever the delay (7 does not divide 4 or 12)."""
    import lightning as L
    import torch
    from lightning.pytorch.loggers import WandbLogger

    from rnnbench.bench.guard import Guard
    from rnnbench.bench.config import Budget
    from rnnbench.bench.module import BenchModule
    from rnnbench.bench.tracking import quiet_settings
    from rnnbench.models import ModelConfig, SequenceModel
    from rnnbench.tasks import TASKS

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setattr(Guard, "LOG_EVERY", 4)
    rows = {}
    for every in (1, 7):
        torch.manual_seed(0)
        task = TASKS.get("adding")(seq_len=10, train_size=64, val_size=32, test_size=32)
        spec = task.spec()
        budget = Budget(max_steps=24, batch_size=16, eval_every=12, learning_rate=0.05, optimizer="sgd", clip_value=0.5)
        module = BenchModule(SequenceModel(spec, ModelConfig(cell="rnn", hidden_size=8)), spec, "constant", budget,
                             "norm", check_every=every)
        logger = WandbLogger(project="p", save_dir=str(tmp_path / str(every)), settings=quiet_settings())
        trainer = L.Trainer(max_steps=24, logger=logger, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, val_check_interval=12,
                            check_val_every_n_epoch=None, num_sanity_val_steps=0)
        trainer.fit(module, datamodule=TaskDataModule(task, 16, 0))
        logger.experiment.finish()
        (run,) = offline_runs(tmp_path / str(every), job_type="")
        rows[every] = [{k: v for k, v in h.items() if k.startswith("train/") and k != "train/lr"}
                       | {"step": int(h["trainer/global_step"])} for h in run.rows("train/grad_norm")]
    assert [r["step"] for r in rows[1]] == [4, 8, 12, 16, 20, 24]
    assert 0 < sum(r["train/clipped_fraction"] for r in rows[1]) < 6  # some windows partly clipped: fractions
    assert rows[7] == rows[1]  # the same training (seeded), the same numbers read later


def test_a_retried_run_is_a_new_wandb_run_beside_the_earlier_attempt(tiny_suite, tmp_path, monkeypatch):
    from rnnbench.bench import tracking

    monkeypatch.setattr(tracking, "_DOWN", {})
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = expand(load_suite(str(tiny_suite)), tasks=["adding"])[0]
    first = execute(cfg, tmp_path, "tiny", wandb_project="p")
    second = execute(cfg, tmp_path, "tiny", wandb_project="p")
    assert first["wandb_error"] is None and second["wandb_error"] is None
    runs = offline_runs(tmp_path)
    assert len(runs) == 2 and len({r.run.run_id for r in runs}) == 2
    assert {r.config["run_id"] for r in runs} == {cfg.run_id}
    assert all(r.summary["status"] == "ok" for r in runs)


def test_a_diverged_run_is_mirrored_with_its_status_and_its_start_probe_alone(tmp_path, monkeypatch):
    """An IRNN under SGD at rate 10 diverges before its first validation: no best checkpoint, so no end probe; its
    W&B run still closes, with the status, the step and the start of the gradient flow."""
    from rnnbench.bench import tracking
    from rnnbench.bench.config import Budget, RunConfig
    from rnnbench.models import ModelConfig

    monkeypatch.setattr(tracking, "_DOWN", {})
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = RunConfig("adding", {"seq_len": 30, "train_size": 64, "val_size": 32, "test_size": 32},
                    ModelConfig(cell="rnn", activation="relu", init="identity", hidden_size=16), "none", "constant", 0,
                    Budget(max_steps=20, batch_size=32, eval_every=10, optimizer="sgd", learning_rate=10.0,
                           probe_batch=4))
    record = execute(cfg, tmp_path, "tiny", wandb_project="p")
    assert record["status"] == "diverged" and record["wandb_error"] is None and record["diverged_at_step"] < 10
    (run,) = offline_runs(tmp_path)
    assert run.summary["status"] == "diverged" and run.summary["diverged_at_step"] == record["diverged_at_step"]
    assert "test/normalized_score" not in run.summary or run.summary["test/normalized_score"] is None
    table = run.table("gradient_flow/table")
    assert [row[1] for row in table["data"]] == pytest.approx(record["grad"]["probe"]["start"]["norms"])
    assert {row[2] for row in table["data"]} == {None} and "end" not in record["grad"]["probe"]
    plot = run.table("gradient_flow/plot_table")
    assert {row[plot["columns"].index("lineKey")] for row in plot["data"]} == {"start"}  # a line for the start alone


def test_the_leaderboard_goes_to_wandb_as_tables_and_an_artifact(sweep, tmp_path, monkeypatch):
    out, _ = sweep
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    site = tmp_path / "site"
    assert main(["leaderboard", "--results", str(out), "--out", str(site), "--wandb", "--wandb-project", "lb"]) == 0
    (run,) = offline_runs(out, job_type="leaderboard")
    assert run.run.project == "lb"
    tables = sorted(site.glob("tables/*.csv"))
    assert len(tables) >= 4
    for path in tables:
        with path.open(newline="") as f:
            header, *rows = list(csv.reader(f))
        logged = run.table(f"leaderboard/{path.stem}")
        assert logged["columns"] == header and len(logged["data"]) == len(rows)
    (artifact,) = [a for a in run.artifacts if a.type == "leaderboard"]
    files = {p.relative_to(site).as_posix(): p for p in site.rglob("*") if p.is_file()}
    entries = {e.path: e for e in artifact.manifest.contents}
    assert set(entries) == set(files) and "index.html" in entries
    for rel, entry in entries.items():
        assert entry.digest == base64.b64encode(hashlib.md5(files[rel].read_bytes()).digest()).decode()


def test_rnnbench_run_wandb_logs_its_closing_leaderboard_as_the_leaderboard_command_does(sweep, tiny_suite, tmp_path,
                                                                                       monkeypatch, capsys):
    """`rnnbench run --wandb` (here over the sweep's finished runs: nothing to train) ends with the leaderboard, which
    goes to W&B as `rnnbench leaderboard --wandb` sends it: a job_type leaderboard run with the tables and the page's
    files as the artifact, in OUT/wandb."""
    import shutil

    out = tmp_path / "res"
    shutil.copytree(sweep[0] / "runs", out / "runs")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "0", "--wandb"]) == 0
    printed = capsys.readouterr().out
    assert "6 already finished" in printed and "W&B: " in printed and "leaderboard tables and the page" in printed
    assert offline_runs(out) == []  # no run trained, so no train run
    (run,) = offline_runs(out, job_type="leaderboard")
    site = out / "leaderboard"
    for path in site.glob("tables/*.csv"):
        with path.open(newline="") as f:
            assert run.table(f"leaderboard/{path.stem}")["columns"] == next(csv.reader(f))
    (artifact,) = [a for a in run.artifacts if a.type == "leaderboard"]
    files = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {e.path for e in artifact.manifest.contents} == files and "index.html" in files


def test_a_wandb_failure_costs_no_run(tiny_suite, tmp_path):
    """W&B online with a server that refuses (as with no network or a bad key): every run trains and is recorded
    with the reason its mirror is missing; after the first failure the worker skips W&B (no init wait per run);
    `rnnbench leaderboard --wandb` still writes the page, says in one line that W&B has no copy, and exits 1.
    In processes of their own: wandb keeps its first settings (here another test's) for the process's life."""
    env = clean_env(tmp_path, WANDB_MODE="online", WANDB_API_KEY="a" * 40, WANDB_BASE_URL="http://127.0.0.1:9",
                    WANDB_INIT_TIMEOUT="5")
    out = tmp_path / "res"
    done = subprocess.run(cli("run", "--suite", str(tiny_suite), "--tasks", "adding", "--out", str(out), "--workers",
                              "0", "--wandb", "--quiet", "--no-leaderboard"), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    recs = list(records(out).values())
    assert len(recs) >= 2 and all(r["status"] == "ok" for r in recs)
    skipped = [r for r in recs if r["wandb_error"].startswith("W&B skipped: it failed earlier in this worker")]
    assert len(skipped) == len(recs) - 1  # the first run tried W&B, and its error says why it failed
    site = tmp_path / "site"
    done = subprocess.run(cli("leaderboard", "--results", str(out), "--out", str(site), "--wandb"), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and (site / "index.html").exists()
    assert [line for line in done.stderr.splitlines() if line.startswith("W&B: the leaderboard was not logged (")]


def test_wandb_goes_offline_unless_logged_in(tmp_path, monkeypatch, capsys):
    """The sweep's parent decides (its workers inherit WANDB_MODE), so it can say where the offline runs are."""
    from rnnbench.bench.tracking import choose_mode

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    for var in ("WANDB_MODE", "WANDB_API_KEY"):  # set first, so that teardown restores them as they were
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    assert choose_mode() == "online" and "WANDB_MODE" not in os.environ
    monkeypatch.delenv("WANDB_API_KEY")
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "a" * 40 + "\n")
    assert choose_mode() == "online" and "WANDB_MODE" not in os.environ
    (tmp_path / ".netrc").unlink()
    assert main(["run", "--suite", "quick", "--tasks", "adding", "--wandb", "--dry-run"]) == 0
    assert "WANDB_MODE" not in os.environ, "a dry run starts nothing"
    assert choose_mode() == "offline" and os.environ["WANDB_MODE"] == "offline"


@pytest.mark.parametrize("remedies, name", [
    ({}, "rnn (baseline)"),
    ({"cell": "gru", "init": "chrono"}, "gru + chrono"),
    ({"cell": "lstm"}, "lstm"),
    ({"activation": "relu", "init": "identity", "clip": "norm", "lr": "plateau", "skip": "temporal"},
     "rnn + relu + identity + clip=norm + lr=plateau + skip=temporal"),
])
def test_a_combination_is_named_by_the_levels_that_differ_from_the_baseline(remedies, name):
    from rnnbench.bench.axes import BASELINE_LEVELS
    from rnnbench.bench.axes import remedy_label

    assert remedy_label({**BASELINE_LEVELS, **remedies}) == name
