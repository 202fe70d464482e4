"""What watches each run of a training group (bench.module: a single run is a group of one): its gradient statistics,
the divergence guard, its validation history and its best weights.

Each optimizer step hands the guard one row per run: the training loss, the gradient norm before clipping and, where
measured, the largest |gradient| entry. The rows stay on the device until `check_every` steps have gathered (and
always before a validation and at the end of training): reading a GPU value makes the CPU wait for the GPU, and one
wait per step keeps the CPU from queueing the next step while the GPU runs this one. The steps are then replayed in
order, so the statistics and the step a divergence is recorded at are exactly those of a check every step; only the
wasted steps after a divergence grow. A run whose loss or gradient is not finite has diverged: the guard tells the
module (BenchModule.diverge), which freezes it while its group mates train on, or ends training where no run is left.

Where the Trainer has a logger (a single run's), the replayed steps also go to it every `log_every` optimizer steps
(LOG_EVERY, or its largest divisor that divides eval_every, so a row lands at each validation): `train/loss` and
`train/grad_norm` (means over those steps; the norm before clipping), `train/grad_norm_max` and
`train/clipped_fraction` (of those steps).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from rnnbench.bench.optim import CLIPS


def norms(tensors: list[torch.Tensor], order: float = 2.0) -> list[torch.Tensor]:
    """Each tensor's norm (order inf: its largest |entry|), in one fused call where torch has it."""
    if hasattr(torch, "_foreach_norm"):
        return list(torch._foreach_norm(tensors, order))
    return [torch.linalg.vector_norm(t, order) for t in tensors]


class Diverged(RuntimeError):
    """A non-finite loss or gradient: the run stops at once and is recorded `diverged`."""

    def __init__(self, step: int, what: str):
        super().__init__(f"non-finite {what} at step {step}")
        self.step = step


class RunState:
    """One run of a group through training: its gradient statistics (the norm before clipping, mean and max; the
    fraction of steps the clip remedy changed), its validation history, its best validation (TaskSpec.checkpoint_key:
    the primary metric, ties by the loss) with its step, metrics and weights, and its divergence, if any."""

    def __init__(self, clip: str, clip_value: float):
        self.clip, self.clip_value = clip, clip_value
        self.clip_statistic = CLIPS.get(clip).statistic  # the statistic the clip level compares with clip_value
        self.steps = self.clipped = 0
        self.norm_sum, self.norm_max = 0.0, 0.0
        self.best_key, self.best_step, self.best_state = (math.inf, math.inf), None, None
        self.best_values: dict[str, float] | None = None  # the best validation's metrics (and loss)
        self.history: list[dict[str, float]] = []
        self.diverged: Diverged | None = None

    def record_step(self, norm: float, max_abs: float) -> bool:
        """One optimizer step: the total gradient norm and the largest |gradient| entry, before clipping. Returns
        whether the clip remedy changed the step's gradient."""
        self.steps += 1
        self.norm_sum += norm
        self.norm_max = max(self.norm_max, norm)
        clipped = {"norm": norm, "max_abs": max_abs}.get(self.clip_statistic, -math.inf) > self.clip_value
        self.clipped += clipped
        return clipped

    def is_best(self, key: tuple[float, float]) -> bool:
        """Whether a validation ranked `key` (TaskSpec.checkpoint_key) beats the best so far: strictly, so a tie keeps
        the earlier checkpoint."""
        return key < self.best_key

    def keep_best(self, key: tuple[float, float], step: int, values: dict[str, float], state: Any) -> None:
        self.best_key, self.best_step, self.best_values, self.best_state = key, step, values, state

    def stats(self) -> dict:
        return {
            "norm_mean": self.norm_sum / self.steps if self.steps else None,
            "norm_max": self.norm_max if self.steps else None,
            "clipped_fraction": self.clipped / self.steps if self.steps else None,
            "steps": self.steps,
        }


class Guard:
    """The divergence guard and gradient statistics of a group's runs (see the module's docstring). `diverge(k,
    error)` is called for run k's first non-finite step, before any later step of it is recorded."""

    LOG_EVERY = 10

    def __init__(self, runs: list[RunState], check_every: int, diverge: Callable[[int, Diverged], None],
                 loggers: list = (), log_every: int = LOG_EVERY):
        self.runs, self.check_every, self.diverge = runs, max(1, check_every), diverge
        self.loggers, self.log_every = list(loggers), log_every
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, [K, loss | norm (| max |grad|)])
        self.window: list[tuple[float, float, bool]] = []  # (loss, norm, clipped) of the steps not yet logged

    def step(self, step: int, values: torch.Tensor) -> None:
        """Optimizer step `step`'s rows on the device (read on the host at the check): [K, 2 or 3], or for a single
        run its row alone, [2 or 3]."""
        self.pending.append((step, values))
        if len(self.pending) >= self.check_every:
            self.check()

    def check(self) -> None:
        """Replay the pending steps (one device-to-host copy for all of them) in order."""
        if not self.pending:
            return
        steps, values = zip(*self.pending)
        self.pending = []
        rows = [values[0].tolist()] if len(values) == 1 else torch.stack(values).tolist()  # 1: a CPU's every step
        for step, per_run in zip(steps, rows):
            if not isinstance(per_run[0], list):  # a single run's row
                per_run = [per_run]
            for k, (run, (loss, norm, *max_abs)) in enumerate(zip(self.runs, per_run)):
                if run.diverged is not None:
                    continue
                if not (math.isfinite(loss) and math.isfinite(norm)):
                    self.diverge(k, Diverged(step, "training loss" if not math.isfinite(loss) else "gradient"))
                    continue
                clipped = run.record_step(norm, max_abs[0] if max_abs else 0.0)
                if self.loggers:
                    self.log_train(step, loss, norm, clipped)

    def log_train(self, step: int, loss: float, norm: float, clipped: bool) -> None:
        self.window.append((loss, norm, clipped))
        if step % self.log_every == 0:
            losses, grad_norms, clips = zip(*self.window)
            self.window = []
            row = {"train/loss": sum(losses) / len(losses), "train/grad_norm": sum(grad_norms) / len(grad_norms),
                   "train/grad_norm_max": max(grad_norms), "train/clipped_fraction": sum(clips) / len(clips)}
            for logger in self.loggers:
                logger.log_metrics(row, step=step)
