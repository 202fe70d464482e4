"""Training callbacks: divergence guard, gradient statistics, best-checkpoint keeping."""

from __future__ import annotations

import copy
import math

import lightning as L
import torch


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


class GradStats:
    """Gradient statistics of one run: the norm before clipping (mean, max), the fraction of steps the
    clip remedy changed, and the best validation (TaskSpec.checkpoint_key: the primary metric, ties by the loss)
    with its step and weights."""

    def __init__(self, clip: str, clip_value: float):
        self.clip, self.clip_value = clip, clip_value
        self.steps = self.clipped = 0
        self.norm_sum, self.norm_max = 0.0, 0.0
        self.best_key, self.best_step, self.best_state = (math.inf, math.inf), None, None
        self.best_values: dict[str, float] | None = None  # the best validation's metrics (and loss)

    def record_step(self, norm: float, max_abs: float) -> bool:
        """One optimizer step: the total gradient norm and the largest |gradient| entry, before clipping. Returns
        whether the clip remedy changed the step's gradient."""
        self.steps += 1
        self.norm_sum += norm
        self.norm_max = max(self.norm_max, norm)
        clipped = {"norm": norm, "value": max_abs}.get(self.clip, -math.inf) > self.clip_value
        self.clipped += clipped
        return clipped

    def is_best(self, key: tuple[float, float]) -> bool:
        """Whether a validation ranked `key` (TaskSpec.checkpoint_key) beats the best so far: strictly, so a tie keeps
        the earlier checkpoint."""
        return key < self.best_key

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
    - keeps an in-memory copy of the weights at the best validation (the best checkpoint: by the task's primary
      metric, ties by the validation loss; TaskSpec.checkpoint_key).

    Each step's numbers stay on the device until `check_every` steps have gathered (and always before a
    validation and at the end of training): reading a GPU value makes the CPU wait for the GPU, and one
    wait per step keeps the CPU from queueing the next step while the GPU runs this one. The steps are
    then replayed in order, so the statistics and the step a divergence is recorded at are exactly
    those of a check every step; only the wasted steps after a divergence grow. Default: every step on
    a CPU (where reading a value costs nothing), every 25 steps on a GPU.

    Where the Trainer has a logger, the replayed steps also go to it every `log_every` optimizer steps (LOG_EVERY,
    or its largest divisor that divides eval_every, so a row lands at each validation): `train/loss` and
    `train/grad_norm` (means over those steps; the norm before clipping), `train/grad_norm_max` and
    `train/clipped_fraction` (of those steps).
    """

    LOG_EVERY = 10

    def __init__(self, clip: str, clip_value: float, check_every: int | None = None):
        super().__init__(clip, clip_value)
        self.check_every = check_every
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, [loss, norm(, max |grad|)])
        self.loggers, self.log_every = [], self.LOG_EVERY
        self.window: list[tuple[float, float, bool]] = []  # (loss, norm, clipped) of the steps not yet logged

    def on_fit_start(self, trainer, pl_module):
        if self.check_every is None:
            self.check_every = 1 if pl_module.device.type == "cpu" else 25
        self.params = [p for p in pl_module.parameters() if p.requires_grad]  # once, not per step
        self.loggers = list(trainer.loggers)
        budget = getattr(pl_module, "budget", None)
        self.log_every = math.gcd(self.LOG_EVERY, budget.eval_every) if budget else self.LOG_EVERY

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(norms(grads)))
        loss = getattr(pl_module, "last_train_loss", None)
        values = [norm.new_zeros(()) if loss is None else loss.to(norm.dtype), norm]
        if self.clip == "value":
            values.append(torch.stack(norms(grads, math.inf)).amax())
        self.pending.append((trainer.global_step + 1, torch.stack(values)))  # read on the host at the check
        if len(self.pending) >= (self.check_every or 1):
            self.check()

    def check(self) -> None:
        """Replay the pending steps (one device-to-host copy for all of them); raise Diverged at the first bad one."""
        if not self.pending:
            return
        steps, values = zip(*self.pending)
        self.pending = []
        rows = [values[0].tolist()] if len(values) == 1 else torch.stack(values).tolist()  # 1: a CPU's every step
        for step, (loss, norm, *max_abs) in zip(steps, rows):
            if not math.isfinite(loss):
                raise Diverged(step, "training loss")
            if not math.isfinite(norm):
                raise Diverged(step, "gradient")
            clipped = self.record_step(norm, max_abs[0] if max_abs else 0.0)
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

    def on_validation_start(self, trainer, pl_module):
        self.check()

    def on_train_end(self, trainer, pl_module):
        self.check()

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        values = {name[len("val_"):]: float(v) for name, v in trainer.callback_metrics.items() if name.startswith("val_")}
        if not math.isfinite(values["loss"]):
            raise Diverged(trainer.global_step, "validation loss")
        key = pl_module.spec.checkpoint_key(values)
        if self.is_best(key):
            self.best_key, self.best_step, self.best_values = key, int(trainer.global_step), values
            self.best_state = copy.deepcopy(pl_module.model.state_dict())
