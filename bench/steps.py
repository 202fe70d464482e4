"""Several optimizer steps per Lightning batch.

Lightning costs about 1 ms of Python per training batch here (its loops, hooks, fetcher, result
collection: `rnnbench perf`'s "Lightning's floor" row), which is 15-25% of a small run's 5 ms step.
So a run's training batches reach Lightning `n` at a time (up to 50): `StepGroups` serves the data module's own
batches, in the same order, as groups of n, and the module's `training_step` takes one optimizer step per
batch of the group (manual optimization: global_step, the callbacks' on_before_optimizer_step and the
clip remedy act per step, through Lightning's own LightningOptimizer.step; see step_path). The
training is the same step for step: the same batches in the same order, validation every eval_every
steps (Lightning validates every eval_every / n batches; n divides eval_every and max_steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden

STEPS_PER_BATCH = 50  # the most optimizer steps one Lightning batch carries (see steps_for; 10 measured 1.09x a hand
# loop at `rnnbench perf`'s small step where 50 measured 1.035-1.05x, in the same blocks of 50 steps)


def steps_for(budget, limit: int = STEPS_PER_BATCH) -> int:
    """The largest n <= limit that divides both eval_every and max_steps: every validation falls between two
    groups, and the last group ends at max_steps (Lightning would validate after a group cut short there)."""
    both = math.gcd(budget.eval_every, budget.max_steps)
    return max(n for n in range(1, max(1, limit) + 1) if both % n == 0)


def step_batches(batch) -> list:
    """The batches of one Lightning batch: a group from StepGroups (a list of (x, y) batches), or one plain
    (x, y) batch (which the DataLoader may also hand over as a list)."""
    return [batch] if isinstance(batch[0], torch.Tensor) else batch


def train_steps(module: L.LightningModule, batch, step: Callable) -> None:
    """A manual-optimization training_step's body: step(optimizer, x, y, path) takes one optimizer step on each
    batch of a Lightning batch (path.backward(loss), path.step(optimizer): see step_path), the step-interval
    learning-rate schedule follows each; ends early where the Trainer would have stopped between batches (the module
    set trainer.should_stop: every run of a fused group diverged)."""
    optimizer, scheduler = module.optimizers(), module.lr_schedulers()
    path = step_path(module, optimizer)
    for x, y in step_batches(batch):
        if module.trainer.should_stop:
            return
        step(optimizer, x, y, path)
        if scheduler is not None:
            scheduler.step()


BACKWARD_HOOKS = ("on_before_backward", "on_after_backward")


@dataclass(frozen=True)
class StepPath:
    """How a manual-optimization step back-propagates (backward(loss)) and updates (step(lightning_optimizer))."""

    backward: Callable[[torch.Tensor], None]  # torch.Tensor.backward or the module's manual_backward
    step: Callable[[LightningOptimizer], None]  # LightningOptimizer.step


def step_path(module: L.LightningModule, optimizer: LightningOptimizer) -> StepPath:
    """Lightning's manual_backward, or loss.backward() where it would do nothing more: on one device, in Lightning's
    plain 32-bit precision, with no profiler and neither the module nor a callback overriding `backward` or a backward
    hook, manual_backward only dispatches empty hooks (0.1-0.25 ms a step on this project's CPU). The update is always
    Lightning's own LightningOptimizer.step: it counts the step (global_step) and calls every on_before_optimizer_step
    (the callbacks', then the module's) through Lightning's dispatch, so a hook may log. A DDP strategy, a
    mixed-precision plugin, a profiler or a backward hook keeps manual_backward, so each still acts every step."""
    trainer = module.trainer
    plain = (type(trainer.strategy) is SingleDeviceStrategy and type(trainer.precision_plugin) is Precision
             and type(trainer.profiler) is PassThroughProfiler)
    quiet_backward = not (any(is_overridden(hook, module, L.LightningModule) for hook in ("backward", *BACKWARD_HOOKS))
                          or any(is_overridden(hook, cb, L.Callback) for cb in trainer.callbacks for hook in BACKWARD_HOOKS))
    return StepPath(backward=torch.Tensor.backward if plain and quiet_backward else module.manual_backward,
                    step=LightningOptimizer.step)


class StepGroups:
    """A training data loader's batches as lists of n consecutive ones, across epochs, without end (the
    Trainer stops at max_steps). Each pass over `loader` is one epoch: its sampler reshuffles per pass,
    exactly as when Lightning iterates it once per epoch."""

    def __init__(self, loader: Iterable, n: int):
        self.loader, self.n = loader, n

    def __iter__(self):
        group: list = []
        while True:
            empty = True
            for batch in self.loader:
                empty = False
                group.append(batch)
                if len(group) == self.n:
                    yield group
                    group = []
            if empty:
                raise ValueError("StepGroups: the training data loader yields no batches")


class GroupedSteps(L.LightningDataModule):
    """`data` (a data module) with its training batches served as StepGroups of n; validation and test
    batches unchanged."""

    def __init__(self, data: L.LightningDataModule, n: int):
        super().__init__()
        self.data, self.n = data, n

    def setup(self, stage: str | None = None) -> None:
        self.data.trainer = self.trainer  # batches are served on this trainer's device
        self.data.setup(stage)

    def train_dataloader(self):
        return StepGroups(self.data.train_dataloader(), self.n)

    def val_dataloader(self):
        return self.data.val_dataloader()

    def test_dataloader(self):
        return self.data.test_dataloader()


def with_steps(data: L.LightningDataModule, n: int) -> L.LightningDataModule:
    """`data` as the Trainer should see it for n steps per batch (itself for n = 1)."""
    return data if n == 1 else GroupedSteps(data, n)

