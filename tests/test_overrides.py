"""Suite settings from the command line (KEY=VALUE overrides) and `rnnbench show`, through the real CLI."""

from __future__ import annotations

import pytest
import yaml

from rnnbench.bench.cli import main
from rnnbench.bench.config import RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.suite import load_suite


def test_overrides_reach_every_run_and_its_id(tiny_suite):
    base = expand(load_suite(str(tiny_suite)))
    runs = expand(load_suite(str(tiny_suite), ["model.hidden_size=16", "budget.max_steps=6", "tasks.adding.seq_len=[8, 12]",
                                               "seeds=2", "tune={learning_rate: [0.001, 0.01]}"]))
    assert {r.model.hidden_size for r in runs} == {16} and {r.budget.max_steps for r in runs} == {6}
    assert {r.task_params["seq_len"] for r in runs if r.task == "adding"} == {8, 12}
    assert {r.budget.learning_rate for r in runs} == {0.001, 0.01} and {r.seed for r in runs} == {0, 1}
    assert len(runs) == len(base) // 2 * 3 * 2 * 2  # adding doubled (half the grid), x 2 rates x 2 seeds
    assert not {r.run_id for r in runs} & {r.run_id for r in base}  # an overridden value is part of the run id
    assert all(RunConfig.from_dict(r.to_dict()).run_id == r.run_id for r in runs)


@pytest.mark.parametrize("override, needle", [
    ("model.hiden=3", "unknown model parameter 'hiden'; valid parameters: cell, hidden_size"),
    ("budget.max_steps=many", "budget parameter max_steps must be int, got 'many'"),
    ("tasks.nosuch.delay=3", "'nosuch'; valid choices: adding, copy"),
    ("colour=red", "unknown override key 'colour'"),
    ("hidden_size", "expected KEY=VALUE"),
    ("model=3", "expected model.FIELD=VALUE"),
])
def test_a_bad_override_is_one_line(tiny_suite, override, needle):
    with pytest.raises(ConfigError, match=needle):
        load_suite(str(tiny_suite), [override])


def test_show_prints_the_resolved_suite_and_its_size(tiny_suite, tmp_path, capsys):
    assert main(["show", str(tiny_suite), "model.hidden_size=16", "seeds=2"]) == 0
    text = capsys.readouterr().out
    resolved = yaml.safe_load(text)
    assert resolved["model"]["hidden_size"] == 16 and resolved["model"]["num_layers"] == 1  # a default filled in
    assert resolved["seeds"] == 2 and resolved["tune"] == [{"optimizer": "adam", "learning_rate": 0.001}]
    runs = expand(load_suite(str(tiny_suite), ["model.hidden_size=16", "seeds=2"]))
    assert text.rstrip().endswith(f"# {len(runs)} runs")
    assert main(["run", "--suite", str(tiny_suite), "--dry-run", "--out", str(tmp_path / "res"), "seeds=2"]) == 0
    assert f"suite tiny: {len(runs)} runs" in capsys.readouterr().out


def test_saved_checkpoints_hold_each_runs_best_weights(tiny_suite, tmp_path):
    """--save-checkpoints: each run's best weights load with torch.load(weights_only=True) into a fresh model of its
    config, which reproduces the record's test metric on the test split."""
    import json

    import torch

    from rnnbench.bench.metrics import TaskMetrics
    from rnnbench.models import SequenceModel
    from rnnbench.tasks.base import EVAL_SEED

    out = tmp_path / "res"
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "0", "--quiet", "--no-leaderboard",
                 "--save-checkpoints", "--tasks", "adding"]) == 0
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")]
    assert records and all(r["checkpoint"] == "best.pt" for r in records)
    for record in records:
        cfg = RunConfig.from_dict(record["config"])
        task = cfg.build_task()
        spec = task.spec()
        model = SequenceModel(spec, cfg.model)
        model.load_state_dict(torch.load(out / "runs" / record["run_id"] / "best.pt", weights_only=True))
        x, y = task.make_split("test", EVAL_SEED)
        metrics = TaskMetrics(spec)
        with torch.no_grad():
            metrics.update(model(x), y)
        assert metrics.compute()[spec.primary] == pytest.approx(record["metrics"][spec.primary], rel=1e-4)


def test_a_csv_log_holds_each_runs_training_and_validation_metrics(tiny_suite, tmp_path):
    """--csv-log: Lightning's CSVLogger per run; its train/ and val/ columns agree with the record's history."""
    import json

    import pandas as pd

    out = tmp_path / "res"
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "0", "--quiet", "--no-leaderboard",
                 "--csv-log", "--tasks", "adding"]) == 0
    for path in (out / "runs").glob("*/result.json"):
        record = json.loads(path.read_text())
        log = pd.read_csv(path.parent / "csv" / "metrics.csv")
        assert {"train/loss", "train/grad_norm", "val/mse", "step"} <= set(log.columns)
        val = log.dropna(subset=["val/mse"]).set_index("step")["val/mse"]
        assert val.to_dict() == pytest.approx({h["step"]: h["val_mse"] for h in record["history"]})
        assert log["train/loss"].notna().any()


def test_a_size_sweep_trains_each_value_as_a_setting_of_its_own(tiny_suite, tmp_path, capsys):
    """model.hidden_size=[8, 16] (an override, or a list in the suite file): each value a run of its own with its own
    id; a single value keeps today's run ids; `show`, the dry run and the grid's size count every point; the
    leaderboard shows each size as a task setting of its own, so runs of two sizes are never seeds of one row."""
    import math

    from rnnbench.bench.grid import GRID_LIMIT, grid_size
    from rnnbench.bench.tracking import run_name
    from rnnbench.leaderboard import load_results
    from rnnbench.leaderboard.tables import task_table

    base = expand(load_suite(str(tiny_suite)))
    for same in (["model.hidden_size=[8]"], ["model.hidden_size=8"], ["budget.max_steps=[4, 4]"]):
        assert [r.run_id for r in expand(load_suite(str(tiny_suite), same))] == [r.run_id for r in base]
    sweep = ["seeds=2", "model.hidden_size=[8, 16]"]
    suite = load_suite(str(tiny_suite), sweep)
    runs = expand(suite)
    assert grid_size(suite) == len(runs) == 2 * 2 * len(base) and len({r.run_id for r in runs}) == len(runs)
    assert {r.model.hidden_size for r in runs} == {8, 16}
    assert {r.run_id for r in runs if r.model.hidden_size == 8 and r.seed == 0} == {r.run_id for r in base}
    in_file = tmp_path / "sweep.yaml"
    in_file.write_text(tiny_suite.read_text().replace("model: {hidden_size: 8}", "model: {hidden_size: [8, 16]}"))
    assert [r.run_id for r in expand(load_suite(str(in_file), ["seeds=2"]))] == [r.run_id for r in runs]
    two_points = load_suite(str(tiny_suite), [*sweep, "budget.max_steps=[4, 6]"])  # counted without building
    assert grid_size(two_points) == 2 * len(runs) and GRID_LIMIT > 2 * len(runs)
    with pytest.raises(ConfigError, match=f"the grid holds {2 * len(runs)} runs, more than {2 * len(runs) - 1}"):
        expand(two_points, limit=2 * len(runs) - 1)

    assert main(["show", str(tiny_suite), *sweep]) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["model"]["hidden_size"] == [8, 16] and text.rstrip().endswith(f"# {len(runs)} runs")
    out = tmp_path / "res"
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--dry-run", *sweep]) == 0
    text = capsys.readouterr().out
    assert f"suite tiny: {len(runs)} runs = 4 task settings (hidden_size swept) x 3 remedy combinations x 2 seeds" \
        in text and text.count("adding(seq_len=8) [hidden_size=16]") == len(runs) // 4

    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "0", "--quiet", *sweep,
                 "--tasks", "adding"]) == 0
    df = load_results(out)
    assert set(df["task_label"]) == {"adding(seq_len=8) [hidden_size=8]", "adding(seq_len=8) [hidden_size=16]"}
    for label, size in (("adding(seq_len=8) [hidden_size=8]", 8), ("adding(seq_len=8) [hidden_size=16]", 16)):
        assert set(df.loc[df["task_label"] == label, "config.model.hidden_size"]) == {size}
    table = task_table(df)
    assert len(table) == 2 * 3 and set(table["n_runs"]) == {2}  # per size and combination: its 2 seeds, never 4
    lstm16 = table[(table["task_label"] == "adding(seq_len=8) [hidden_size=16]") & table["combo"].str.startswith("lstm")]
    runs16 = df[(df["task_label"] == "adding(seq_len=8) [hidden_size=16]") & df["combo"].str.startswith("lstm")]
    assert math.isclose(lstm16["score"].iloc[0], runs16["normalized_score"].clip(lower=0).mean())
    assert "### adding(seq_len=8) [hidden_size=16]" in (out / "leaderboard" / "leaderboard.md").read_text()
    cfg = next(r for r in runs if r.model.hidden_size == 16 and r.task == "adding")
    assert run_name(cfg, ("model.hidden_size",)).startswith("adding(seq_len=8) [hidden_size=16] · ")  # W&B's too


@pytest.mark.parametrize("override, needle", [
    ("budget.learning_rate=[0.001, 0.01]", r"budget learning_rate takes one value; several are a tuning grid.*"
                                           r"tune: \{learning_rate: \[0.001, 0.01\]\}"),
    ("budget.optimizer=[adam, sgd]", "budget optimizer takes one value"),
    ("model.hidden_size=[]", "model hidden_size has no values"),
    ("model.hidden_size=[8, big]", "model parameter hidden_size must be int, got 'big'"),
    ("model.cell=[rnn, lstm]", "'cell' is a remedy axis; set it under 'axes'"),
    ("budget.max_steps=[4, 0]", "budget max_steps must be an integer >= 1, got 0"),
])
def test_a_bad_sweep_is_one_line(tiny_suite, override, needle):
    with pytest.raises(ConfigError, match=needle):
        load_suite(str(tiny_suite), [override])


def test_a_tensorboard_log_holds_each_runs_training_and_validation_metrics(tiny_suite, tmp_path):
    """--logger tensorboard (beside csv: repeatable): Lightning's TensorBoardLogger per run; its event file, read back
    with TensorBoard's own reader, holds the train/ scalars and val/ scalars equal to the record's history."""
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "res"
    assert main(["run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "0", "--quiet", "--no-leaderboard",
                 "--logger", "tensorboard", "--logger", "csv", "--tasks", "adding"]) == 0
    paths = list((out / "runs").glob("*/result.json"))
    assert len(paths) == 3
    for path in paths:
        record = json.loads(path.read_text())
        events = EventAccumulator(str(path.parent / "tensorboard"))
        events.Reload()
        assert {"train/loss", "train/grad_norm", "train/clipped_fraction", "val/mse", "val/loss"} <= \
            set(events.Tags()["scalars"])
        val = {e.step: e.value for e in events.Scalars("val/mse")}
        assert val == pytest.approx({h["step"]: h["val_mse"] for h in record["history"]})
        assert [e.step for e in events.Scalars("train/loss")] and (path.parent / "csv" / "metrics.csv").is_file()


def test_loggers_are_named_once_and_the_old_flags_are_their_aliases(tiny_suite, tmp_path, monkeypatch, capsys):
    """--logger takes repeats and comma lists; --csv-log and --wandb name csv and wandb; a misspelt name, a logger
    with --fuse and tensorboard without its package are refused in one line before anything runs."""
    import sys

    from rnnbench.bench.cli import _parser
    from rnnbench.bench.commands.run import LOGGERS, TENSORBOARD_MISSING, chosen_loggers
    from rnnbench.bench.prepare import FILE_LOGGERS

    assert set(LOGGERS) == {*FILE_LOGGERS, "wandb"}
    parse = lambda *a: chosen_loggers(_parser().parse_args(["run", *a]))  # noqa: E731
    assert parse("--logger", "wandb,csv", "--logger", "tensorboard") == ("csv", "tensorboard", "wandb")
    assert parse("--csv-log", "--logger", "csv") == ("csv",) and parse("--wandb") == ("wandb",) and parse() == ()
    dry = ["run", "--suite", str(tiny_suite), "--out", str(tmp_path / "res"), "--dry-run"]
    for flags, needle in ((["--logger", "tensorbord"], "unknown logger (--logger) 'tensorbord' (did you mean "
                                                       "'tensorboard'?)"),
                          (["--fuse", "--csv-log"], "--fuse works with the local launcher, without --strategy ddp or "
                                                    "loggers")):
        assert main([*dry, *flags]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"rnnbench: error: {needle}"), line
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as where neither package is installed
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    assert main([*dry, "--logger", "csv,tensorboard"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"rnnbench: error: {TENSORBOARD_MISSING}"]
