"""The recurrent cells, as tables rather than classes (the vanilla cell's activations: models.recurrence).

A cell is described in PyTorch's own parameter layout (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
`bias_hh_l0`, gate blocks of H rows stacked in PyTorch's order), so the hand-written loop path runs
on the very parameter tensors of the fused `nn.RNN` / `nn.LSTM` / `nn.GRU` module and computes the
same function. A step function sees one time step:

    step(xp, h, c, w, b_hh, act) -> (h, c)
      xp: (B, G*H) the input term W_ih x_t + b_ih (+ b_hh where `fold_hh_bias`), computed for all
          steps at once before the loop (with a temporal skip x_t is [x_t, h_{t-k}], see layer.py)
      h, c: (B, H) the previous hidden state and, for the LSTM, the previous cell state (else None)
      w: (H, G*H) the transposed recurrent weight; b_hh: (G*H,) used only where not folded
      act: the activation (vanilla RNN only)

A user's cell needs none of that: any nn.Module that follows the small protocol of `register_cell` (a step
h_t = f(x_t, state), optionally a whole-sequence fast path) is a cell of the grid, and the remedies wrap it as far
as they apply (skips always; init levels where it names the weights they act on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from rnnbench.bench.registry import Registry
from rnnbench.models.recurrence import chunks, recurrence_backward, recurrence_forward


@dataclass(frozen=True)
class Cell:
    module: type[nn.RNNBase]  # the fused kernel; its parameters are the cell's parameters
    gates: tuple[str, ...]  # the gate blocks of the weights and biases, in PyTorch's order
    step: Callable  # one time step of the loop path (see the module docstring)
    fold_hh_bias: bool = True  # b_hh can join the input term (not for the GRU: r gates W_hn h + b_hn)
    has_cell_state: bool = False  # carries c besides h (LSTM)
    takes_activation: bool = False  # nn.RNN's `nonlinearity`; gated cells keep their own
    keep_gate: str | None = None  # the gate that keeps the old state when open (chrono sets its bias)
    write_gate: str | None = None  # the gate that writes new content (chrono: bias = -keep bias)
    # the whole loop with its own backward (VanillaRecurrence, GRURecurrence), or None:
    # recurrence(xp, h0, W_hh^T, activation, slope[, S^T, k][, b_hh=b_hh where not fold_hh_bias]) -> (B, T, H)
    recurrence: Callable | None = None

    @property
    def gated(self) -> bool:
        return self.keep_gate is not None

    has_recurrent_weights = True  # weight_hh_l0: what the orthogonal and identity inits set
    has_sequence = False  # a user's cell's whole-sequence method (ModuleCell); a kernel cell has `recurrence`

    def make(self, input_size: int, hidden_size: int, activation: str) -> nn.RNNBase:
        kwargs = {"nonlinearity": activation} if self.takes_activation else {}
        return self.module(input_size, hidden_size, batch_first=True, **kwargs)

    def recurrent_blocks(self, core: nn.RNNBase, hidden_size: int) -> tuple[torch.Tensor, ...]:
        """The (H, H) recurrent block of each gate (views into weight_hh_l0)."""
        return core.weight_hh_l0.split(hidden_size, 0)

    def chrono_biases(self, core: nn.RNNBase) -> tuple[list, list]:
        """What chrono sets: [(the keep gate's bias, +1), (the write gate's, -1)] as views of b_ih, and the b_hh views
        it zeroes (PyTorch adds the two bias vectors)."""
        b_ih, b_hh = core.bias_ih_l0.chunk(len(self.gates), 0), core.bias_hh_l0.chunk(len(self.gates), 0)
        gates = [(gate, sign) for gate, sign in ((self.keep_gate, 1.0), (self.write_gate, -1.0)) if gate is not None]
        return ([(b_ih[self.gates.index(g)], sign) for g, sign in gates],
                [b_hh[self.gates.index(g)] for g, _ in gates])


@dataclass(frozen=True)
class ModuleCell:
    """A cell given as a module class `make(input_size, hidden_size)` that follows the protocol of register_cell."""
    make_module: Callable[[int, int], nn.Module]
    recurrent: tuple[str, ...] = ()  # parameter names of its recurrent weights: (G*H, H) blocks of (H, H)
    keep_bias: str | None = None  # parameter name of its keep gate's bias (chrono sets it), or None
    write_bias: str | None = None  # parameter name of its write gate's bias (chrono: minus the keep bias)
    takes_activation = False  # a user's cell keeps its own nonlinearities
    recurrence = None  # no whole-loop recurrence of rnnbench's own: its step loop, or its `sequence` fast path

    @property
    def gated(self) -> bool:
        return self.keep_bias is not None or self.write_bias is not None

    @property
    def has_recurrent_weights(self) -> bool:
        return bool(self.recurrent)

    def make(self, input_size: int, hidden_size: int, activation: str) -> nn.Module:
        return self.make_module(input_size, hidden_size)

    @property
    def has_sequence(self) -> bool:
        return callable(getattr(self.make_module, "sequence", None))

    def recurrent_blocks(self, core: nn.Module, hidden_size: int) -> list[torch.Tensor]:
        params = dict(core.named_parameters())
        return [block for name in self.recurrent for block in params[name].split(hidden_size, 0)]

    def chrono_biases(self, core: nn.Module) -> tuple[list, list]:
        params = dict(core.named_parameters())
        pairs = ((self.keep_bias, 1.0), (self.write_bias, -1.0))
        return [(params[name], sign) for name, sign in pairs if name is not None], []


CELLS: Registry[Cell | ModuleCell] = Registry("cell")


def register_cell(name: str, recurrent: tuple[str, ...] = (), keep_bias: str | None = None,
                  write_bias: str | None = None):
    """Register a user's recurrent cell, a class decorator. The protocol (one file of the user's own, loaded with
    `rnnbench run --include FILE`):

        @register_cell("mingru")
        class MinGRU(nn.Module):
            def __init__(self, input_size: int, hidden_size: int): ...
            def forward(self, x_t, state):     # x_t (B, input_size); state None at t = 0 (make it like x_t:
                                                #   the gradient probe runs the model in float64)
                return h_t, state               # h_t (B, hidden_size); state: whatever the next step needs
            def sequence(self, x):              # optional fast path: (B, T, input_size) -> (B, T, hidden_size)
                ...                             # from a zero state, the same function as the steps

    The remedies wrap it: skips (a temporal skip feeds [x_t, h_{t-k}] as its input: input_size grows by
    hidden_size), the orthogonal and identity inits on the parameters named in `recurrent` ((G*H, H) weights, set
    per (H, H) block), chrono on the biases named `keep_bias` (log U(1, T-1)) and `write_bias` (its negative);
    an init level a cell names no parameters for is refused for it with a one-line error (and left out of
    grids), like chrono on the vanilla RNN. A user's cell trains on its step loop (or `sequence`), never fused."""
    def decorator(cls):
        CELLS.register(name)(ModuleCell(cls, tuple(recurrent), keep_bias, write_bias))
        return cls

    return decorator


def rnn_step(xp, h, c, w, b_hh, act):
    return act(torch.addmm(xp, h, w)), c  # h_t = act(W_ih x + b_ih + b_hh + W_hh h)


def lstm_step(xp, h, c, w, b_hh, act):
    gates = torch.addmm(xp, h, w)  # (B, 4H): i, f, g, o
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(xp, h, c, w, b_hh, act):
    hh = torch.addmm(b_hh, h, w)  # (B, 3H): W_hr h + b_hr, W_hz h + b_hz, W_hn h + b_hn
    H = h.shape[1]
    r, z = torch.sigmoid(xp[:, : 2 * H] + hh[:, : 2 * H]).chunk(2, 1)
    n = torch.tanh(torch.addcmul(xp[:, 2 * H :], r, hh[:, 2 * H :]))  # tanh(W_in x + b_in + r * (W_hn h + b_hn))
    return torch.lerp(n, h, z), c  # (1 - z) * n + z * h: z keeps the old state


class VanillaRecurrence(torch.autograd.Function):
    """The vanilla RNN's loop, h_t = act(xp_t + h_{t-1} W [+ h_{t-k} S]), with a hand-written backward.

    The optional second term is the temporal skip (S: its weights, k: the skip, h_{t-k} = 0 for t < k).
    Autograd would record three or more nodes per time step and, in the backward, a small weight-gradient
    matmul and an accumulation per step and weight. Here the forward records nothing, and the backward
    walks back through time with one multiply and one matmul-add per step (dh_{t-1} += dz_t W^T; the skip's
    dh_{t-k} += dz_t S^T one matmul per chunk of k steps), then forms each weight's gradient as ONE matmul
    over all steps (dW = sum_t h_{t-1}^T dz_t); the activation's derivative comes from the saved outputs in
    one op. Steps are kept time-major, (T, B, H), so each step's rows are contiguous. Same function and
    gradients as autograd through the loop (tested in float64)."""

    @staticmethod
    def forward(ctx, xp, h0, w, activation: str, slope: float, s=None, k: int = 0):
        """xp: (B, T, H) input terms; h0: (B, H); w: (H, H) = W_hh^T; s: (H, H) = S^T or None -> hs: (B, T, H)."""
        B, T, H = xp.shape
        hs = recurrence_forward(xp, h0, w, activation, slope, s, k, xp.new_empty(T, B, H))
        ctx.save_for_backward(h0, w, hs, s)
        ctx.activation, ctx.slope, ctx.k = activation, slope, k
        return hs.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_hs):
        h0, w, hs, s = ctx.saved_tensors  # hs: (T, B, H)
        dz = grad_hs.transpose(0, 1).clone(memory_format=torch.contiguous_format)  # dL/dh_t, a copy of our own
        dz, dh0, dw, ds = recurrence_backward(dz, hs, h0, w, ctx.activation, ctx.slope, s, ctx.k)
        return dz.transpose(0, 1), dh0, dw, None, None, ds, None


def vanilla_recurrence(xp, h0, w, activation: str, slope: float, s=None, k: int = 0) -> torch.Tensor:
    """VanillaRecurrence, replayed from a CUDA graph on the devices in models.graphed.GRAPH_DEVICES."""
    from rnnbench.models.graphed import GRAPH_DEVICES, GraphedRecurrence

    function = GraphedRecurrence if xp.device.type in GRAPH_DEVICES else VanillaRecurrence
    return function.apply(xp, h0, w, activation, slope, s, k)


def gru_recurrence_forward(xp, h0, w, b, s, k: int, gates, n, hs) -> None:
    """The GRU's loop, time-major, five kernels a step: gates (T, B, 3H) receives [r_t, z_t, W_hn h_{t-1} + b_hn],
    n (T, B, H) the candidate n_t and hs (T, B, H) h_t. xp: (B, T, 3H) input terms x W_ih^T + b_ih; h0: (B, H);
    w: (H, 3H) = W_hh^T; b: (3H,) = b_hh; s: (H, 3H) = S^T or None. Before a step runs, gates[t] holds its input
    terms of r and z with b_hr, b_hz added and b_hn in the n block, and n[t] the input term of n, so one addmm
    gives r's and z's pre-activations and W_hn h + b_hn together. A temporal skip's term (every gate's, like x_t)
    is one matmul per chunk of k steps, added before the chunk's steps run (see recurrence_forward)."""
    T, H = hs.shape[0], hs.shape[-1]
    gates.copy_(xp.transpose(0, 1))
    starts = dict(chunks(T, k)) if s is not None else {}

    def ready(t: int, m: int) -> None:  # steps [t, t + m): move n's input term to n, put the biases in place
        n[t : t + m].copy_(gates[t : t + m, :, 2 * H :])
        gates[t : t + m, :, : 2 * H].add_(b[: 2 * H])
        gates[t : t + m, :, 2 * H :].copy_(b[2 * H :])

    ready(0, min(k, T) if starts else T)
    # every step's views, made at once (see recurrence_forward): the gates, [r, z], r, z, W_hn h + b_hn, n, h
    blocks = ((0, 3 * H), (0, 2 * H), (0, H), (H, 2 * H), (2 * H, 3 * H))
    G, RZ, R, Z, HN = (gates[..., lo:hi].unbind(0) for lo, hi in blocks)  # (b is the bias)
    N, HS = n.unbind(0), hs.unbind(0)
    h = h0
    for t in range(T):
        if t in starts:
            m = starts[t]
            gates[t : t + m].view(-1, 3 * H).addmm_(hs[t - k : t - k + m].view(-1, H), s)
            ready(t, m)
        G[t].addmm_(h, w)  # [r, z] pre-activations, W_hn h + b_hn
        RZ[t].sigmoid_()
        n_t = N[t].addcmul_(R[t], HN[t]).tanh_()  # tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h = torch.lerp(n_t, h, Z[t], out=HS[t])  # (1 - z) n + z h


def gru_recurrence_backward(dh, gates, n, hs, h0, w, s, k: int):
    """Back through gru_recurrence_forward. dh: dL/dh_t (T, B, H), time-major, overwritten. Returns (dL/dxp
    (T, B, 3H), dL/dh0, dL/dw, dL/db, dL/ds or None). What a step needs of its forward is folded into one
    coefficient tensor first, so that a step back is three kernels: dL/d[pre_r, pre_z, W_hn h + b_hn] =
    coef_t * dL/dh_t, then dL/dh_{t-1} += dL/dh_t z_t + that @ W_hh."""
    T, B, H = hs.shape
    r, z, hn = gates[..., :H], gates[..., H : 2 * H], gates[..., 2 * H :]
    h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])
    a = (1 - z) * (1 - n * n)  # dL/d(n's pre-activation) = dL/dh_t * a
    coef = torch.stack([a * hn * r * (1 - r), (h_prev - n) * z * (1 - z), a * r], 2)  # (T, B, 3, H)
    dg = torch.empty_like(coef)
    dg3 = dg.view(T, B, 3 * H)  # the same, the gate blocks side by side
    dxp = torch.empty_like(gates)  # (T, B, 3H): [dL/dpre_r, dL/dpre_z, dL/d(n's input term)]
    wt = w.t().contiguous()
    st = s.t().contiguous() if s is not None else None
    starts = dict(chunks(T, k)) if s is not None else {}

    def inputs(t: int, m: int) -> torch.Tensor:  # dL/dxp of the steps [t, t + m), once their dL/dh_t are complete
        dxp[t : t + m, :, : 2 * H].copy_(dg[t : t + m, :, :2].flatten(2))
        torch.mul(dh[t : t + m], a[t : t + m], out=dxp[t : t + m, :, 2 * H :])
        return dxp[t : t + m]

    COEF, DG, DG3, DH, DH1, Z = (coef.unbind(0), dg.unbind(0), dg3.unbind(0), dh.unbind(0), dh.unsqueeze(2).unbind(0),
                                 z.unbind(0))  # the steps' views, made at once
    for t in range(T - 1, -1, -1):
        torch.mul(COEF[t], DH1[t], out=DG[t])
        if t in starts:  # through the skip: the chunk [t, t + m) to [t - k, t - k + m)
            m = starts[t]
            dh[t - k : t - k + m].view(-1, H).addmm_(inputs(t, m).view(-1, 3 * H), st)
        if t > 0:
            DH[t - 1].addcmul_(DH[t], Z[t]).addmm_(DG3[t], wt)
    inputs(0, min(k, T) if starts else T)
    dh0 = torch.addmm(dh[0] * z[0], dg3[0], wt)
    dw = h_prev.reshape(-1, H).t() @ dg3.reshape(-1, 3 * H)  # sum_t h_{t-1}^T dL/dg_t
    ds = None
    if s is not None:  # sum_{t >= k} h_{t-k}^T dL/dxp_t
        ds = hs[: T - k].reshape(-1, H).t() @ dxp[k:].reshape(-1, 3 * H) if k < T else torch.zeros_like(s)
    return dxp, dh0, dw, dg3.sum((0, 1)), ds


class GRURecurrence(torch.autograd.Function):
    """The GRU's loop with a hand-written backward, as VanillaRecurrence for the vanilla RNN: five kernels a step
    forward, three back, each weight's gradient one matmul over all steps. Torch's CPU GRU has no oneDNN kernel
    (its LSTM has): it runs about ten autograd nodes a step. Same function and gradients as the loop (float64)."""

    @staticmethod
    def forward(ctx, xp, h0, w, b, s=None, k: int = 0):
        """xp: (B, T, 3H) input terms; h0: (B, H); w: (H, 3H) = W_hh^T; b: (3H,) = b_hh; s: (H, 3H) or None."""
        B, T, G = xp.shape
        gates, n, hs = xp.new_empty(T, B, G), xp.new_empty(T, B, G // 3), xp.new_empty(T, B, G // 3)
        gru_recurrence_forward(xp, h0, w, b, s, k, gates, n, hs)
        ctx.save_for_backward(gates, n, hs, h0, w, s)
        ctx.k = k
        return hs.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_hs):
        gates, n, hs, h0, w, s = ctx.saved_tensors
        dh = grad_hs.transpose(0, 1).clone(memory_format=torch.contiguous_format)
        dxp, dh0, dw, db, ds = gru_recurrence_backward(dh, gates, n, hs, h0, w, s, ctx.k)
        return dxp.transpose(0, 1), dh0, dw, db, ds, None


def gru_recurrence(xp, h0, w, activation: str, slope: float, s=None, k: int = 0, b_hh=None) -> torch.Tensor:
    """GRURecurrence with the vanilla recurrence's signature (a gated cell keeps its own activations) and b_hh,
    which the GRU cannot fold into xp (r gates W_hn h + b_hn)."""
    return GRURecurrence.apply(xp, h0, w, b_hh, s, k)


CELLS.register("rnn")(Cell(nn.RNN, ("h",), rnn_step, takes_activation=True, recurrence=vanilla_recurrence))
CELLS.register("lstm")(
    Cell(nn.LSTM, ("i", "f", "g", "o"), lstm_step, has_cell_state=True, keep_gate="f", write_gate="i")
)
CELLS.register("gru")(
    Cell(nn.GRU, ("r", "z", "n"), gru_step, fold_hh_bias=False, keep_gate="z", recurrence=gru_recurrence)
)
