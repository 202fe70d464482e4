"""Gradient-flow probe: how much of the loss gradient reaches each hidden state, back in time."""

from __future__ import annotations

import copy
import math

import torch

LOG10_FLOOR = -300.0  # log10 of a ratio that underflowed to 0 (keeps result.json finite)


def gradient_flow(model, x, y, loss_fn, steps: slice = slice(None), source: int = 0, target: int = -1,
                  dtype: torch.dtype = torch.float64) -> dict:
    """||dl/dh_t|| for the top layer's hidden states h_1 .. h_L on one batch, at `dtype`, where l is `loss_fn` of
    the outputs and targets at `steps` (a slice of the scored steps: the task's dependency steps, TaskSpec.probe_slice).

    Runs a deep copy of `model` (left untouched) through its loop path. Returns
      norms:       [||dl/dh_t|| for t = 1 .. L] (dl/dh_t: the total derivative, through all later steps)
      log10_ratio: log10(||dl/dh_source|| / ||dl/dh_target||) (positions in the sequence: where the information
                   enters and the last step whose loss is taken), clamped to [-300, 300]; -300 where no gradient
                   reaches h_source
      log_slope:   least-squares slope of log10 ||dL/dh_t|| against t over the steps with a nonzero norm
                   (> 0: the gradient shrinks going back in time); 0.0 with fewer than two such steps
    In float32 (with flush-to-zero) the ratio of a tanh RNN at T=100 is exactly 0: keep float64.
    """
    probe = copy.deepcopy(model).to(dtype)
    device = next(probe.parameters()).device
    x = x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype)
    y = y.to(device=device, dtype=dtype if y.is_floating_point() else y.dtype)
    hs, out = probe.hidden_states(x)
    grads = torch.autograd.grad(loss_fn(out[:, steps], y[:, steps]), hs, allow_unused=True)
    norms = [0.0 if g is None else g.norm().item() for g in grads]
    return {"norms": norms, "log10_ratio": log10_ratio(norms[source], norms[target]), "log_slope": log_slope(norms)}


def log10_ratio(first: float, last: float) -> float:
    if first == 0.0:
        return LOG10_FLOOR
    if last == 0.0:
        return -LOG10_FLOOR
    return min(max(math.log10(first) - math.log10(last), LOG10_FLOOR), -LOG10_FLOOR)


def log_slope(norms: list[float]) -> float:
    points = [(t, math.log10(n)) for t, n in enumerate(norms) if n > 0]
    if len(points) < 2:
        return 0.0
    ts, logs = torch.tensor(points, dtype=torch.float64).T
    ts = ts - ts.mean()
    return float((ts * (logs - logs.mean())).sum() / (ts * ts).sum())
