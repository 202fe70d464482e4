"""The model side of a training group: what bench.module's one training path asks of the K runs it trains.

A single run is a group of one (`OneRun`: its SequenceModel, torch's optimizer, Lightning's gradient clipping); K runs
that share a cell and shape train as one stacked model (`StackedRuns`: models.fused.FusedSequenceModel, per-run
clipping and learning rates, the K runs' batches stacked in lockstep by StackedDataModule). Each kind gives the
training path the same things: the runs' losses and gradient rows for the guard, the clip, each run's outputs, its
learning rate, a frozen run (StackedRuns only: a group of one ends instead), a copy of a run's weights and the runs as
ordinary SequenceModels to test. Its arithmetic is its own (torch's fused recurrent kernels and Lightning's clipping
for one run; batched matmuls and per_run_clip_ for K), so each kind trains exactly as it did on its own.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import lightning as L
import torch
from torch import nn

from rnnbench.bench.guard import norms
from rnnbench.bench.metrics import task_loss
from rnnbench.bench.optim import CLIPS, make_optimizer
from rnnbench.bench.registry import check
from rnnbench.models.fused import FusedSequenceModel, fused_loss
from rnnbench.models.fusion import fusable
from rnnbench.models.stacked import per_run_clip_, stacked_optimizer
from rnnbench.tasks import TaskSpec


class RunGroup:
    """K runs trained as one model (see the module's docstring). A run's weights (snapshot) are keyed as its
    SequenceModel's state_dict: load them with `model.load_state_dict({**model.state_dict(), **weights})`."""

    K: int
    model: nn.Module
    clips: list[tuple[str, float]]  # each run's clip kind and threshold
    mixes_runs = False  # whether one run's overflow may reach the others' outputs and gradients

    def per_run(self, t):
        """A batch tensor (or the model's output) as K-indexable per-run slices."""
        return t

    def freeze(self, k: int, optimizer: torch.optim.Optimizer) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot freeze a run")


class OneRun(RunGroup):
    """A single run: its model, its task's loss, torch's optimizer and Lightning's gradient clipping."""

    K = 1

    def __init__(self, model: nn.Module, spec: TaskSpec, clip: str = "none", clip_value: float = 1.0):
        self.model, self.loss_fn, self.clips = model, task_loss(spec), [(clip, clip_value)]
        self.clip = CLIPS.get(clip)

    def losses(self, x, y, kernel: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(the loss to back-propagate, the same detached)."""
        loss = self.loss_fn(self.model(x), y)
        return loss, loss.detach()

    def grad_values(self, params: list[nn.Parameter], losses: torch.Tensor) -> torch.Tensor:
        """The run's row, [2 | 3] (bench.guard takes a 1-d row as a single run's): the loss, the total gradient norm
        and, where the clip level compares it with clip_value (bench.optim.Clip.statistic "max_abs"), the largest
        |gradient| entry."""
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(norms(grads)))
        values = [losses.to(norm.dtype), norm]
        if self.clip.statistic == "max_abs":
            values.append(torch.stack(norms(grads, math.inf)).amax())
        return torch.stack(values)

    def clip_(self, module: L.LightningModule, optimizer, params, runs) -> None:
        """The clip remedy, Lightning's own (module.clip_gradients: torch's clip_grad_norm_ or clip_grad_value_)."""
        (_, value), algorithm = self.clips[0], self.clip.algorithm
        if algorithm is not None:
            module.clip_gradients(optimizer, gradient_clip_val=value, gradient_clip_algorithm=algorithm)

    def evaluate(self, x) -> tuple[torch.Tensor]:
        return (self.model(x),)

    def per_run(self, t):
        return (t,)

    def optimizer(self, params, budget) -> torch.optim.Optimizer:
        return make_optimizer(params, budget)

    def lr(self, param_group: dict, k: int) -> float:
        return param_group["lr"]

    def snapshot(self, k: int) -> dict:
        return copy.deepcopy(self.model.state_dict())

    def run_models(self) -> list[nn.Module]:
        """The run's model itself, holding its current weights."""
        return [self.model]

    def data(self, datas: Sequence[L.LightningDataModule]) -> L.LightningDataModule:
        return datas[0]


class StackedRuns(RunGroup):
    """K runs of one fusable group (models.fusion.fusable) as one FusedSequenceModel: the sum of the runs' losses
    (each run's gradient is its own), per-run gradient rows and clipping (per_run_clip_: each run's own kind and
    threshold) and per-run learning rates (StackedAdam / StackedSGD). A run that diverged is frozen: learning rate 0,
    weights zeroed (its best are kept apart), gradients zeroed every later step, so that under a kernel that mixes
    runs (FusedSequenceModel.mixes_runs) its overflow cannot reach the others."""

    def __init__(self, fused: FusedSequenceModel, configs: Sequence):
        check(fusable(configs) and len(configs) == fused.K, "StackedRuns: the configs must be one fusable group of K runs")
        self.model, self.K, self.loss_fn = fused, fused.K, fused_loss(fused.spec)
        self.clips = [(c.clip, c.budget.clip_value) for c in configs]
        self.clip_kinds = [CLIPS.get(c.clip).algorithm or "none" for c in configs]  # per_run_clip_'s kinds
        self.clip_values = [float(c.budget.clip_value) for c in configs]
        self.lrs = [float(c.budget.learning_rate) for c in configs]

    @property
    def mixes_runs(self) -> bool:
        return self.model.mixes_runs

    def losses(self, x, y, kernel: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(the sum of the K runs' losses, each run's loss [K], detached), by `kernel` (None: the model's own)."""
        return self.loss_fn(self.model(x, kernel), y)

    def grad_values(self, params: list[nn.Parameter], losses: torch.Tensor) -> torch.Tensor:
        """[K, 3]: each run's loss, gradient norm and largest |gradient| entry."""
        K = self.K
        grads = [p.grad for p in params if p.grad is not None]
        with torch.no_grad():
            grad_norms = torch.stack([g.reshape(K, -1).norm(2, dim=1) for g in grads]).norm(2, dim=0)
            max_abs = torch.stack([g.reshape(K, -1).abs().amax(1) for g in grads]).amax(0)
        return torch.stack([losses, grad_norms, max_abs], 1)

    @torch.no_grad()
    def clip_(self, module: L.LightningModule, optimizer, params, runs) -> None:
        """The frozen runs' gradients zeroed (`runs`: bench.guard.RunState, each run's), then each run's clip remedy."""
        params = [p for p in params if p.grad is not None]
        frozen = [k for k, run in enumerate(runs) if run.diverged is not None]
        if frozen:
            for p in params:
                p.grad[frozen] = 0.0
        per_run_clip_(params, self.clip_values, self.clip_kinds)

    def evaluate(self, x) -> torch.Tensor:
        """The K runs' outputs [K, ...]; where one run's overflow may have reached the others (mixes_runs), taken
        again by the stepped kernel, which keeps the runs apart."""
        out = self.model(x)
        if self.mixes_runs and not bool(torch.isfinite(out).all()):
            out = self.model(x, "stepped")
        return out

    def optimizer(self, params, budget) -> torch.optim.Optimizer:
        return stacked_optimizer(budget.optimizer, params, self.lrs)

    def lr(self, param_group: dict, k: int) -> float:
        return float(param_group["lr"] * float(param_group["run_lr"][k]))

    def freeze(self, k: int, optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:
            group["run_lr"][k] = 0.0
        with torch.no_grad():
            for param, _ in self.model.stacked_pairs():
                param[k] = 0.0

    def snapshot(self, k: int) -> dict:
        return {name: param[k].detach().clone() for param, name in self.model.stacked_pairs()}

    def run_models(self) -> list[nn.Module]:
        """The K runs as ordinary SequenceModels holding their current weights (FusedSequenceModel.unfuse)."""
        return self.model.unfuse()

    def data(self, datas: Sequence[L.LightningDataModule]) -> L.LightningDataModule:
        return StackedDataModule(datas)


class StackedLoader:
    """K data loaders iterated in lockstep: yields (x [K, B, ...], y [K, B, ...]), one batch of each run."""

    def __init__(self, loaders: Sequence):
        self.loaders = list(loaders)

    def __len__(self) -> int:
        return min(len(loader) for loader in self.loaders)

    def __iter__(self):
        for batches in zip(*self.loaders):
            xs, ys = zip(*batches)
            yield torch.stack(xs), torch.stack(ys)


class StackedDataModule(L.LightningDataModule):
    """The K runs' data modules (each with its own seed) served as stacked batches."""

    def __init__(self, datas: Sequence[L.LightningDataModule]):
        super().__init__()
        self.datas = list(datas)

    def setup(self, stage: str | None = None) -> None:
        for d in self.datas:  # each serves its batches on this trainer's device
            d.trainer = self.trainer

    def train_dataloader(self):
        return StackedLoader([d.train_dataloader() for d in self.datas])

    def val_dataloader(self):
        return StackedLoader([d.val_dataloader() for d in self.datas])

    def test_dataloader(self):
        return StackedLoader([d.test_dataloader() for d in self.datas])
