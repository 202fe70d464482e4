"""A run's result record, typed: RunRecord, its JSON form (to_dict, from_dict) and the checks a record read back from a
file must pass. The training code builds and updates one (bench.recorder), the store writes it (bench.store), the
leaderboard reads it back (leaderboard.collect). Imports nothing of the project: every stage may use it.

Version history lives in RECORD_VERSION's comment; a record written before the field existed has none (version 0)
and reads as it was written: a field it lacks stays absent (ABSENT), never filled in with a guess."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

# 1: the record names its version (record_version) and its task's length parameter (length_param); 0 (no
# record_version): the fields before them
RECORD_VERSION = 1

STATUSES = ("ok", "diverged", "failed")
FINISHED = ("ok", "diverged")  # a run with one of these is never trained again; `failed` is retried

# without these a record cannot be placed in any table: a record lacking one (or holding null) is refused
REQUIRED = ("run_id", "status", "task", "task_label", "combo", "remedies")

# The bounds of a number a record may hold. Every metric is computed in float32 (largest finite value 3.4e38), so a
# finite number beyond NUMBER_MAX cannot come from a run: e.g. 1e308 in a merged or edited file. A normalized score
# is 1 at the task's reference and 0 at the memoryless baseline: no run beats its reference SCORE_MAX-fold, while a
# score far below 0 is a real run's (an exploded Adam run scores about -1.2e7), which the score rule counts as 0.
NUMBER_MAX = 1e40
SCORE_MAX = 1e6


def is_number(value: Any) -> bool:
    """A finite real number within NUMBER_MAX; a bool is not a number (JSON's true would count as 1.0)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= NUMBER_MAX


# what each kind of field must hold, with the words an error names it by; None (null) passes every kind but
# REQUIRED fields
KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str), "a string"),
    "flag": (lambda v: isinstance(v, bool), "true or false"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= NUMBER_MAX,
              "a whole number >= 0"),
    "number": (is_number, f"a finite number within ±{NUMBER_MAX:g}"),
    "score": (lambda v: is_number(v) and v <= SCORE_MAX, f"a finite number <= {SCORE_MAX:g}"),
    "mapping": (lambda v: isinstance(v, dict), "a mapping"),
    "texts": (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
              "a mapping of names to strings"),
    "numbers": (lambda v: isinstance(v, dict) and all(x is None or is_number(x) for x in v.values()),
                f"a mapping of names to finite numbers within ±{NUMBER_MAX:g}"),
    "number list": (lambda v: isinstance(v, list) and all(x is None or is_number(x) for x in v),
                    f"a list of finite numbers within ±{NUMBER_MAX:g}"),
    "mapping list": (lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v), "a list of mappings"),
}

# Every field a table, a plot or leaderboard.known reads, by its dotted path (a parent before its fields), and its
# kind (KINDS). Other fields are carried as they are and read by nothing.
FIELDS: dict[str, str] = {
    **dict.fromkeys(("run_id", "status", "task", "task_label", "combo", "suite", "created", "tuning",
                     "primary_metric", "error", "git_commit", "device", "task_data", "length_param"), "text"),
    "record_version": "count",
    "remedies": "texts",
    "higher_is_better": "flag",
    **dict.fromkeys(("normalized_score", "val_score"), "score"),
    **dict.fromkeys(("metrics", "val_metrics", "baseline", "reference"), "numbers"),
    **dict.fromkeys(("best_step", "steps_trained", "diverged_at_step", "world_size"), "count"),
    "wall_seconds": "number",
    "last": "mapping", "last.step": "count", "last.metrics": "numbers", "last.normalized_score": "score",
    "model_size": "mapping", "model_size.recurrent_params": "count", "model_size.params": "count",
    "config": "mapping", "config.seed": "count", "config.task": "mapping", "config.task.name": "text",
    "config.task.params": "mapping", "config.task.version": "count", "config.model": "mapping",
    "config.budget": "mapping", "config.budget.optimizer": "text", "config.budget.learning_rate": "number",
    "versions": "mapping", "versions.rnnbench": "text", "versions.torch": "text",
    "history": "mapping list", "seeds": "mapping",
    "grad": "mapping", "grad.probe": "mapping",
    **{f"grad.probe.{phase}{field}": kind for phase in ("start", "end")
       for field, kind in (("", "mapping"), (".norms", "number list"), (".log10_ratio", "number"),
                           (".log_slope", "number"))},
}


def bad_field(record: dict[str, Any]) -> str | None:
    """The first field of `record` (FIELDS' order) that does not hold its kind, described in a few words
    ("field 'metrics' must be a mapping of names to finite numbers ..., got a list"), or None for a usable record."""
    for path, kind in FIELDS.items():
        *parents, name = path.split(".")
        holder: Any = record
        for parent in parents:  # a parent absent or null: its fields are absent too
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if not isinstance(holder, dict) or holder.get(name) is None:
            continue
        accepts, words = KINDS[kind]
        if not accepts(value := holder[name]):
            shown = repr(value) if isinstance(value, (bool, int, float, str)) and len(repr(value)) <= 40 \
                else f"a {type(value).__name__}"
            return f"field {path!r} must be {words}, got {shown}"
    return None


class RecordError(ValueError):
    """A record that cannot be used, in a few words naming the field (a reader adds where the record came from)."""


class Absent:
    """The value of a field a record read from a file does not have (a record older than the field, or one that
    failed before the field was filled): to_dict leaves it out, so the record is written back as it was read."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False  # as a missing key's None: `record.created or ""`

    def __reduce__(self) -> str:
        return "ABSENT"  # one object in every process: `is ABSENT` holds for an unpickled record


ABSENT: Any = Absent()


@dataclass(kw_only=True)
class RunRecord:
    """One run's result: what it trained (config, task, remedies), how it went (status, error, steps) and what it
    measured (test and validation metrics, normalized scores, history, gradient statistics), with where and by what
    code it ran. The JSON keys are the field names, written in this order (the order the runner fills them in);
    nested values (config, metrics, grad, ...) stay plain JSON mappings and lists. A field left ABSENT is not
    written; `extra` holds the keys of a record read from a file that no field names, carried as they are."""

    record_version: int = ABSENT  # RECORD_VERSION for a new record; absent in one written before version 1
    run_id: str
    suite: str = ABSENT
    created: str = ABSENT  # ISO 8601, UTC, to the second
    config: dict = ABSENT  # RunConfig.to_dict()
    task: str
    task_label: str
    length_param: str | None = ABSENT  # the task's parameter its length is (Task.length_param); None: it has none
    remedies: dict
    combo: str
    tuning: str | None = ABSENT  # the optimizer setting ("adam lr=0.001")
    status: str  # STATUSES
    error: str | None = ABSENT
    diverged_at_step: int | None = ABSENT
    seeds: dict = ABSENT
    metrics: dict = ABSENT  # the best checkpoint's test metrics
    normalized_score: float | None = ABSENT
    best_step: int | None = ABSENT
    last: dict | None = ABSENT  # the last weights' test metrics, score and step
    model_size: dict | None = ABSENT
    val_metrics: dict = ABSENT  # the best checkpoint's validation metrics, which choose among settings
    val_score: float | None = ABSENT
    steps_trained: int = ABSENT
    wall_seconds: float | None = ABSENT
    history: list = ABSENT  # validation metrics by step
    grad: dict = ABSENT  # gradient statistics and the gradient-flow probe
    versions: dict = ABSENT  # rnnbench, torch, lightning, ... and the task's version
    git_commit: str | None = ABSENT
    device: str | None = ABSENT
    world_size: int = ABSENT
    wandb_error: str | None = ABSENT  # with W&B asked for: why the run has no mirror there (None: it has)
    fused_k: int = ABSENT  # trained as one of a fused group of this many runs
    fused_kernel: str = ABSENT
    wall_seconds_shared: bool = ABSENT  # wall_seconds is the fused group's time / fused_k
    primary_metric: str = ABSENT  # this and the next four: once the task is built
    higher_is_better: bool = ABSENT
    baseline: dict = ABSENT
    reference: dict = ABSENT
    task_data: str | None = ABSENT  # the digest of the files the task's data came from, where it has any
    checkpoint: str = ABSENT  # the best weights' file under runs/<run_id>/, where kept
    extra: dict = field(default_factory=dict)

    @property
    def version(self) -> int:
        """The record's version: RECORD_VERSION's numbering, 0 for a record written before it had one."""
        return 0 if self.record_version is ABSENT else self.record_version

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON object: its fields but the absent ones, in field order, then `extra`'s keys."""
        out = {f.name: value for f in dataclasses.fields(self)
               if f.name != "extra" and (value := getattr(self, f.name)) is not ABSENT}
        return out | self.extra

    @classmethod
    def from_dict(cls, data: Any) -> "RunRecord":
        """The record a JSON object holds, checked: raises RecordError, in a few words naming the field, for one
        that is not an object, lacks a REQUIRED field, holds a field of the wrong kind (FIELDS), has an unknown
        status or a version newer than this code reads. A record without a version (written before it had one)
        reads as written, its missing fields ABSENT."""
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        missing = [k for k in REQUIRED if data.get(k) is None]
        if missing:
            raise RecordError(f"missing {', '.join(missing)}")
        if (bad := bad_field(data)) is not None:
            raise RecordError(bad)
        if data["status"] not in STATUSES:
            raise RecordError(f"unknown status {data['status']!r}; valid choices: {', '.join(STATUSES)}")
        if (data.get("record_version") or 0) > RECORD_VERSION:
            raise RecordError(f"field 'record_version' is {data['record_version']}, newer than this rnnbench reads "
                              f"(up to {RECORD_VERSION}): upgrade rnnbench to read it")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})
