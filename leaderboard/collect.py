"""Read the result store into one pandas DataFrame: one row per run, nested fields flattened.

The store is `<results_dir>/runs/<run_id>/result.json`, one file per run (bench/store.py). Nested
dicts become dotted columns (`config.task.params.seq_len`, `remedies.cell`, `metrics.mse`,
`versions.torch`); lists (`history`, `grad.probe.start.norms`) stay as Python lists in their cell.
Derived columns: `seed` (from the config), `value` (the primary metric's test value), `tuning` (the run's
optimizer setting, "adam lr=0.001": what the tuning protocol chooses among, tables.select_tuned) and
`length_param` (the task parameter that is its length, which the frontier sweeps: the record's own, or for a record
older than the field, what its registered task declares: declared_length).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from rnnbench.bench.axes import AXIS_NAMES, TUNABLE, setting_tag, tuning_label
from rnnbench.bench.record import ABSENT, FINISHED, RecordError, RunRecord
from rnnbench.bench.store import PUBLISHED, provenance, read_published, write_published


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        elif not isinstance(value, dict):  # an empty dict ({} metrics of a failed run) adds no column
            flat[name] = value
    return flat


def declared_length(task: str) -> str | None:
    """The length parameter the registered task `task` declares (Task.length_param), for a record older than its own
    `length_param`; None for a task not registered here (a plugin's not loaded). Imports the tasks (and torch) only
    when such a record asks."""
    from rnnbench.tasks import TASKS

    return TASKS.get(task).length_param if task in TASKS else None


def _read(path: Path) -> RunRecord | None:
    """The record in `path`, or None (with a warning naming the file) when it cannot be used."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        warnings.warn(f"skipping unreadable result file {path}: {err}", stacklevel=3)
        return None
    return _checked(record, path)


def _checked(record: Any, path: Path | str) -> RunRecord | None:
    """`record` as a RunRecord where it is a usable one (RunRecord.from_dict), else None with a warning naming where
    it came from and why."""
    try:
        return RunRecord.from_dict(record)
    except RecordError as err:
        warnings.warn(f"skipping result file {path}: {err}", stacklevel=3)
        return None


def read_records(dirs: Iterable[str | Path]) -> list[tuple[str, RunRecord]]:
    """(source, record) for every usable record under the folders: each `runs/<run_id>/result.json` (the store's)
    and each line of a `records.jsonl.gz` (a published copy: write_published), in a stable order. A records file
    given itself instead of a folder is read alone, whatever else its folder holds."""
    found = []
    for d in map(Path, dirs):
        for path in [] if d.is_file() else sorted(d.glob("runs/*/result.json")):
            if (record := _read(path)) is not None:
                found.append((str(path), record))
        published = d if d.is_file() else d / PUBLISHED
        if published.is_file():
            try:
                lines = read_published(published)
            except (OSError, EOFError, UnicodeDecodeError) as err:
                warnings.warn(f"skipping unreadable records file {published}: {err}", stacklevel=3)
                continue
            for i, record in lines:
                if isinstance(record, ValueError):
                    warnings.warn(f"skipping {published} line {i}: {record}", stacklevel=3)
                elif (record := _checked(record, f"{published} line {i}")) is not None:
                    found.append((f"{published}:{i}", record))
    return found


def newest_records(found: list[tuple[str, RunRecord]]) -> list[tuple[str, RunRecord]]:
    """One record per run_id: its newest finished (ok or diverged) record, else its newest failed one (a failed
    retry elsewhere does not hide a result)."""
    best: dict[str, tuple[tuple, str, RunRecord]] = {}
    for source, record in found:
        key = (record.status in FINISHED, str(record.created or ""))
        if record.run_id not in best or key >= best[record.run_id][0]:
            best[record.run_id] = (key, source, record)
    return [(source, record) for _, source, record in best.values()]


def publish(dirs: Iterable[str | Path], out: str | Path) -> tuple[Path, int]:
    """Every run's record under `dirs` (newest_records: diverged and failed ones included) into `out/records.jsonl.gz`
    (bench.store.write_published), sorted by run_id: the same records give the same bytes, so a published folder's
    diff shows what changed. Returns the file and the number of records."""
    records = sorted((r for _, r in newest_records(read_records(dirs))), key=lambda r: r.run_id)
    return write_published(Path(out) / PUBLISHED, [r.to_dict() for r in records]), len(records)


def load_results(dirs: Iterable[str | Path] | str | Path) -> pd.DataFrame:
    """One row per run_id over every `<dir>/runs/*/result.json` and `<dir>/records.jsonl.gz` (read_records).

    A run found in several dirs (or twice) keeps its newest finished (ok or diverged) record, else its newest
    failed one: a failed retry elsewhere does not hide a result. Records of several rnnbench or torch versions, or
    of a dirty checkout, are named in a warning with their counts (provenance). Of a task measured under several
    task versions (a changed definition, baseline or metric), only the newest version's runs are kept, with a
    warning: scores of two definitions are not comparable. A malformed or truncated file, or a record with a field
    of the wrong kind (bench.record.FIELDS), is skipped with a warning that names it. Columns: see the module
    docstring.
    """
    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    rows, records = [], [(source, record.to_dict(), record) for source, record in newest_records(read_records(dirs))]
    for line in provenance([data for _, data, _ in records]):
        warnings.warn(line, stacklevel=2)
    for source, data, record in records:
        row = _flatten(data)
        row["source"] = source
        row["seed"] = (data.get("config") or {}).get("seed")
        metrics = data.get("metrics") or {}
        value = metrics.get(data.get("primary_metric"))
        row["value"] = float(value) if value is not None else float("nan")
        row["length_param"] = declared_length(record.task) if record.length_param is ABSENT else record.length_param
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for col in ("primary_metric", "higher_is_better"):  # absent when every run failed before its task was built
        if col not in df:
            df[col] = None
    for col in ("normalized_score", "val_score", "best_step", "steps_trained", "wall_seconds", "value"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df else float("nan")
    df["tuning"] = [tuning_label(o, float(r)) if isinstance(o, str) and pd.notna(r) else "" for o, r in
                    zip(df.get("config.budget.optimizer", [None] * len(df)),
                        pd.to_numeric(df.get("config.budget.learning_rate", pd.Series(np.nan, index=df.index)),
                                      errors="coerce"))]
    df["created"] = pd.to_datetime(df.get("created"), utc=True, errors="coerce", format="ISO8601")
    df = separate_settings(newest_task_versions(df))
    return df.sort_values(["task_label", "combo", "seed", "run_id"], kind="stable").reset_index(drop=True)


def newest_task_versions(df: pd.DataFrame) -> pd.DataFrame:
    """The runs of each task's newest version (`config.task.version`; a record without one counts as older than
    any), warning about the runs left out."""
    version = pd.to_numeric(df.get("config.task.version"), errors="coerce").fillna(-1) if "config.task.version" in df \
        else pd.Series(-1.0, index=df.index)
    newest = version.groupby(df["task"]).transform("max")
    old = version < newest
    for task, count in df[old].groupby("task").size().items():
        versions = sorted({int(v) for v in version[old & (df["task"] == task)] if v >= 0})
        warnings.warn(f"leaving out {count} {task} run(s) of task version {', '.join(map(str, versions)) or '(none)'}"
                      f": task version {int(newest[df['task'] == task].iloc[0])} measures it differently; re-run "
                      "them to include them", stacklevel=3)
    return df[~old]


# the config's fields that vary within one measurement: the seed, every remedy axis (in the record's config the
# optimisation axes, clip and lr, sit at the top, the model's under model) and the tuning grid's budget fields (the
# leaderboard picks each combination's setting on validation: tables.select_tuned)
REMEDY_FIELDS = {"config.seed", *(f"config.{where}{axis}" for axis in AXIS_NAMES for where in ("", "model.")),
                 *(f"config.budget.{name}" for name in TUNABLE)}


NAMED_FIELDS = 3  # the most fields a setting's label names (separate_settings); more differ: a hash of the setting


def separate_settings(df: pd.DataFrame) -> pd.DataFrame:
    """Runs of one task label that differ in their setting (everything in the config but the seed and the remedy
    axes: budget, model size, the task's sizes...; e.g. the standard and the full suite's copy(delay=100), or the
    points of a size sweep) are not seeds of one measurement: each setting gets a label of its own, the task label
    plus its suite's name where that tells them apart (with a warning: the label does not say what differs), else
    plus the fields that differ with their values ("adding(seq_len=100) [hidden_size=32]", as `rnnbench run
    --dry-run` shows a swept setting) where at most NAMED_FIELDS config fields do, else plus a short hash of the
    setting (with a warning). Every table, effect and plot then keeps them apart. Adds the column
    `training_setting` (a hash of the setting less the task's parameters) for the frontier, which compares lengths
    of one task trained alike."""
    fields = sorted(c for c in df.columns if c.startswith("config.") and c not in REMEDY_FIELDS)
    training = [c for c in fields if not c.startswith("config.task.params.")]
    if "task_data" in df:  # the text a corpus held (a record older than the field, or failed early, has none:
        # it joins the label's one corpus where its other runs agree on one)
        known = df.groupby("task_label")["task_data"].transform(lambda s: s.dropna().iloc[0]
                                                                 if s.dropna().nunique() == 1 else None)
        df = df.assign(task_data=df["task_data"].where(df["task_data"].notna(), known))
        fields.append("task_data")

    def digest(columns: list[str]) -> pd.Series:
        return df[columns].apply(lambda row: hashlib.sha256("|".join(map(str, row)).encode()).hexdigest()[:6], axis=1)

    setting, training = digest(fields), digest(training)
    suite = df["suite"].astype(str) if "suite" in df else None  # records without one: no suite tells them apart
    labels = df["task_label"].copy()
    for label, rows in df.groupby("task_label").groups.items():
        if setting[rows].nunique() < 2:
            continue
        by_suite = suite is not None and suite[rows].groupby(setting[rows]).nunique().eq(1).all() and \
            setting[rows].groupby(suite[rows]).nunique().eq(1).all()  # one suite per setting and vice versa
        differ = [c for c in fields if df.loc[rows, c].map(str).nunique() > 1]
        named = not by_suite and "task_data" not in differ and len(differ) <= NAMED_FIELDS
        if named:
            short = {c: c.rsplit(".", 1)[1] for c in differ}
            if len(set(short.values())) < len(short):  # one name in two places: the path below config.
                short = {c: c.removeprefix("config.") for c in differ}
            tags = df.loc[rows, differ].apply(lambda row: setting_tag({short[c]: row[c] for c in differ}), axis=1)
        else:
            tags = suite[rows] if by_suite else setting[rows]
        labels[rows] = label + " [" + tags + "]"
        if not named:
            warnings.warn(f"{label}: runs of {setting[rows].nunique()} settings (budget, model size, task sizes or "
                          f"the corpus's text differ), shown apart as {', '.join(sorted(set(labels[rows])))}",
                          stacklevel=3)
    return df.assign(task_label=labels, training_setting=training)
