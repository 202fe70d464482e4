"""One recurrent layer: a fused kernel where the options allow it, a hand-written loop elsewhere, and the
cell's own whole-loop recurrence where it measured faster than the fused kernel (RECURRENCE_PAYS: the
vanilla RNN and the GRU on a CPU).

All paths run on the same parameters (those of a 1-layer `nn.RNN` / `nn.LSTM` / `nn.GRU`) and
compute the same function: the loop is a kernel with the fused module's signature, so everything
around the kernel (chunking for the temporal skip, the residual) is shared.

Temporal skip (skip connections in time): h_t also reads h_{t-k}. It enters the cell as a second
input: W_s h_{t-k} joins the input term of every gate (for the GRU, outside the reset gate, like
x_t), and is zero for t < k. W_s is stored as the last H columns of `weight_ih_l0`, so the kernel
takes [x_t, h_{t-k}] as its input. Within a chunk of k steps every h_{t-k} comes from the previous
chunk, which is already computed, so the layer runs as ceil(T / k) kernel calls, the fused kernel
stays usable, and W_s h_{t-k} is one batched matmul per chunk instead of one per step. Where the cell
has a whole-loop recurrence with its own backward (the vanilla RNN and the GRU, see
models.cells.VanillaRecurrence and GRURecurrence), the skip term joins that one call instead, still one
matmul per chunk (the cell's path where RECURRENCE_PAYS says so, and its loop path everywhere). `route()`
is the one statement of which path a layer takes.

A user's cell (models.cells.register_cell) is its own module: it runs its step loop ("steps"; with a temporal
skip per chunk, the skip's h_{t-k} as extra input columns) or its whole-sequence method ("sequence") where it
has one and no skip or probe needs the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.bench.registry import Registry
from rnnbench.models.cells import CELLS, Cell
from rnnbench.models.recurrence import ACTIVATIONS


@dataclass(frozen=True)
class Skip:
    """A level of the skip axis: which skip connections the model's layers have."""

    temporal: bool = False  # h_t also reads h_{t-k}
    residual: bool = False  # stacked layers: layer l > 0 outputs layer(input) + input
    min_layers: int = 1


# The skip axis's levels (a user's file registers one alike: SKIPS.register(name)(Skip(...)))
SKIPS: Registry[Skip] = Registry("skip")
SKIPS.register("none")(Skip())
SKIPS.register("temporal")(Skip(temporal=True))
SKIPS.register("residual")(Skip(residual=True, min_layers=2))

# Device type -> cell -> which layers of a cell with a whole-loop recurrence of its own (models.cells:
# VanillaRecurrence, GRURecurrence) run it instead of torch's fused kernel: "plain" ones, "temporal" (skip) ones.
# Measured on the CPU (1 thread, forward + backward of a model, recurrence / fused kernel, median of alternating
# rounds; 2 layers unless said; rnnbench speed-models measures it):
#   rnn tanh: B=32 H=32 T=30 0.62-0.64, B=32 H=64 T=50 0.58-0.62, B=64 H=128 T=100 0.96, T=200 1.06 (0.85-1.08
#   across runs there); with a temporal skip 0.44-0.48 and 0.73-0.79 of the ceil(T/k) chunked kernel calls.
#   gru: B=32 H=32 T=30 0.52, B=32 H=64 T=50 0.55, B=64 H=128 T=100-200 1.01-1.13; with a temporal skip 0.59, 0.66,
#   0.81-0.97 of the chunked calls (torch's CPU GRU has no oneDNN kernel: it steps through about ten autograd nodes
#   a step, where the recurrence runs five kernels a step forward, three back).
#   lstm: not routed (a whole-loop LSTM written like the GRU's measured 1.06-1.32x the chunked oneDNN calls of a
#   temporal skip, 1.3-2.3x the plain kernel, at B=32 H=32 T=30 as at B=64 H=128 T=200).
# On a GPU cuDNN stays (11x faster than a Python loop there, rnnbench perf --device cuda); whether the temporal skip
# should switch there is what rnnbench perf's "one-call recurrence / chunked fused kernel" rows on the GPU decide.
RECURRENCE_PAYS: dict[str, dict[str, set[str]]] = {
    "cpu": {"rnn": {"plain", "temporal"}, "gru": {"plain", "temporal"}},
}

ROUTES = ("fused", "chunks", "recurrence", "loop", "steps", "sequence")


def route(cell: str, activation: str, temporal: bool, device, loop: bool | None = None, probe: bool = False) -> str:
    """The path a layer's forward takes: "fused" (one fused-kernel call: cuDNN on a GPU), "chunks" (a temporal
    skip as ceil(T/k) fused-kernel calls), "recurrence" (the cell's whole-loop recurrence with its own
    backward, a temporal skip inside it) or "loop" (autograd through the per-step loop, per chunk with a
    temporal skip). loop: None picks the path for `device`; True asks for a hand-written path (the
    recurrence where the cell has one); False for the fused kernel where the activation has one. probe: the
    probe's path, which reads every h_t: always "loop". A user's cell: "sequence" where it has that method and
    neither a temporal skip, the probe nor loop=True asks for the steps, else "steps"."""
    spec = CELLS.get(cell)
    if not isinstance(spec, Cell):
        return "sequence" if spec.has_sequence and not (temporal or probe or loop) else "steps"
    has_recurrence = spec.recurrence is not None
    fused = ACTIVATIONS.get(activation).fused is not None
    if loop is None:
        pays = RECURRENCE_PAYS.get(torch.device(device).type, {}).get(cell, set())
        loop = has_recurrence and ("temporal" if temporal else "plain") in pays
    if probe:
        return "loop"
    if loop or not fused:
        return "recurrence" if has_recurrence else "loop"
    return "chunks" if temporal else "fused"


def flat(rnn: nn.RNNBase) -> bool:
    """Whether an nn.RNN / LSTM / GRU's weights share one buffer, as cuDNN takes them (flatten_parameters() makes it
    so, copying every weight, even where they already are: torch does not check)."""
    return len({w.untyped_storage().data_ptr() for w in rnn._flat_weights}) == 1


class RecurrentLayer(nn.Module):
    def __init__(self, cell: str, input_size: int, hidden_size: int, activation: str = "tanh",
                 leaky_slope: float = 0.01, skip_k: int = 0, residual: bool = False):
        super().__init__()
        self.cell, self.cell_name, act = CELLS.get(cell), cell, ACTIVATIONS.get(activation)
        self.hidden_size, self.skip_k, self.residual = hidden_size, skip_k, residual
        self.act, self.activation, self.leaky_slope = act.function(leaky_slope), activation, leaky_slope
        self.fused = act.fused is not None and isinstance(self.cell, Cell)  # torch's kernel can run it
        skip_inputs = hidden_size if skip_k else 0
        self.rnn = self.cell.make(input_size + skip_inputs, hidden_size, act.fused or "tanh")  # the cell's parameters

    def forward(self, x: torch.Tensor, loop: bool | None = None, steps: list | None = None) -> torch.Tensor:
        """x: (B, T, D) -> (B, T, H) on the path route() picks (loop: see there). A `steps` list (which receives
        h_1 .. h_T, each (B, H), the tensors the output is built from) runs the autograd loop."""
        path = self.path(x.device, loop, probe=steps is not None)
        if path == "recurrence":
            out = self.recurrence(x)  # one call (a temporal skip inside it, no chunks)
        elif path == "sequence":
            out = self.rnn.sequence(x)
        else:
            kernel = {"loop": partial(self.loop_kernel, steps=steps), "steps": partial(self.step_kernel, steps=steps),
                      }.get(path, self.rnn)
            if kernel is self.rnn and x.is_cuda and not flat(self.rnn):  # cuDNN wants its weights in one buffer;
                self.rnn.flatten_parameters()  # a copied model's are apart, and each call would copy them together
            out = self.chunks(x, kernel) if self.skip_k else kernel(x)[0]  # (B, T, H)
        return out + x if self.residual else out

    def path(self, device, loop: bool | None = None, probe: bool = False) -> str:
        """Which of ROUTES forward() takes on `device` (see route())."""
        return route(self.cell_name, self.activation, bool(self.skip_k), device, loop, probe)

    def recurrence(self, x: torch.Tensor) -> torch.Tensor:
        """The loop path through the cell's whole-loop recurrence (its own backward): (B, T, D) -> (B, T, H).
        A temporal skip's W_s h_{t-k} (the last H input columns) joins each step inside it, no chunks."""
        rnn, D = self.rnn, x.shape[-1]
        xp = self.input_terms(x, rnn.weight_ih_l0[:, :D])  # (B, T, H)
        h0 = x.new_zeros(x.shape[0], self.hidden_size)
        skip = (rnn.weight_ih_l0[:, D:].t(), self.skip_k) if self.skip_k else ()
        bias = {} if self.cell.fold_hh_bias else {"b_hh": rnn.bias_hh_l0}  # else it is in xp
        return self.cell.recurrence(xp, h0, rnn.weight_hh_l0.t(), self.activation, self.leaky_slope, *skip, **bias)

    def input_terms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Every step's input term at once, x W^T + b_ih (+ b_hh where the cell folds it in): (B, m, G*H)."""
        rnn = self.rnn
        return F.linear(x, weight, rnn.bias_ih_l0 + rnn.bias_hh_l0 if self.cell.fold_hh_bias else rnn.bias_ih_l0)

    def chunks(self, x: torch.Tensor, kernel) -> torch.Tensor:
        """Temporal skip, k steps per kernel call: within a chunk every h_{t-k} is in the chunk before."""
        B, k = x.shape[0], self.skip_k
        prev = x.new_zeros(B, k, self.hidden_size)  # h_{t-k} = 0 for t < k
        outs, state = [], None
        for chunk in x.split(k, 1):  # (B, m <= k, D); split, not indexing: one backward node
            out, state = kernel(torch.cat([chunk, prev[:, : chunk.shape[1]]], 2), state)  # (B, m, H)
            outs.append(out)
            prev = out
        return torch.cat(outs, 1)

    def loop_kernel(self, x: torch.Tensor, state=None, steps: list | None = None):
        """The hand-written kernel, called like the fused module: (B, m, D') -> (B, m, H), state.
        Appends each step's h_t (B, H) to `steps` where given."""
        cell, rnn = self.cell, self.rnn
        xp = self.input_terms(x, rnn.weight_ih_l0)  # (B, m, G*H)
        w = rnn.weight_hh_l0.t()  # (H, G*H)
        if state is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)  # (B, H)
            state = h, torch.zeros_like(h) if cell.has_cell_state else None
        h, c = state
        hs = []
        for xp_t in xp.unbind(1):  # unbind: one backward node, not one per step
            h, c = cell.step(xp_t, h, c, w, rnn.bias_hh_l0, self.act)  # (B, H)
            hs.append(h)
        if steps is not None:
            steps.extend(hs)
        return torch.stack(hs, 1), (h, c)

    def step_kernel(self, x: torch.Tensor, state=None, steps: list | None = None):
        """A user's cell step by step, called like the fused module: (B, m, D') -> (B, m, H), state."""
        hs = []
        for x_t in x.unbind(1):
            h, state = self.rnn(x_t, state)  # (B, H)
            hs.append(h)
        if steps is not None:
            steps.extend(hs)
        return torch.stack(hs, 1), state
