"""The run's optimizer, its learning-rate schedule and the clip levels: the `lr` and `clip` remedies' own facts.

Apart from bench.module (the LightningModule) so that reading configs and suites (bench.config, bench.suite, the
sweep's parent process) checks the levels by name without importing Lightning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from rnnbench.bench.registry import Registry

LR_SCHEDULES: Registry[Callable] = Registry("lr schedule")


@dataclass(frozen=True)
class Clip:
    """A level of the clip axis: how each step's gradient is clipped at budget.clip_value after backward, and which
    of its statistics before clipping (bench.guard) tells whether the step was clipped (above clip_value)."""

    algorithm: str | None  # Lightning's gradient_clip_algorithm ("norm", "value"; models.stacked.per_run_clip_'s kind)
    statistic: str | None  # "norm" (the total gradient norm) or "max_abs" (the largest |entry|); None: never clipped


# The clip axis's levels
CLIPS: Registry[Clip] = Registry("clip")
CLIPS.register("none")(Clip(algorithm=None, statistic=None))
CLIPS.register("norm")(Clip(algorithm="norm", statistic="norm"))
CLIPS.register("value")(Clip(algorithm="value", statistic="max_abs"))

OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {  # budget.optimizer -> class, its settings
    "adam": (torch.optim.Adam, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
}


def make_optimizer(params, budget) -> torch.optim.Optimizer:
    """The run's optimizer (budget.optimizer at budget.learning_rate), in torch's fused form where this torch has
    one for the parameters' device: one kernel for all parameters per step instead of a Python loop over them
    (CPU, Adam, the quick suite's model: 226 vs 499 us a step; same update up to float rounding)."""
    cls, settings = OPTIMIZERS[budget.optimizer]
    params = list(params)
    try:
        return cls(params, lr=budget.learning_rate, fused=True, **settings)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel here (device, dtype or an older torch)
        return cls(params, lr=budget.learning_rate, **settings)


@LR_SCHEDULES.register("constant")
def _constant(optimizer, budget):
    return optimizer


@LR_SCHEDULES.register("warmup_cosine")
def _warmup_cosine(optimizer, budget):
    warm, total = budget.warmup_steps, budget.max_steps

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


PLATEAU_PATIENCE = 2  # validations without improvement lr=plateau tolerates; it halves the learning rate at the next


@LR_SCHEDULES.register("plateau")
def _plateau(optimizer, budget):
    # halve the learning rate after 3 validations without improvement of the validation loss
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=PLATEAU_PATIENCE)
    return {"optimizer": optimizer, "plateau": scheduler}


def plateau_first_step(budget) -> int:
    """The earliest step after which lr=plateau can lower the learning rate: the first validation sets the best
    loss, PLATEAU_PATIENCE + 1 more without improvement halve it. At or past max_steps it trains as lr=constant."""
    return (PLATEAU_PATIENCE + 2) * budget.eval_every


def plateau_idle(budget) -> str | None:
    """Why lr=plateau would train exactly as lr=constant under `budget` (see plateau_first_step), with the fix;
    None where it can act."""
    first = plateau_first_step(budget)
    if first < budget.max_steps:
        return None
    validations = first // budget.eval_every
    return (f"lr level 'plateau' would train exactly as 'constant': it halves the learning rate after "
            f"{PLATEAU_PATIENCE + 1} validations without improvement, at step {first} at the earliest (eval_every "
            f"{budget.eval_every}), not before max_steps {budget.max_steps}; lower eval_every to below "
            f"{-(-budget.max_steps // validations)} or raise max_steps")
