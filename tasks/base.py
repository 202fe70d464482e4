"""What every task promises the model and the runner: a spec, seeded splits and a data module.

A task is a frozen dataclass config (the only place its defaults live) registered in `TASKS`.
It knows how to make its train/val/test tensors for a seed; everything else (model input and
readout, loss, metrics, baseline, normalized score) is read from its `TaskSpec`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from rnnbench.bench.registry import Registry, check, typed_params

TASKS: Registry[type["Task"]] = Registry("task")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class MetricInfo:
    """How to read a metric: its direction, its perfect value, and whether it is compared in log space."""

    higher_is_better: bool
    perfect: float
    log_scale: bool = False
    description: str = ""  # what the leaderboard says the metric is


METRICS: dict[str, MetricInfo] = {
    "ce": MetricInfo(higher_is_better=False, perfect=0.0,
                     description="mean cross-entropy over the scored steps, in nats"),
    "recall_ce": MetricInfo(higher_is_better=False, perfect=0.0,
                            description="mean cross-entropy over the metric steps (copy: the recall steps), in nats"),
    "mse": MetricInfo(higher_is_better=False, perfect=0.0, description="mean squared error over the scored steps"),
    "accuracy": MetricInfo(higher_is_better=True, perfect=1.0,
                           description="fraction of the metric steps whose most likely class is the target"),
    "perplexity": MetricInfo(higher_is_better=False, perfect=1.0, log_scale=True,
                             description="exp of the mean cross-entropy per word"),
}


def normalized_score(metric: str, value: float, baseline: float, reference: float | None = None) -> float:
    """1 at the reference (default: the metric's perfect value), 0 at the memoryless baseline (log space for
    perplexity); < 0 below the baseline, > 1 beyond a reference that is not the perfect value."""
    info = METRICS[metric]
    f = math.log if info.log_scale else (lambda v: v)
    if value is None or not math.isfinite(value):
        return float("nan")
    top = info.perfect if reference is None else reference
    return (f(value) - f(baseline)) / (f(top) - f(baseline))


@dataclass(frozen=True)
class TaskSpec:
    """What the model and the training loop read from a task.

    Inputs are batch-first: tokens `x` long [B, L] when `vocab_size` is set, otherwise real values
    float [B, L, input_dim]. Targets `y` hold only the scored steps: long [B, S] class indices when
    `num_classes` is set, otherwise float [B, S] (regression). `scored_steps` are the S positions of
    the sequence whose outputs enter the loss; `metric_steps` (a sub-range) are the ones accuracy is
    measured on.
    """

    seq_len: int
    scored_steps: range
    metric_steps: range
    metrics: tuple[str, ...]
    primary: str
    baselines: dict[str, float]
    version: int
    vocab_size: int | None = None
    input_dim: int | None = None
    num_classes: int | None = None
    data_digest: str | None = None  # the data's identity where it comes from files (a text corpus); None where
    # the task's parameters and the seed define it
    ignore_class: int | None = None
    references: dict[str, float] | None = None  # a metric's value that scores 1 where it is not the perfect value
    # (text: a Kneser-Ney trigram's perplexity: perplexity 1 is out of any model's reach)
    dependency_steps: range | None = None  # None: the metric steps
    source_step: int = 0

    def __post_init__(self):
        assert (self.vocab_size is None) != (self.input_dim is None), "tokens or real channels, not both"
        s, m = self.scored_steps, self.metric_steps
        assert s.step == 1 and m.step == 1 and 0 <= s.start < s.stop <= self.seq_len
        assert s.start <= m.start < m.stop <= s.stop, "metric steps must lie within the scored steps"
        assert self.primary in self.metrics and all(k in METRICS for k in self.metrics)
        assert set(self.baselines) == set(self.metrics)
        d = self.probe_steps
        assert s.start <= d.start < d.stop <= s.stop and d.step == 1, "dependency steps must lie within the scored steps"
        assert 0 <= self.source_step < d.stop, "the source step must come before the last dependency step"

    @property
    def probe_steps(self) -> range:
        """The steps whose loss the gradient-flow probe differentiates (dependency_steps, default the metric steps)."""
        return self.metric_steps if self.dependency_steps is None else self.dependency_steps

    @property
    def probe_slice(self) -> slice:
        """The probe's steps as a slice into the scored steps."""
        off = self.scored_steps.start
        return slice(self.probe_steps.start - off, self.probe_steps.stop - off)

    def reference(self, metric: str) -> float:
        """The value of `metric` that scores 1: the task's stated reference, else the metric's perfect value."""
        return (self.references or {}).get(metric, METRICS[metric].perfect)

    def score(self, value: float) -> float:
        """The normalized score of a value of the primary metric: 0 at the memoryless baseline, 1 at the reference."""
        return normalized_score(self.primary, value, self.baselines[self.primary], self.reference(self.primary))

    def checkpoint_key(self, values: dict[str, float]) -> tuple[float, float]:
        """How validations rank (lower is better): by the primary metric in its direction, ties by the task loss.
        The best checkpoint is chosen on what the task is scored on (an accuracy task's answer step may be a small
        part of its loss)."""
        primary = values[self.primary]
        return (-primary if METRICS[self.primary].higher_is_better else primary, values["loss"])

    @property
    def input_kind(self) -> str:
        return "tokens" if self.vocab_size is not None else "real"

    @property
    def output_kind(self) -> str:
        return "classes" if self.num_classes is not None else "regression"

    @property
    def loss(self) -> str:
        return "ce" if self.output_kind == "classes" else "mse"

    @property
    def output_dim(self) -> int:
        return self.num_classes if self.num_classes is not None else 1

    @property
    def metric_slice(self) -> slice:
        """The metric steps as a slice into the scored steps (the S axis of y and of the outputs)."""
        off = self.scored_steps.start
        return slice(self.metric_steps.start - off, self.metric_steps.stop - off)


EVAL_SEED = 0  # the data seed of every validation and test split: the same samples for every run seed, so the
# spread over seeds is the training's, not the test sample's


def split_seed(seed: int, split: str) -> int:
    """Independent, stable generator seeds for the three splits of one data seed (7919 and 104729 are primes: no
    seed's train split shares a generator seed with EVAL_SEED's validation or test split)."""
    return seed * 7919 + 104729 * (SPLITS.index(split) + 1)


class Task:
    """Base of every task config. Subclasses are frozen dataclasses registered in TASKS."""

    name: ClassVar[str]
    version: ClassVar[int]
    # the parameter (a field) that is the task's length, the one a suite sweeps for the leaderboard's length frontier
    # and the known results' lengths: every record names it (RunRecord.length_param); None: the task has none
    length_param: ClassVar[str | None] = None

    def spec(self) -> TaskSpec:
        raise NotImplementedError

    def make_split(self, split: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (x, y) tensors of one split, the same for the same seed on any machine."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def data_identity(self) -> str | None:
        """Where the task's data comes from files that may change under one config (a corpus given as a path):
        their digest now (a finished run's `task_data` is compared with it before the run is skipped); else None."""
        return None

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None) -> "Task":
        """Build from user parameters, refusing unknown names and values of the wrong type."""
        return cls(**typed_params(cls, params, f"task {cls.name!r}"))


def positive_int(task: str, name: str, value, minimum: int = 1) -> None:
    check(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        f"task {task!r}: {name} must be an integer >= {minimum}, got {value!r}",
    )


@dataclass(frozen=True)
class SyntheticSizes:
    """Split sizes shared by the generated tasks (samples per split)."""

    train_size: int = 10_000
    val_size: int = 1_000
    test_size: int = 1_000

    def check_sizes(self) -> None:
        for split in SPLITS:
            positive_int(self.name, f"{split}_size", getattr(self, f"{split}_size"))

    def make_split(self, split: str, seed: int):
        check(split in SPLITS, f"unknown split {split!r}; valid choices: {', '.join(SPLITS)}")
        gen = torch.Generator().manual_seed(split_seed(seed, split))
        return self.generate(getattr(self, f"{split}_size"), gen)

    def generate(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples, generated in bulk with tensor ops (never per sample in Python)."""
        raise NotImplementedError
