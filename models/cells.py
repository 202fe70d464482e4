"""The recurrent cells and the vanilla cell's activations, as tables rather than classes.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bench.registry import Registry


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
    recurrence: Callable | None = None  # the whole loop with its own backward (see VanillaRecurrence), or None

    @property
    def gated(self) -> bool:
        return self.keep_gate is not None


CELLS: Registry[Cell] = Registry("cell")


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


@dataclass(frozen=True)
class Activation:
    fn: Callable
    fused: str | None  # nn.RNN's name for it, or None where only the loop path computes it
    derivative: Callable  # (h = fn(z), slope) -> dfn/dz at z, from the output alone (PyTorch's convention at 0)
    takes_slope: bool = False

    def function(self, slope: float) -> Callable:
        return partial(self.fn, negative_slope=slope) if self.takes_slope else self.fn


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(torch.tanh, fused="tanh", derivative=lambda h, slope: 1 - h * h),  # also the gated cells' value
    "relu": Activation(torch.relu, fused="relu", derivative=lambda h, slope: (h > 0).to(h.dtype)),
    "leaky_relu": Activation(F.leaky_relu, fused=None, takes_slope=True,  # slope > 0: h > 0 exactly where z > 0
                             derivative=lambda h, slope: torch.where(h > 0, h.new_ones(()), h.new_full((), slope))),
}


class VanillaRecurrence(torch.autograd.Function):
    """The vanilla RNN's loop, h_t = act(xp_t + h_{t-1} W), with a hand-written backward.

    Autograd would record three nodes per time step and, in the backward, a small W-gradient matmul
    and an accumulation per step. Here the forward records nothing, and the backward walks back through
    time with one multiply-add and one matmul per step (dh_{t-1} = dz_t W^T) and forms the weight
    gradient after the loop as ONE matmul over all steps (dW = sum_t h_{t-1}^T dz_t); the activation's
    derivative comes from the saved outputs in one op. Steps are kept time-major, (T, B, H), so each
    step's rows are contiguous. Same function and gradients as the autograd loop (tested in float64)."""

    @staticmethod
    def forward(ctx, xp, h0, w, activation: str, slope: float):
        """xp: (B, T, H) input terms; h0: (B, H); w: (H, H) = W_hh^T -> hs: (B, T, H)."""
        act = ACTIVATIONS[activation].function(slope)
        h, hs = h0, []
        for xp_t in xp.unbind(1):
            h = act(torch.addmm(xp_t, h, w))
            hs.append(h)
        hs = torch.stack(hs)  # (T, B, H)
        ctx.save_for_backward(h0, w, hs)
        ctx.activation, ctx.slope = activation, slope
        return hs.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_hs):
        h0, w, hs = ctx.saved_tensors  # hs: (T, B, H)
        d_act = ACTIVATIONS[ctx.activation].derivative(hs, ctx.slope)  # dh_t/dz_t, every step at once
        dz = torch.mul(grad_hs.transpose(0, 1), d_act, out=torch.empty_like(hs))  # dL/dz_t from the outputs
        wt = w.t().contiguous()
        carry = dz[-1] @ wt  # dL/dh_{t-1} through the recurrence; added to dz back to front
        for t in range(dz.shape[0] - 2, -1, -1):
            dz[t].addcmul_(carry, d_act[t])
            carry = dz[t] @ wt
        H = hs.shape[-1]  # dW = sum_t h_{t-1}^T dz_t: h_0 with dz_1, then one matmul for all later steps
        dw = torch.addmm(h0.t() @ dz[0], hs[:-1].reshape(-1, H).t(), dz[1:].reshape(-1, H))
        return dz.transpose(0, 1), carry, dw, None, None


CELLS.register("rnn")(Cell(nn.RNN, ("h",), rnn_step, takes_activation=True, recurrence=VanillaRecurrence.apply))
CELLS.register("lstm")(
    Cell(nn.LSTM, ("i", "f", "g", "o"), lstm_step, has_cell_state=True, keep_gate="f", write_gate="i")
)
CELLS.register("gru")(Cell(nn.GRU, ("r", "z", "n"), gru_step, fold_hh_bias=False, keep_gate="z"))
