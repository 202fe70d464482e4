"""Per-run optimisation of a fused group (models.fused): K runs' parameters stacked along a leading K axis, each
run clipped with its own threshold and kind (`per_run_clip_`) and stepped with its own learning rate
(`StackedAdam`, `StackedSGD`, `stacked_optimizer`), so that run k's update is the one its unfused twin's torch
optimizer makes (Adam is invariant to the scale of the gradient: per-run learning rates cannot come from scaling
losses)."""

from __future__ import annotations

import functools
import math
from typing import Iterable, Sequence

import torch

from rnnbench.bench.registry import check


@functools.lru_cache(maxsize=64)
def _on_device(values: tuple, dtype, device: torch.device) -> torch.Tensor:
    """A constant tensor of `values` on `device`, made once: copying it from the host every step would make the
    host wait for the GPU's queue each time. Callers never write to it."""
    return torch.tensor(values, dtype=dtype, device=device)


def _per_run(values, K: int, like: torch.Tensor) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        t = values.to(dtype=like.dtype, device=like.device)
    else:  # a number, or any sequence of numbers (a list, a numpy array): hashable for the cache
        t = _on_device(float(values) if isinstance(values, (int, float)) else tuple(float(v) for v in values),
                       like.dtype, like.device)
    return t.expand(K) if t.dim() == 0 else t


@torch.no_grad()
def per_run_clip_(params: Iterable[torch.Tensor], max_norms, kind: str | Sequence[str] = "norm") -> torch.Tensor:
    """Clip the gradients of stacked parameters (leading K axis) run by run, in place.

    kind: 'norm' | 'value' | 'none', or one such per run. 'norm': run k's gradient (its slices of all
    the parameters together) is scaled as torch.nn.utils.clip_grad_norm_(run k's params, max_norms[k])
    would; 'value': clamped to [-max_norms[k], max_norms[k]] as clip_grad_value_. Returns each run's
    gradient norm before clipping, [K] (what clip_grad_norm_ returns, for every kind)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        raise ValueError("per_run_clip_: no gradients")
    K = grads[0].shape[0]
    kinds = [kind] * K if isinstance(kind, str) else list(kind)
    check(len(kinds) == K and all(k in ("none", "norm", "value") for k in kinds),
          f"clip kind must be 'none', 'norm' or 'value', or one of them per run (K={K}), got {kind!r}")
    max_norms = _per_run(max_norms, K, grads[0])
    norms = torch.stack([g.reshape(K, -1).norm(2, dim=1) for g in grads]).norm(2, dim=0)  # (K,)
    if "norm" in kinds:  # decided on the host: a tensor's .any() would wait for the GPU every step
        by_norm = _on_device(tuple(k == "norm" for k in kinds), None, norms.device)
        coef = (max_norms / (norms + 1e-6)).clamp(max=1.0)  # clip_grad_norm_'s arithmetic
        coef = torch.where(by_norm, coef, torch.ones_like(coef))
        for g in grads:
            g.mul_(coef.view(K, *[1] * (g.dim() - 1)).to(g.dtype))
    if "value" in kinds:
        by_value = _on_device(tuple(k == "value" for k in kinds), None, norms.device)
        limit = torch.where(by_value, max_norms, torch.full_like(max_norms, math.inf))
        for g in grads:
            lim = limit.view(K, *[1] * (g.dim() - 1)).to(g.dtype)
            torch.clamp(g, -lim, lim, out=g)
    return norms


class _Stacked(torch.optim.Optimizer):
    """Per-run learning rates for stacked parameters: each group holds `run_lr` ([K]) and `lr`, a
    shared factor (1.0 unless a scheduler sets it), so torch's LR schedulers (LambdaLR: constant,
    warmup_cosine) scale every run's rate as they would scale an unfused run's. Run k's effective
    learning rate is lr * run_lr[k]. Pass the K learning rates as Python floats (or float64): a float32
    tensor would round them (3e-2 -> 0.0299999993), a visible difference from torch.optim in float64."""

    def __init__(self, params, lr, defaults: dict):
        lr = torch.as_tensor(lr, dtype=torch.float64).detach().clone()
        check(lr.dim() == 1 and bool((lr >= 0).all()), f"run learning rates must be a 1-d tensor of values >= 0, got {lr}")
        super().__init__(params, {"lr": 1.0, "run_lr": lr, **defaults})
        self._run_lr_on: dict = {}  # (id(group), device) -> (run_lr as copied, its copy on that device): _lr
        for group in self.param_groups:
            for p in group["params"]:
                check(p.shape[0] == len(lr), f"stacked parameter of shape {tuple(p.shape)} does not have K={len(lr)} runs")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(group, p, self.state[p])
        return loss

    def _update(self, group: dict, p: torch.Tensor, state: dict) -> None:
        raise NotImplementedError

    def _lr(self, group, p: torch.Tensor, divisor: float = 1.0) -> torch.Tensor:
        """Each run's learning rate for p's update, in float64 where p is (as the host computed it before), on p's
        device: run_lr is copied there when it changes (a run frozen), not for every parameter every step."""
        cache = self._run_lr_on
        key = (id(group), p.device)
        run_lr = group["run_lr"]
        if key not in cache or not torch.equal(cache[key][0], run_lr):
            cache[key] = (run_lr.clone(), run_lr.to(p.device))
        lr = (cache[key][1] * group["lr"] / divisor).to(dtype=p.dtype)
        return lr.view(-1, *[1] * (p.dim() - 1))  # broadcast over run k's slice


class StackedAdam(_Stacked):
    """torch.optim.Adam's arithmetic (no weight decay, no amsgrad) with a learning rate per run."""

    def __init__(self, params, lr, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr, {"betas": betas, "eps": eps})

    def _update(self, group: dict, p: torch.Tensor, state: dict) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        step, m, v, g = state["step"], state["exp_avg"], state["exp_avg_sq"], p.grad
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        denom = (v.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        p.sub_(m / denom * self._lr(group, p, bias_correction1))


class StackedSGD(_Stacked):
    """torch.optim.SGD with momentum (no dampening, no nesterov; the bench's SGD) with a learning rate per run."""

    def __init__(self, params, lr, momentum: float = 0.9):
        super().__init__(params, lr, {"momentum": momentum})

    def _update(self, group: dict, p: torch.Tensor, state: dict) -> None:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = p.grad.detach().clone()
        else:
            state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad)
        p.sub_(state["momentum_buffer"] * self._lr(group, p))


def stacked_optimizer(name: str, params, lrs) -> _Stacked:
    """The stacked twin of BenchModule.configure_optimizers' optimizer: 'adam' or 'sgd' (momentum 0.9)."""
    check(name in ("adam", "sgd"), f"unknown optimizer {name!r}; valid choices: adam, sgd")
    return StackedAdam(params, lrs) if name == "adam" else StackedSGD(params, lrs, momentum=0.9)
