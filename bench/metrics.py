"""A task's loss and metrics as training and evaluation compute them, from its spec (tasks.TaskSpec): the loss over
the scored steps (task_loss) and the metrics as torchmetrics objects fed at the scored steps (TaskMetrics)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn

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
