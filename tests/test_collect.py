"""Reading the result records into the leaderboard's frame (leaderboard/collect.py), on real files: which record of a
run stands, the columns the tables read and their kinds (scores as floats, dates in UTC, the tuning label, the
fallbacks for fields a record lacks), the task versions kept, and the settings of one task label kept apart (their
labels: named fields, a path below config, a hash) with the warnings that say so. The records are written as the
runner writes them and every expected value is worked out by hand in the test. No training: these tests take about a
second, so mutation testing runs them for every mutant (README: Development)."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.bench.store import PUBLISHED, write_published
from rnnbench.leaderboard import load_results
from tests.test_leaderboard_rules import CHANCE, RECALL, record


def path_of(root: Path, run_id: str) -> Path:
    """Where `record` wrote the run `run_id` (an id without brackets or "=")."""
    return root / "runs" / run_id / "result.json"


def edit(root: Path, run_id: str, **changes) -> None:
    """Rewrite the record of `run_id`: each dotted field ("config.model.hidden_size", as `__`) set to its value, or
    removed where the value is `...`."""
    path = path_of(root, run_id)
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, name = dotted.split("__")
        holder = data
        for parent in parents:
            holder = holder.setdefault(parent, {})
        if value is ...:
            holder.pop(name, None)
        else:
            holder[name] = value
    path.write_text(json.dumps(data))


def loaded(dirs) -> tuple[pd.DataFrame, list[str]]:
    """load_results(dirs) and the text of every warning it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(dirs)
    return df, [str(w.message) for w in caught]


def labels(df: pd.DataFrame) -> dict[str, str]:
    return df.set_index("run_id")["task_label"].to_dict()


# which record stands


def test_of_two_equally_new_records_of_a_run_the_one_read_last_stands(tmp_path):
    """The same run (one run_id, both ok, created the same second) in two folders, scoring 0.2 in the first and 0.6
    in the second: one row, the folder named last's record (accuracy 1/8 + 0.6 * 7/8 = 0.65); named the other way
    round, the other's (1/8 + 0.2 * 7/8 = 0.3)."""
    first, second = tmp_path / "first", tmp_path / "second"
    record(first, "gru", 0, 0.2, run_id="r")
    record(second, "gru", 0, 0.6, run_id="r")
    for dirs, score, accuracy in (([first, second], 0.6, 0.65), ([second, first], 0.2, 0.3)):
        df = load_results(dirs)
        assert len(df) == 1
        assert df["normalized_score"].iloc[0] == pytest.approx(score)
        assert df["value"].iloc[0] == pytest.approx(accuracy)
        assert df["source"].iloc[0] == str(path_of(dirs[-1], "r"))


def test_a_bad_line_of_a_published_file_is_skipped_with_a_warning_naming_its_line(tmp_path):
    """A published file whose second record lacks its combo: the first (r1) is read, the second skipped with a
    warning that names the file and line 2; the row's source is the file and line 1."""
    good = {"run_id": "r1", "status": "ok", "task": "delayed_recall", "task_label": RECALL, "combo": "gru",
            "remedies": {"cell": "gru"}, "primary_metric": "accuracy", "metrics": {"accuracy": 0.5},
            "normalized_score": 3 / 7}
    bad = {k: v for k, v in good.items() if k != "combo"} | {"run_id": "r2"}
    published = write_published(tmp_path / PUBLISHED, [good, bad])
    df, said = loaded(tmp_path)
    assert list(df["run_id"]) == ["r1"] and list(df["source"]) == [f"{published}:1"]
    assert said == [f"skipping result file {published} line 2: missing combo"]


# the columns


def test_a_record_gives_its_fields_flattened_and_the_derived_columns(tmp_path):
    """One ok run as `record` writes it: its fields (nested ones dotted, an empty mapping none, a null one as
    itself), the derived columns (where it came from, its seed, its test value, its task's length parameter, its
    tuning label, its training setting) and the number columns its record lacks (steps_trained, wall_seconds) as
    NaN; nothing else (no index column). Its value is the accuracy of score 0.5: 1/8 + 0.5 * 7/8 = 0.5625."""
    record(tmp_path, "gru", 3, 0.5, run_id="r1", val=0.25)
    df = load_results(tmp_path)
    assert set(df.columns) == {
        "run_id", "suite", "created", "status", "error", "config.task.name", "config.task.params.delay",
        "config.task.version", "config.seed", "config.budget.optimizer", "config.budget.learning_rate",
        "config.budget.max_steps", "task", "task_label", "combo", "remedies.cell", "primary_metric",
        "higher_is_better", "baseline.accuracy", "metrics.accuracy", "normalized_score", "val_score", "best_step",
        "history", "last",
        "source", "seed", "value", "length_param", "tuning", "training_setting", "steps_trained", "wall_seconds",
    }
    row = df.iloc[0]
    assert list(df.index) == [0]
    assert row["source"] == str(path_of(tmp_path, "r1"))
    assert row["seed"] == 3 and row["value"] == 0.5625 and row["length_param"] == "delay"
    assert row["tuning"] == "adam lr=0.001" and row["task_label"] == RECALL
    assert row["normalized_score"] == 0.5 and row["val_score"] == 0.25 and row["best_step"] == 50.0
    assert math.isnan(row["steps_trained"]) and math.isnan(row["wall_seconds"])
    for col in ("normalized_score", "val_score", "best_step", "steps_trained", "wall_seconds", "value"):
        assert df[col].dtype == "float64", col


def test_runs_that_failed_before_their_task_was_built_still_have_the_columns_the_tables_read(tmp_path):
    """Every run failed before its task was built (the runner's new record: no primary_metric, higher_is_better or
    baseline; null scores, 0 steps): the frame still has primary_metric and higher_is_better (null) and its number
    columns as floats (NaN, steps_trained 0.0); a record older than val_score and wall_seconds gets them as NaN."""
    for seed in (0, 1):
        record(tmp_path, "gru", seed, None, status="failed", run_id=f"r{seed}")
        edit(tmp_path, f"r{seed}", primary_metric=..., higher_is_better=..., baseline=..., steps_trained=0,
             wall_seconds=None)
    edit(tmp_path, "r1", val_score=..., wall_seconds=...)
    df = load_results(tmp_path)
    assert list(df["run_id"]) == ["r0", "r1"]
    assert df["primary_metric"].isna().all() and df["higher_is_better"].isna().all()
    assert list(df["primary_metric"]) == [None, None] and list(df["higher_is_better"]) == [None, None]
    for col in ("normalized_score", "val_score", "best_step", "wall_seconds", "value"):
        assert df[col].dtype == "float64" and df[col].isna().all(), col
    assert df["steps_trained"].dtype == "float64" and list(df["steps_trained"]) == [0.0, 0.0]
    assert list(df["tuning"]) == ["adam lr=0.001"] * 2


def test_the_tuning_label_needs_both_the_optimizer_and_its_rate(tmp_path):
    """adam at 0.001: "adam lr=0.001"; sgd at 0.1: "sgd lr=0.1"; a record with the optimizer but a null rate, one
    with the rate but no optimizer and one with neither: "" (no setting to choose among)."""
    record(tmp_path, "gru", 0, 0.5, run_id="a")
    record(tmp_path, "gru", 1, 0.5, run_id="b", tuning=("sgd", 0.1))
    record(tmp_path, "gru", 2, 0.5, run_id="c")
    edit(tmp_path, "c", config__budget__learning_rate=None)
    record(tmp_path, "gru", 3, 0.5, run_id="d")
    edit(tmp_path, "d", config__budget__optimizer=...)
    record(tmp_path, "gru", 4, 0.5, run_id="e")
    edit(tmp_path, "e", config__budget__optimizer=..., config__budget__learning_rate=...)
    df = load_results(tmp_path)
    assert df.set_index("run_id")["tuning"].to_dict() == {"a": "adam lr=0.001", "b": "sgd lr=0.1", "c": "", "d": "",
                                                          "e": ""}


def test_creation_times_are_read_as_utc_and_an_unreadable_one_as_unknown(tmp_path):
    """Created at 02:00 at +02:00, at half a second past midnight UTC (fractional seconds: another ISO 8601 form than
    the first) and at "yesterday": midnight UTC, 00:00:00.5 UTC and NaT (the run still counts), in UTC."""
    for run_id, created in (("a", "2026-12-01T02:00:00+02:00"), ("b", "2026-12-01T00:00:00.5+00:00"),
                            ("c", "yesterday")):
        record(tmp_path, "gru", ord(run_id), 0.5, run_id=run_id, created=created)
    df = load_results(tmp_path).set_index("run_id")
    assert str(df["created"].dt.tz) == "UTC"
    assert df.loc["a", "created"] == pd.Timestamp("2026-12-01T00:00:00", tz="UTC")
    assert df.loc["b", "created"] == pd.Timestamp("2026-12-01T00:00:00.5", tz="UTC")
    assert pd.isna(df.loc["c", "created"])


def test_records_of_two_torch_versions_are_named_in_a_warning(tmp_path):
    """One run recorded under torch 2.13.0, one under 2.14.0 (rnnbench unrecorded in both): one warning, with the
    counts."""
    for seed, torch in enumerate(("2.14.0", "2.13.0")):
        record(tmp_path, "gru", seed, 0.5, run_id=f"r{seed}", versions={"torch": torch})
    _, said = loaded(tmp_path)
    assert said == ["the 2 records were made by 2 torch versions: 2.13.0 (1), 2.14.0 (1)"]


# task versions


def test_records_without_a_task_version_are_all_kept(tmp_path):
    """No record names its task's version (an older config): none is older than another, every run counts, no
    warning."""
    for task in ("delayed_recall", "copy"):
        for seed in (0, 1):
            record(tmp_path, "gru", seed, 0.5, task=task, run_id=f"{task}{seed}")
            edit(tmp_path, f"{task}{seed}", config__task__version=...)
    df, said = loaded(tmp_path)
    assert sorted(df["run_id"]) == ["copy0", "copy1", "delayed_recall0", "delayed_recall1"]
    assert said == []


def test_runs_of_older_task_versions_are_left_out_with_a_warning_naming_the_versions(tmp_path):
    """Recall runs of task versions 0, 1, 2 and none: the version 2 run stays, the other three are left out, the
    warning naming versions 0 and 1 (the unversioned one counts but has no number); copy runs of versions none and 1:
    the version 1 run stays, the warning naming no version."""
    for version in (0, 1, 2, None):
        record(tmp_path, "gru", 0, 0.5, version=version, run_id=f"recall{version}")
    for version in (None, 1):
        record(tmp_path, "gru", 0, 0.5, task="copy", version=version, run_id=f"copy{version}")
    df, said = loaded(tmp_path)
    assert sorted(df["run_id"]) == ["copy1", "recall2"]
    assert said == [
        "leaving out 1 copy run(s) of task version (none): task version 1 measures it differently; re-run them to "
        "include them",
        "leaving out 3 delayed_recall run(s) of task version 0, 1: task version 2 measures it differently; re-run them "
        "to include them",
    ]


# settings of one task label


def test_a_label_after_one_of_a_single_setting_is_still_split(tmp_path):
    """copy has one setting (its label comes first); recall's runs differ in max_steps (100, 200), so they are two
    settings, each labelled by it, not seeds of one row."""
    record(tmp_path, "gru", 0, 0.5, task="copy", run_id="copy")
    record(tmp_path, "gru", 0, 0.5, max_steps=100, run_id="short")
    record(tmp_path, "gru", 1, 0.5, max_steps=200, run_id="long")
    df, said = loaded(tmp_path)
    assert labels(df) == {"copy": "copy(delay=50)", "short": f"{RECALL} [max_steps=100]",
                          "long": f"{RECALL} [max_steps=200]"}
    assert said == []


def test_three_differing_fields_are_named_in_the_label(tmp_path):
    """Two settings differing in max_steps, batch_size and hidden_size (NAMED_FIELDS = 3): each label names the three,
    in the order of their paths (config.budget.batch_size, config.budget.max_steps, config.model.hidden_size)."""
    record(tmp_path, "gru", 0, 0.5, max_steps=100, run_id="small")
    edit(tmp_path, "small", config__budget__batch_size=16, config__model__hidden_size=32)
    record(tmp_path, "gru", 1, 0.5, max_steps=200, run_id="big")
    edit(tmp_path, "big", config__budget__batch_size=32, config__model__hidden_size=64)
    df, said = loaded(tmp_path)
    assert labels(df) == {"small": f"{RECALL} [batch_size=16, max_steps=100, hidden_size=32]",
                          "big": f"{RECALL} [batch_size=32, max_steps=200, hidden_size=64]"}
    assert said == []


def test_two_differing_fields_of_one_name_are_named_by_their_path_below_config(tmp_path):
    """Settings differing in config.budget.size and config.model.size: the label names them budget.size and
    model.size."""
    record(tmp_path, "gru", 0, 0.5, run_id="a")
    edit(tmp_path, "a", config__budget__size=1, config__model__size=2)
    record(tmp_path, "gru", 1, 0.5, run_id="b")
    edit(tmp_path, "b", config__budget__size=3, config__model__size=4)
    df = load_results(tmp_path)
    assert labels(df) == {"a": f"{RECALL} [budget.size=1, model.size=2]", "b": f"{RECALL} [budget.size=3, model.size=4]"}


def test_settings_of_records_without_a_suite_are_named_by_the_field_that_differs(tmp_path):
    """Records without a suite field whose max_steps differ: no suite can tell them apart, so each setting is named
    by the one field that differs, without a warning."""
    for seed, steps in enumerate((100, 200)):
        record(tmp_path, "gru", seed, 0.5, max_steps=steps, run_id=f"r{steps}")
        edit(tmp_path, f"r{steps}", suite=...)
    df, said = loaded(tmp_path)
    assert "suite" not in df
    assert labels(df) == {"r100": f"{RECALL} [max_steps=100]", "r200": f"{RECALL} [max_steps=200]"}
    assert said == []


def test_a_record_without_its_corpus_digest_joins_the_one_its_label_holds(tmp_path):
    """Two seeds of one setting, one recording the text its corpus held ("abc") and one older, without the field: one
    setting, the older run given "abc"; both keep the plain label and one training setting."""
    record(tmp_path, "gru", 0, 0.5, run_id="new", task_data="abc")
    record(tmp_path, "gru", 1, 0.5, run_id="old")
    df, said = loaded(tmp_path)
    assert labels(df) == {"new": RECALL, "old": RECALL}
    assert list(df["task_data"]) == ["abc", "abc"]
    assert df["training_setting"].nunique() == 1
    assert said == []


def test_settings_of_two_corpora_are_labelled_by_a_hash_of_the_setting_with_a_warning(tmp_path):
    """Two runs whose corpora held different texts ("aaa", "bbb"): two settings, each labelled by the first six hex
    digits of the SHA-256 of its setting's fields joined by "|" in path order (max_steps 100, task name, delay 50,
    task version 1, the corpus digest), with a warning listing both labels in order."""
    record(tmp_path, "gru", 0, 0.5, run_id="a", task_data="aaa")
    record(tmp_path, "gru", 1, 0.5, run_id="b", task_data="bbb")
    tag = {data: hashlib.sha256(f"100|delayed_recall|50|1|{data}".encode()).hexdigest()[:6] for data in ("aaa", "bbb")}
    df, said = loaded(tmp_path)
    assert labels(df) == {"a": f"{RECALL} [{tag['aaa']}]", "b": f"{RECALL} [{tag['bbb']}]"}
    shown = ", ".join(sorted((f"{RECALL} [{tag['aaa']}]", f"{RECALL} [{tag['bbb']}]")))
    assert said == [f"{RECALL}: runs of 2 settings (budget, model size, task sizes or the corpus's text differ), shown "
                    f"apart as {shown}"]
