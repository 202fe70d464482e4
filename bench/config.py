"""A run's config: its training budget (Budget) and everything that defines the run (RunConfig, whose hash is the
run id), with the remedy axes and the registries that implement their levels (AXES). A suite and its reading:
bench.suite; the grid a suite expands to: bench.grid."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from rnnbench.bench.axes import AXIS_NAMES, BASELINE_LEVELS, TUNABLE, setting_tag, tuning_label
from rnnbench.bench.optim import CLIPS, LR_SCHEDULES, OPTIMIZERS
from rnnbench.bench.registry import Registry, check, choice
from rnnbench.models import ACTIVATIONS, CELLS, INITS, SKIPS, ModelConfig
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import SyntheticSizes

SEED_STREAMS = ("data", "init", "order")  # RunConfig.seeds
# the remedy axes and the registries of their levels: what implements each level, read live (iterating one yields
# its level names), so a level registered later (a user's file, `rnnbench run --include`) is a level of its axis
AXES: dict[str, Registry] = {
    "cell": CELLS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "clip": CLIPS,
    "lr": LR_SCHEDULES,
    "skip": SKIPS,
}
assert tuple(AXES) == tuple(BASELINE_LEVELS) and all(BASELINE_LEVELS[a] in AXES[a] for a in AXES)


# Upper bounds of the budget's sizes: far beyond any run this benchmark trains (the full suite's longest is 4000
# steps of 64 sequences), low enough that a typo (max_steps: 1000000000000) fails at once instead of training for
# years or asking for terabytes.
BUDGET_BOUNDS = {"max_steps": 10**8, "eval_every": 10**8, "warmup_steps": 10**8, "batch_size": 10**6,
                 "probe_batch": 10**6}


@dataclass(frozen=True)
class Budget:
    """How long and how each run trains (the suite's training budget)."""

    max_steps: int = 500
    batch_size: int = 64
    eval_every: int = 100  # validation interval in training steps
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    clip_value: float = 1.0  # threshold used by clip=norm and clip=value
    warmup_steps: int = 50  # for lr=warmup_cosine
    probe_batch: int = 32  # samples in the fixed gradient-flow probe batch

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "eval_every", "probe_batch"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"budget {name} must be an integer >= 1, got {value!r}")
        check(self.warmup_steps >= 0, f"budget warmup_steps must be >= 0, got {self.warmup_steps!r}")
        for name, bound in BUDGET_BOUNDS.items():
            value = getattr(self, name)
            check(value <= bound, f"budget {name} must be <= {bound:,}, got {value:,}")
        for name in ("learning_rate", "clip_value"):
            value = getattr(self, name)
            check(math.isfinite(value) and value > 0, f"budget {name} must be a finite number > 0, got {value!r}")
        choice("optimizer", self.optimizer, OPTIMIZERS)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run; its hash is the run id."""

    task: str
    task_params: dict
    model: ModelConfig
    clip: str = "none"
    lr: str = "constant"
    seed: int = 0
    budget: Budget = field(default_factory=Budget)

    def build_task(self):
        return TASKS.get(self.task).from_params(self.task_params)

    @property
    def seeds(self) -> dict[str, int]:
        """The run seed's three independent streams (numpy's SeedSequence(seed).spawn): `data` (the training split),
        `init` (the initial weights) and `order` (the order of training batches), so that each can vary alone;
        validation and test data come from tasks.base.EVAL_SEED for every run seed."""
        streams = np.random.SeedSequence(self.seed).spawn(len(SEED_STREAMS))
        return {name: int(s.generate_state(1)[0]) for name, s in zip(SEED_STREAMS, streams)}

    @property
    def remedies(self) -> dict[str, str]:
        m = self.model
        return {"cell": m.cell, "activation": m.activation, "init": m.init, "clip": self.clip, "lr": self.lr, "skip": m.skip}

    @property
    def combo(self) -> str:
        """The grid cell without task and seed: the leaderboard's row label."""
        r = self.remedies
        return f"{r['cell']}·{r['activation']}·{r['init']}·clip={r['clip']}·lr={r['lr']}·skip={r['skip']}"

    @property
    def tuning(self) -> str:
        """The run's optimizer setting (the TUNABLE budget fields), as the leaderboard shows it: "adam lr=0.001"."""
        return tuning_label(self.budget.optimizer, self.budget.learning_rate)

    @property
    def setting(self) -> dict[str, Any]:
        """What a size sweep may vary (Suite.sweep): the model's fields but the remedy axes and the budget's but the
        tuned ones, as "model.FIELD" / "budget.FIELD" -> value."""
        model = {f"model.{k}": v for k, v in dataclasses.asdict(self.model).items() if k not in AXIS_NAMES}
        return {**model, **{f"budget.{k}": v for k, v in dataclasses.asdict(self.budget).items() if k not in TUNABLE}}

    def setting_label(self, fields: Iterable[str] = ()) -> str:
        """The task label with the values of `fields` (keys of `setting`: those a grid sweeps, swept_fields) as the
        leaderboard shows a swept setting: "adding(seq_len=100) [hidden_size=32]"; the task label without fields."""
        setting = self.setting
        shown = {name.split(".", 1)[1]: setting[name] for name in sorted(fields)}
        return f"{self.task_label} [{setting_tag(shown)}]" if shown else self.task_label

    @property
    def task_label(self) -> str:
        task = self.build_task()
        sizes = {f.name for f in dataclasses.fields(SyntheticSizes)}  # how much data, not which task (vocab_size is)
        shown = {k: v for k, v in task.params().items() if k not in sizes}
        return f"{self.task}(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"

    def to_dict(self) -> dict[str, Any]:
        task = self.build_task()
        d = {
            "task": {"name": self.task, "params": task.params(), "version": task.version},
            "model": dataclasses.asdict(self.model),
            "clip": self.clip,
            "lr": self.lr,
            "seed": self.seed,
            "budget": dataclasses.asdict(self.budget),
        }
        if plugins := self.plugins:
            d["plugins"] = plugins
        return d

    @property
    def plugins(self) -> dict[str, str]:
        """The source hash of each user's file (bench.plugins) whose task or level of a remedy axis this run uses,
        by "kind:name": part of the run id, so a run of an edited file never reuses the earlier source's result.
        Empty for rnnbench's own levels (their run ids are unchanged)."""
        used = ((TASKS, self.task), *((AXES[axis], level) for axis, level in self.remedies.items()))
        return {f"{reg.kind}:{name}": origin for reg, name in used if (origin := reg.origin(name))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return cls(
            task=d["task"]["name"],
            task_params=d["task"]["params"],
            model=ModelConfig(**d["model"]),
            clip=d["clip"],
            lr=d["lr"],
            seed=d["seed"],
            budget=Budget(**d["budget"]),
        )

    @property
    def run_id(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
