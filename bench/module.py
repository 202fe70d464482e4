"""The one LightningModule: wraps any sequence model for any task.

Loss and metrics come from the task's spec, the optimizer and schedule from the `lr` remedy (bench.optim);
gradient clipping is Lightning's own (after backward and the callbacks' on_before_optimizer_step, before
the optimizer step). A training batch may carry several optimizer steps (bench.steps).
"""

from __future__ import annotations

from typing import Callable

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn

from rnnbench.bench.optim import LR_SCHEDULES, make_optimizer
from rnnbench.bench.steps import train_steps
from rnnbench.tasks import TaskSpec


def task_loss(spec: TaskSpec) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean loss over the scored steps: cross-entropy for classes, MSE for regression."""
    if spec.output_kind == "classes":
        return lambda out, y: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))  # (B*S, C), (B*S,)
    return lambda out, y: F.mse_loss(out, y)


def _metric_slice(spec: TaskSpec, out, y):
    s = spec.metric_slice
    return out[:, s].reshape(-1, out.shape[-1]), y[:, s].reshape(-1)  # (B*M, C), (B*M,)


def _token_ce(spec: TaskSpec, out, y):
    """Every scored step's cross-entropy, (B*S,): classes last, as the loss has them (the (B, C, S) layout
    cross_entropy also takes measured 8x slower: 7.2 ms a text batch, V=1000)."""
    return (F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none"),)


def _recall_ce(spec: TaskSpec, out, y):
    """The metric steps' cross-entropy, (B*M,)."""
    return (F.cross_entropy(*_metric_slice(spec, out, y), reduction="none"),)


class MeanExp(torchmetrics.MeanMetric):
    """exp of the mean: perplexity as exp(mean cross-entropy over every scored token), from log-softmax.
    (torchmetrics' Perplexity takes the softmax, then its log, in float32: one target ~104 nats below its
    step's top logit has probability 0 there, and the whole split's perplexity is inf.)"""

    def compute(self) -> torch.Tensor:
        return super().compute().exp()


# metric name -> (torchmetrics factory, what it is fed from outputs (B, S, C|) and targets (B, S)); a NaN
# output reaches the metric (nan_strategy "disable"; MeanMetric's default drops NaN values), so the divergence
# guard sees it in the validation loss
METRIC_IMPLS: dict[str, tuple[Callable, Callable]] = {
    "ce": (lambda spec: torchmetrics.MeanMetric(nan_strategy="disable"), _token_ce),
    "recall_ce": (lambda spec: torchmetrics.MeanMetric(nan_strategy="disable"), _recall_ce),
    "perplexity": (lambda spec: MeanExp(nan_strategy="disable"), _token_ce),
    "accuracy": (lambda spec: torchmetrics.classification.MulticlassAccuracy(spec.num_classes, average="micro",
                                                                            ignore_index=spec.ignore_class),
                 _metric_slice),
    "mse": (lambda spec: torchmetrics.MeanSquaredError(), lambda spec, out, y: (out, y)),
}


class TaskMetrics(nn.Module):
    """The task's metrics (and its loss) as torchmetrics objects, fed from outputs at the scored steps."""

    def __init__(self, spec: TaskSpec):
        super().__init__()
        self.spec = spec
        names = dict.fromkeys([*spec.metrics, spec.loss])
        self.metrics = nn.ModuleDict({name: METRIC_IMPLS[name][0](spec) for name in names})

    def update(self, out: torch.Tensor, y: torch.Tensor) -> None:
        fed: dict[Callable, tuple] = {}  # each feed computed once a batch (ce and perplexity share one)
        for name, metric in self.metrics.items():
            feed = METRIC_IMPLS[name][1]
            if feed not in fed:
                fed[feed] = feed(self.spec, out, y)
            metric.update(*fed[feed])

    def compute(self) -> dict[str, float]:
        """Every metric plus `loss` (the task loss), then reset for the next evaluation."""
        values = {name: float(metric.compute()) for name, metric in self.metrics.items()}
        for metric in self.metrics.values():
            metric.reset()
        return {**values, "loss": values[self.spec.loss]}


class BenchModule(L.LightningModule):
    """Trains `model` on a task: the model is an argument, so architecture and training logic stay apart."""

    def __init__(self, model: nn.Module, spec: TaskSpec, lr: str, budget, clip: str = "none"):
        super().__init__()
        self.model, self.spec, self.lr_schedule, self.budget, self.clip = model, spec, lr, budget, clip
        self.automatic_optimization = False  # one optimizer step per batch of a group (bench.steps)
        self.loss_fn = task_loss(spec)
        self.val_metrics = TaskMetrics(spec)
        self.test_metrics = TaskMetrics(spec)
        self.history: list[dict[str, float]] = []
        self.plateau = None
        self.test_results: dict[str, float] = {}

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        train_steps(self, batch, self.train_step)

    def train_step(self, optimizer, x, y, path) -> None:
        """One optimizer step on one batch (path: bench.steps.step_path)."""
        optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        self.last_train_loss = loss.detach()
        path.backward(loss)
        path.step(optimizer)  # -> on_before_optimizer_step (callbacks', then ours: the clip), then the update

    def on_before_optimizer_step(self, optimizer):
        if self.clip != "none":
            self.clip_gradients(optimizer, gradient_clip_val=self.budget.clip_value, gradient_clip_algorithm=self.clip)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.val_metrics.update(self.model(x), y)

    def on_validation_epoch_end(self):
        values = self.val_metrics.compute()
        if self.plateau is not None and not self.trainer.sanity_checking:
            self.plateau.step(values["loss"])
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else None
        row = {f"val_{k}": v for k, v in values.items()}
        for name, value in row.items():
            self.log(name, value, logger=False)  # for callbacks (trainer.callback_metrics)
        if self.loggers and not self.trainer.sanity_checking:  # at the optimizer step: a Lightning batch is several
            logged = {f"val/{k}": v for k, v in values.items()}  # a section per split in a logger's workspace
            if lr is not None:
                logged["train/lr"] = lr
            for logger in self.loggers:  # W&B, CSV (bench.runner.execute)
                logger.log_metrics(logged, step=int(self.global_step))
        self.history.append({"step": int(self.global_step), "lr": lr, **row})

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.test_metrics.update(self.model(x), y)

    def on_test_epoch_end(self):
        self.test_results = self.test_metrics.compute()

    def configure_optimizers(self):
        optimizer = make_optimizer(self.parameters(), self.budget)
        config = LR_SCHEDULES.get(self.lr_schedule)(optimizer, self.budget)
        # a plateau schedule is stepped here after each validation (Lightning's step-interval
        # frequency counts batches within an epoch, which need not line up with eval_every)
        self.plateau = config.pop("plateau", None) if isinstance(config, dict) else None
        return config
