"""Training callbacks: divergence guard, gradient statistics, best-checkpoint keeping."""

from __future__ import annotations

import copy
import math

import lightning as L
import torch


class Diverged(RuntimeError):
    """A non-finite loss or gradient: the run stops at once and is recorded `diverged`."""

    def __init__(self, step: int, what: str):
        super().__init__(f"non-finite {what} at step {step}")
        self.step = step


class GradStats:
    """Gradient statistics of one run: the norm before clipping (mean, max), the fraction of steps the
    clip remedy changed, and the best validation loss with its step and weights."""

    def __init__(self, clip: str, clip_value: float):
        self.clip, self.clip_value = clip, clip_value
        self.steps = self.clipped = 0
        self.norm_sum, self.norm_max = 0.0, 0.0
        self.best_loss, self.best_step, self.best_state = math.inf, None, None

    def record_step(self, norm: float, max_abs: float) -> None:
        """One optimizer step: the total gradient norm and the largest |gradient| entry, before clipping."""
        self.steps += 1
        self.norm_sum += norm
        self.norm_max = max(self.norm_max, norm)
        if self.clip == "norm":
            self.clipped += norm > self.clip_value
        elif self.clip == "value":
            self.clipped += max_abs > self.clip_value

    def stats(self) -> dict:
        return {
            "norm_mean": self.norm_sum / self.steps if self.steps else None,
            "norm_max": self.norm_max if self.steps else None,
            "clipped_fraction": self.clipped / self.steps if self.steps else None,
            "steps": self.steps,
        }


class TrainingMonitor(GradStats, L.Callback):
    """Watches every optimizer step and every validation.

    - gradient norm before clipping (Lightning calls on_before_optimizer_step before it clips), its
      mean and max, and the fraction of steps the clip remedy changed;
    - divergence guard: a non-finite training loss, gradient or validation loss raises Diverged;
    - keeps an in-memory copy of the weights at the best validation loss (the best checkpoint).
    """

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        step = trainer.global_step + 1
        loss = getattr(pl_module, "last_train_loss", None)
        if loss is not None and not torch.isfinite(loss):
            raise Diverged(step, "training loss")
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
        norm = float(torch.linalg.vector_norm(norms))
        if not math.isfinite(norm):
            raise Diverged(step, "gradient")
        max_abs = max(float(g.abs().max()) for g in grads) if self.clip == "value" else 0.0
        self.record_step(norm, max_abs)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        loss = float(trainer.callback_metrics["val_loss"])
        if not math.isfinite(loss):
            raise Diverged(trainer.global_step, "validation loss")
        if loss < self.best_loss:
            self.best_loss, self.best_step = loss, int(trainer.global_step)
            self.best_state = copy.deepcopy(pl_module.model.state_dict())
