"""The one LightningModule: trains a group of K runs (bench.group), a single run being a group of one.

Per optimizer step (several per Lightning batch: bench.steps) it takes the runs' losses, back-propagates, hands each
run's loss and gradient norm to the divergence guard (bench.guard: a run that diverged is frozen while its group mates
go on, or, the last one left, ends training by raising Diverged), then steps through Lightning's optimizer: the
callbacks' on_before_optimizer_step, then this module's, which applies each run's clip remedy, then the update. Per
validation it computes each running run's metrics, appends them to its history, and keeps its best weights (or
freezes it where its validation loss is not finite). Loss and metrics come from the task's spec (bench.metrics), the
optimizer and schedule from the `lr` remedy (bench.optim) in the group's form.
"""

from __future__ import annotations

import math

import lightning as L
from torch import nn

from rnnbench.bench.group import OneRun, RunGroup
from rnnbench.bench.guard import Diverged, Guard, RunState
from rnnbench.bench.metrics import TaskMetrics
from rnnbench.bench.optim import LR_SCHEDULES
from rnnbench.bench.registry import check
from rnnbench.bench.steps import train_steps
from rnnbench.tasks import TaskSpec


class BenchModule(L.LightningModule):
    """Trains the runs of `runs` on a task: a RunGroup, or one run's model (a group of one, clipped by `clip` at
    budget.clip_value). `check_every`: optimizer steps between the guard's reads of the device (bench.guard); by
    default every step on a CPU or for several runs (a diverging run must be frozen before its update), every 25
    for one run on a GPU."""

    def __init__(self, runs: RunGroup | nn.Module, spec: TaskSpec, lr: str, budget, clip: str = "none",
                 check_every: int | None = None):
        super().__init__()
        self.group = runs if isinstance(runs, RunGroup) else OneRun(runs, spec, clip, budget.clip_value)
        self.model, self.loss_fn = self.group.model, self.group.loss_fn
        self.spec, self.lr_schedule, self.budget, self.check_every = spec, lr, budget, check_every
        self.automatic_optimization = False  # one optimizer step per batch of a group (bench.steps)
        self.val_metrics = nn.ModuleList(TaskMetrics(spec) for _ in range(self.group.K))
        self.test_metrics = nn.ModuleList(TaskMetrics(spec) for _ in range(self.group.K))
        self.runs = [RunState(clip, value) for clip, value in self.group.clips]
        self.guard: Guard | None = None
        self.plateau = None
        self.test_results: list[dict[str, float]] = []  # each run's, from the last test

    def forward(self, x):
        return self.model(x)

    def on_fit_start(self):
        self.trained = [p for p in self.parameters() if p.requires_grad]  # once, not per step
        check_every = self.check_every or (1 if self.device.type == "cpu" or self.group.K > 1 else 25)
        self.guard = Guard(self.runs, check_every, self.diverge, loggers=self.loggers if self.group.K == 1 else [],
                           log_every=math.gcd(Guard.LOG_EVERY, self.budget.eval_every))

    def training_step(self, batch, batch_idx):
        train_steps(self, batch, self.train_step)

    def zero_grad_(self) -> None:
        """The gradients set to None, as the optimizer's zero_grad() does, less its profiler record (about 30 us a
        step on this project's CPU, half what Lightning's own optimizer step adds to a step)."""
        for p in self.trained:
            p.grad = None

    def train_step(self, optimizer, x, y, path) -> None:
        """One optimizer step of the runs on their batch x, y (path: bench.steps.step_path)."""
        self.zero_grad_()
        loss, losses = self.group.losses(x, y)
        path.backward(loss)
        values = self.group.grad_values(self.trained, losses)
        if self.group.mixes_runs and not bool(values[:, :2].isfinite().all()):  # which run it was: the step again,
            self.zero_grad_()                                                   # the runs kept apart
            loss, losses = self.group.losses(x, y, "stepped")
            path.backward(loss)
            values = self.group.grad_values(self.trained, losses)
        self.guard.step(self.global_step + 1, values)
        path.step(optimizer)  # -> on_before_optimizer_step (callbacks', then ours: the clip), then the update

    def on_before_optimizer_step(self, optimizer):
        self.group.clip_(self, optimizer, self.trained, self.runs)

    def diverge(self, k: int, err: Diverged) -> None:
        """Run k diverged: recorded, and frozen while a group mate trains on; where none does, training ends here."""
        self.runs[k].diverged = err
        if all(run.diverged is not None for run in self.runs):
            raise err
        self.group.freeze(k, self.trainer.optimizers[0])

    def flush(self) -> None:
        """The guard's pending steps checked now: before a validation, and at the end of training."""
        if self.guard is not None:
            self.guard.check()

    def on_validation_start(self):
        self.flush()

    def on_train_end(self):
        self.flush()

    def update(self, metrics: nn.ModuleList, batch, running: bool) -> None:
        """Each run's metrics fed with its outputs on its batch (`running`: the runs that have not diverged only)."""
        x, y = batch
        outs, ys = self.group.evaluate(x), self.group.per_run(y)
        for k, run in enumerate(self.runs):
            if not running or run.diverged is None:
                metrics[k].update(outs[k], ys[k])

    def validation_step(self, batch, batch_idx):
        self.update(self.val_metrics, batch, running=True)

    def on_validation_epoch_end(self):
        step = int(self.global_step)
        optimizer = self.trainer.optimizers[0] if self.trainer.optimizers else None
        for k, run in enumerate(self.runs):
            if run.diverged is not None:
                continue
            values = self.val_metrics[k].compute()
            if self.trainer.sanity_checking:
                continue
            if self.plateau is not None:  # stepped here after each validation (configure_optimizers)
                self.plateau.step(values["loss"])
            lr = self.group.lr(optimizer.param_groups[0], k) if optimizer is not None else None
            row = {f"val_{name}": value for name, value in values.items()}
            if self.group.K == 1:
                self.report(row, values, lr)
            run.history.append({"step": step, "lr": lr, **row})
            if not math.isfinite(values["loss"]):
                self.diverge(k, Diverged(step, "validation loss"))
            elif run.is_best(key := self.spec.checkpoint_key(values)):
                run.keep_best(key, step, values, self.group.snapshot(k))

    def report(self, row: dict[str, float], values: dict[str, float], lr: float | None) -> None:
        """A single run's validation for callbacks (trainer.callback_metrics) and its loggers (W&B, CSV:
        bench.runner.execute), at the optimizer step: a Lightning batch is several."""
        for name, value in row.items():
            self.log(name, value, logger=False)
        if self.loggers:
            logged = {f"val/{k}": v for k, v in values.items()}  # a section per split in a logger's workspace
            if lr is not None:
                logged["train/lr"] = lr
            for logger in self.loggers:
                logger.log_metrics(logged, step=int(self.global_step))

    def test_step(self, batch, batch_idx):  # the weights as they stand: the last, or a run's best loaded back
        self.update(self.test_metrics, batch, running=False)

    def on_test_epoch_end(self):
        self.test_results = [metrics.compute() for metrics in self.test_metrics]

    def configure_optimizers(self):
        optimizer = self.group.optimizer(self.parameters(), self.budget)
        config = LR_SCHEDULES.get(self.lr_schedule)(optimizer, self.budget)
        # a plateau schedule is stepped here after each validation (Lightning's step-interval
        # frequency counts batches within an epoch, which need not line up with eval_every)
        self.plateau = config.pop("plateau", None) if isinstance(config, dict) else None
        check(self.plateau is None or self.group.K == 1, "horizontal fusion does not support lr=plateau")
        return config
