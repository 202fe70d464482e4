"""Initialisations of a recurrent layer, registered by name in INITS.

Each acts on one `RecurrentLayer` in place, on the parameters of its fused module (PyTorch's layout:
G gate blocks of H rows in `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`). With a
temporal skip the skip weight W_s is the last H columns of `weight_ih_l0` (h_{t-k} is an extra
input), so it is initialised as an input weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from rnnbench.bench.registry import Registry

IRNN_INPUT_STD = 1e-3  # Le et al. 2015: small Gaussian input weights next to the identity recurrence


@dataclass(frozen=True)
class Init:
    apply: Callable[..., None]  # apply(layer, seq_len)
    gated_only: bool = False


INITS: Registry[Init] = Registry("init")


def register(name: str, gated_only: bool = False):
    def decorator(fn):
        INITS.register(name)(Init(fn, gated_only))
        return fn

    return decorator


def gate_blocks(tensor: torch.Tensor, layer) -> tuple[torch.Tensor, ...]:
    """The per-gate views (H rows each) of a weight or bias, in the cell's gate order."""
    return tensor.chunk(len(layer.cell.gates), 0)


@register("default")
def default_init(layer, seq_len: int) -> None:
    """PyTorch's own: every weight and bias U(-1/sqrt(H), 1/sqrt(H))."""


@register("orthogonal")
@torch.no_grad()
def orthogonal_init(layer, seq_len: int) -> None:
    """Each gate's [H, H] recurrent block a random orthogonal matrix; the rest as PyTorch's."""
    for block in gate_blocks(layer.rnn.weight_hh_l0, layer):
        nn.init.orthogonal_(block)


@register("identity")
@torch.no_grad()
def identity_init(layer, seq_len: int) -> None:
    """IRNN (Le et al. 2015): each gate's recurrent block = I, input weights N(0, 1e-3^2), biases 0."""
    rnn = layer.rnn
    for block in gate_blocks(rnn.weight_hh_l0, layer):
        nn.init.eye_(block)
    nn.init.normal_(rnn.weight_ih_l0, std=IRNN_INPUT_STD)
    nn.init.zeros_(rnn.bias_ih_l0)
    nn.init.zeros_(rnn.bias_hh_l0)


@register("chrono", gated_only=True)
@torch.no_grad()
def chrono_init(layer, seq_len: int) -> None:
    """Chrono initialisation (Tallec & Ollivier 2018) with T_max = the task's sequence length.

    The keep gate's bias (LSTM forget gate f, GRU update gate z) = log(u), u ~ U(1, T_max - 1), so it
    lies in [0, log(T_max - 1)] and the gate remembers over 1 .. T_max - 1 steps; the LSTM's input
    gate bias = minus that. PyTorch adds two bias vectors: the value goes to b_ih, b_hh is 0 there.
    """
    cell, rnn = layer.cell, layer.rnn
    b_ih, b_hh = gate_blocks(rnn.bias_ih_l0, layer), gate_blocks(rnn.bias_hh_l0, layer)
    keep = torch.empty_like(b_ih[0]).uniform_(1, max(seq_len - 1, 1)).log_()
    for gate, value in ((cell.keep_gate, keep), (cell.write_gate, -keep)):
        if gate is not None:
            b_ih[cell.gates.index(gate)].copy_(value)
            b_hh[cell.gates.index(gate)].zero_()
