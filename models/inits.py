"""Initialisations of a recurrent layer, registered by name in INITS.

Each acts on one `RecurrentLayer` in place, on the parameters of its cell module `layer.rnn` (for rnnbench's
cells PyTorch's layout: G gate blocks of H rows in `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`;
for a user's cell the parameters it names at registration, models.cells.register_cell). With a
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
    gated_only: bool = False  # sets gate biases: a cell without a keep gate has nothing for it
    recurrent: bool = False  # sets the recurrent weights: a cell must have (or name) them

    def applies_to(self, cell) -> bool:
        """Whether this init has something to set in `cell` (a models.cells.Cell or ModuleCell)."""
        return (cell.gated or not self.gated_only) and (cell.has_recurrent_weights or not self.recurrent)


INITS: Registry[Init] = Registry("init")


def register(name: str, gated_only: bool = False, recurrent: bool = False):
    def decorator(fn):
        INITS.register(name)(Init(fn, gated_only, recurrent))
        return fn

    return decorator


def recurrent_blocks(layer) -> list[torch.Tensor]:
    """The (H, H) views of the layer's recurrent weights: one per gate."""
    return list(layer.cell.recurrent_blocks(layer.rnn, layer.hidden_size))


@register("default")
def default_init(layer, seq_len: int) -> None:
    """PyTorch's own: every weight and bias U(-1/sqrt(H), 1/sqrt(H))."""


@register("orthogonal", recurrent=True)
@torch.no_grad()
def orthogonal_init(layer, seq_len: int) -> None:
    """Each gate's [H, H] recurrent block a random orthogonal matrix; the rest as the cell's own."""
    for block in recurrent_blocks(layer):
        nn.init.orthogonal_(block)


@register("identity", recurrent=True)
@torch.no_grad()
def identity_init(layer, seq_len: int) -> None:
    """IRNN (Le et al. 2015): each gate's recurrent block = I, input weights N(0, 1e-3^2), biases 0 (a user's
    cell: its recurrent blocks = I, the rest as its own, since its input weights and biases are not named)."""
    rnn = layer.rnn
    for block in recurrent_blocks(layer):
        nn.init.eye_(block)
    if isinstance(rnn, nn.RNNBase):
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
    targets, zeroed = layer.cell.chrono_biases(layer.rnn)
    keep = torch.empty_like(targets[0][0]).uniform_(1, max(seq_len - 1, 1)).log_()
    for bias, sign in targets:
        bias.copy_(keep if sign > 0 else -keep)
    for bias in zeroed:
        bias.zero_()
