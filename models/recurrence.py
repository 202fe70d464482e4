"""The activations of the vanilla cell and the vanilla RNN's whole-loop recurrence, forward and backward by hand:
the math that the eager recurrence (models.cells.VanillaRecurrence) and its CUDA-graph replay (models.graphed)
share, in a module of its own so that both import it and neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F

from rnnbench.bench.registry import Registry


@dataclass(frozen=True)
class Activation:
    """A level of the activation axis (the vanilla cell's nonlinearity)."""

    fn: Callable
    fn_: Callable  # the same, in place
    fused: str | None  # nn.RNN's name for it, or None where only the loop path computes it
    derivative: Callable  # (h = fn(z), slope) -> dfn/dz at z, from the output alone (PyTorch's convention at 0)
    takes_slope: bool = False

    def function(self, slope: float, inplace: bool = False) -> Callable:
        fn = self.fn_ if inplace else self.fn
        return partial(fn, negative_slope=slope) if self.takes_slope else fn


# The activation axis's levels (a user's file registers one alike: ACTIVATIONS.register(name)(Activation(...)))
ACTIVATIONS: Registry[Activation] = Registry("activation")
ACTIVATIONS.register("tanh")(Activation(torch.tanh, torch.tanh_, fused="tanh",  # also the gated cells' value
                                        derivative=lambda h, slope: 1 - h * h))
ACTIVATIONS.register("relu")(Activation(torch.relu, torch.relu_, fused="relu",
                                        derivative=lambda h, slope: (h > 0).to(h.dtype)))
ACTIVATIONS.register("leaky_relu")(Activation(  # slope > 0: h > 0 exactly where z > 0
    F.leaky_relu, F.leaky_relu_, fused=None, takes_slope=True,
    derivative=lambda h, slope: torch.where(h > 0, h.new_ones(()), h.new_full((), slope))))


def chunks(T: int, k: int):
    """The temporal skip's chunks of the steps k..T-1: (start, length) of [k, 2k), [2k, 3k), ..., the last one
    cut at T. Chunk c's skip inputs h_{t-k} are chunk c-1's states, all known before chunk c starts."""
    return [(t, min(k, T - t)) for t in range(k, T, k)]


def recurrence_forward(xp, h0, w, activation: str, slope: float, s, k: int, hs) -> torch.Tensor:
    """The vanilla RNN's loop, h_t = act(xp_t + h_{t-1} W [+ h_{t-k} S]), written into hs (T, B, H), time-major:
    two kernels a step, both in place on hs[t], which holds xp_t first (an in-place addmm costs half the out=
    form's 6.8 us at B=32, H=32 here). xp: (B, T, H); h0: (B, H); w, s: (H, H) transposed weights. The skip term
    of a whole chunk of k steps is one matmul (their h_{t-k} are the previous chunk's states), added into hs
    before the chunk's steps run."""
    act_ = ACTIVATIONS.get(activation).function(slope, inplace=True)
    T, H = hs.shape[0], hs.shape[-1]
    starts = dict(chunks(T, k)) if s is not None else {}
    hs.copy_(xp.transpose(0, 1))  # every step's input term; the recurrence adds to it
    steps = hs.unbind(0)  # every step's view at once: indexing hs[t] in the loop costs ~2 us a step more
    h = h0
    for t in range(T):
        if t in starts:  # the chunk [t, t + n): hs += h_{t-k} S for all its steps at once
            n = starts[t]
            hs[t : t + n].view(-1, H).addmm_(hs[t - k : t - k + n].view(-1, H), s)
        h = act_(steps[t].addmm_(h, w))
    return hs


def recurrence_backward(dz, hs, h0, w, activation: str, slope: float, s, k: int):
    """Back through recurrence_forward. dz: dL/dh_t (T, B, H), time-major, overwritten with dL/dz_t.
    Returns (dL/dz (T, B, H), dL/dh0, dL/dw, dL/ds or None). The skip's share of dL/dh_{t-k} goes back a
    whole chunk at a time (one matmul), once the chunk's dL/dz_t are complete."""
    T, H = hs.shape[0], hs.shape[-1]
    d_act = ACTIVATIONS.get(activation).derivative(hs, slope)  # dh_t/dz_t, every step at once
    wt = w.t().contiguous()
    st = s.t().contiguous() if s is not None else None
    starts = dict(chunks(T, k)) if s is not None else {}
    dzs, d_acts = dz.unbind(0), d_act.unbind(0)  # the steps' views, made at once (as in recurrence_forward)
    for t in range(T - 1, -1, -1):
        dzs[t].mul_(d_acts[t])  # dL/dh_t complete (later steps have added theirs): now dL/dz_t
        if t in starts:  # through the skip: the chunk [t, t + n) to [t - k, t - k + n)
            n = starts[t]
            dz[t - k : t - k + n].view(-1, H).addmm_(dz[t : t + n].view(-1, H), st)
        if t > 0:
            dzs[t - 1].addmm_(dzs[t], wt)  # through the recurrence
    dh0 = dz[0] @ wt
    dw = torch.addmm(h0.t() @ dz[0], hs[:-1].reshape(-1, H).t(), dz[1:].reshape(-1, H))  # sum_t h_{t-1}^T dz_t
    ds = None
    if s is not None:  # sum_{t >= k} h_{t-k}^T dz_t (no term at all where k >= T)
        ds = hs[: T - k].reshape(-1, H).t() @ dz[k:].reshape(-1, H) if k < T else torch.zeros_like(s)
    return dz, dh0, dw, ds
