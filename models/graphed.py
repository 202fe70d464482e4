"""The vanilla RNN's recurrence replayed from CUDA graphs: one launch for a whole loop instead of two or
three kernel launches per time step.

models.cells.VanillaRecurrence runs a fixed sequence of small kernels for a given shape (forward: addmm and
the activation per step; backward: a multiply and an addmm per step, then the weight gradients). On a GPU,
where launching a kernel takes longer than running one of this size, that sequence can be captured once
into a CUDA graph and replayed. `StaticRecurrence` holds, for one key (shapes, dtype, device, activation,
slope, skip), static input buffers and the two captured loops, built from the very functions the eager
recurrence runs (`recurrence_forward`, `recurrence_backward`: one place for the math). `GraphedRecurrence`
(an autograd Function, a drop-in for VanillaRecurrence) copies a call's inputs into the buffers, replays,
and clones the outputs out: the buffers are shared by every layer and call with the same key, so nothing
a caller keeps points into them.

Used on the device types in GRAPH_DEVICES (empty until a GPU measures it faster: rnnbench perf --device cuda,
row "graphed recurrence / eager recurrence"). On a CPU a StaticRecurrence runs its loops directly instead
of replaying a graph, so the buffer handling is tested there against the eager recurrence.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch

from rnnbench.models.recurrence import recurrence_backward, recurrence_forward

GRAPH_DEVICES: set[str] = set()  # device types where the recurrence replays CUDA graphs
CACHE_SIZE = 8  # keys kept per process (a run uses one or two: its training and evaluation batch shapes)


def capture(body: Callable[[], tuple], device: torch.device) -> Callable[[], tuple]:
    """body() -> output tensors, as a function that reruns it: on a GPU by replaying a CUDA graph of it (the
    outputs are then the same tensors every time, overwritten), elsewhere by calling it."""
    if device.type != "cuda":
        return body
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):  # warm-up off the default stream, as CUDA graph capture wants
        for _ in range(2):
            body()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = body()

    def replay() -> tuple:
        graph.replay()
        return outputs

    return replay


class StaticRecurrence:
    """Static buffers and the captured forward and backward loops of one recurrence shape."""

    def __init__(self, xp, h0, w, activation: str, slope: float, s, k: int):
        B, T, H = xp.shape
        self.xp, self.h0, self.w = torch.zeros_like(xp), torch.zeros_like(h0), torch.zeros_like(w)
        self.s = torch.zeros_like(s) if s is not None else None
        self.hs = xp.new_zeros(T, B, H)  # forward's output, backward's input
        self.grad = xp.new_zeros(T, B, H)  # backward's input dL/dh_t, time-major
        self.dz = xp.new_zeros(T, B, H)  # the backward's working copy of it (recurrence_backward overwrites it)
        args = activation, slope

        # Each body must give the same outputs however often it runs: a capture runs it twice to warm up, then
        # records it without running it, and the first replay runs it again on the same buffers.
        def forward():
            with torch.no_grad():
                return (recurrence_forward(self.xp, self.h0, self.w, *args, self.s, k, self.hs),)

        def backward():
            with torch.no_grad():
                self.dz.copy_(self.grad)
                return recurrence_backward(self.dz, self.hs, self.h0, self.w, *args, self.s, k)

        self.bodies = {"forward": forward, "backward": backward}
        self.replays: dict[str, Callable[[], tuple]] = {}  # captured on first use (evaluation needs no backward)

    def run(self, which: str) -> tuple:
        """Run the forward or backward loop on the loaded buffers; its outputs are overwritten by the next run."""
        if which not in self.replays:
            self.replays[which] = capture(self.bodies[which], self.xp.device)
        return self.replays[which]()

    def load(self, **tensors) -> None:
        """Copy tensors into the buffers of the same names (None: the skip's weight of a run without one)."""
        for name, value in tensors.items():
            if value is not None:
                getattr(self, name).copy_(value)


_CACHE: OrderedDict[tuple, StaticRecurrence] = OrderedDict()


def static_for(xp, h0, w, activation: str, slope: float, s, k: int) -> StaticRecurrence:
    """The StaticRecurrence of this call's key, captured on first use; least recently used ones are dropped. The key
    holds whether inference mode is on: buffers made under it (Lightning's validation and test) are inference tensors,
    which a training call of the same shape could not copy into."""
    key = (tuple(xp.shape), xp.dtype, xp.device, activation, slope, s is not None, k, torch.is_inference_mode_enabled())
    if key in _CACHE:
        _CACHE.move_to_end(key)
    else:
        _CACHE[key] = StaticRecurrence(xp, h0, w, activation, slope, s, k)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return _CACHE[key]


class GraphedRecurrence(torch.autograd.Function):
    """VanillaRecurrence (same arguments, same function and gradients) through a StaticRecurrence."""

    @staticmethod
    def forward(ctx, xp, h0, w, activation: str, slope: float, s=None, k: int = 0):
        static = static_for(xp, h0, w, activation, slope, s, k)
        static.load(xp=xp, h0=h0, w=w, s=s)
        hs = static.run("forward")[0].clone()  # (T, B, H), our own copy
        ctx.static = static
        ctx.save_for_backward(h0, w, hs, s)
        return hs.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_hs):
        h0, w, hs, s = ctx.saved_tensors
        static = ctx.static
        static.load(h0=h0, w=w, s=s, hs=hs, grad=grad_hs.transpose(0, 1))
        dz, dh0, dw, ds = (t.clone() if t is not None else None for t in static.run("backward"))
        return dz.transpose(0, 1), dh0, dw, None, None, ds, None
