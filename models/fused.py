"""Horizontal fusion: K runs that share a cell and shape trained as one batched model.

K `SequenceModel`s with the same task spec and the same `ModelConfig` up to the initialisation become
one `FusedSequenceModel` whose parameters are the K models' parameters stacked along a leading K
axis (copied, so each run starts exactly where its unfused twin would). Its forward takes one batch
per run, x: [K, B, ...], and runs the K recurrences together with one of FUSED_KERNELS: "stepped" (the
default: the input projection of every step as one batched matmul before the time loop, then one
`baddbmm` per step for all K runs) or "blockdiag" (one fused-kernel call of a K*H-wide layer with
block-diagonal weights).

The runs stay independent: run k's output depends only on run k's parameters and batch, so the
gradient of the *summed* per-run losses (`fused_loss`) w.r.t. run k's slice is run k's own gradient.
(Except in overflow: blockdiag's wide matmuls turn one run's inf into NaN in every run, 0 * inf; a step where
that may have happened is taken again stepped: `FusedSequenceModel.mixes_runs`, bench.module.)
Optimisation is per run as well (models.stacked: each run clipped with its own threshold, stepped with its own
learning rate).

`unfuse()` gives back K ordinary SequenceModels with the trained weights, for evaluation, probing and
checkpoints with the existing code. Which RunConfigs share a model and where fusing is worth it: models.fusion
(measured: `rnnbench speed-fused`, bench/speed/fused.py).

Supported: cells rnn (tanh, relu, leaky_relu), gru, lstm; every skip level without a temporal skip (none,
residual, a user's level of either kind); any init; token or real inputs; classes or regression. Refused: a
temporal skip (ConfigError).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.bench.registry import check
from rnnbench.models.cells import CELLS
from rnnbench.models.layer import SKIPS
from rnnbench.models.recurrence import ACTIVATIONS
from rnnbench.models.sequence import SequenceModel
from rnnbench.tasks.base import TaskSpec

# ---------------------------------------------------------------------------------------------- steps
# One time step of K runs at once. xp: (K, B, G*H) the input term; h, c: (K, B, H);
# w: (K, H, G*H) the transposed recurrent weights; b_hh: (K, G*H), used only where not folded.


def _rnn_step(xp, h, c, w, b_hh, act):
    return act(torch.baddbmm(xp, h, w)), c


def _lstm_step(xp, h, c, w, b_hh, act):
    i, f, g, o = torch.baddbmm(xp, h, w).chunk(4, -1)  # PyTorch's gate order i, f, g, o
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru_step(xp, h, c, w, b_hh, act):
    hh = torch.baddbmm(b_hh.unsqueeze(1), h, w)  # (K, B, 3H): W_hr h + b_hr, W_hz h + b_hz, W_hn h + b_hn
    H = h.shape[-1]
    r, z = torch.sigmoid(xp[..., : 2 * H] + hh[..., : 2 * H]).chunk(2, -1)
    n = torch.tanh(torch.addcmul(xp[..., 2 * H :], r, hh[..., 2 * H :]))
    return torch.lerp(n, h, z), c


FUSED_STEPS: dict[str, Callable] = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step}


def fused_skips() -> list[str]:
    """The skip levels a fused group runs: every registered one without a temporal skip (a fused layer adds its
    input where the level is residual, as the unfused layer does)."""
    return [name for name, skip in SKIPS.items() if not skip.temporal]

# How a fused layer runs its K recurrences:
#   "stepped": the loop over time in Python, one batched matmul (and the gate ops) per step for all K runs;
#   "blockdiag": ONE call of torch's fused kernel (cuDNN on a GPU) for a K*H-wide layer whose weights are the
#     K runs' weights on the block diagonal, built from the stacked parameters each forward (so gradients
#     reach only the blocks). K times the FLOPs of the K runs, but the time loop runs inside the kernel.
#     Cells with a fused kernel for their activation only (not leaky_relu).
FUSED_KERNELS = ("stepped", "blockdiag")


def fused_kernels(activation: str) -> tuple[str, ...]:
    """The FUSED_KERNELS a fused model of this activation can run: blockdiag only where it has a fused kernel."""
    return tuple(k for k in FUSED_KERNELS if k != "blockdiag" or ACTIVATIONS.get(activation).fused is not None)


def block_diagonal(w: torch.Tensor, gates: int) -> torch.Tensor:
    """K stacked weights (K, G*H, D) -> the (G*K*H, K*D) weight of one K*H-wide layer: gate g's rows for unit j
    of run k sit at g*K*H + k*H + j and read only run k's inputs, columns k*D .. (k+1)*D."""
    K, GH, D = w.shape
    H = GH // gates
    out = w.new_zeros(gates, K, H, K, D)
    runs = torch.arange(K, device=w.device)
    out[:, runs, :, runs, :] = w.view(K, gates, H, D)  # both K axes indexed: their dim leads the value
    return out.view(gates * K * H, K * D)


def gate_major(b: torch.Tensor, gates: int) -> torch.Tensor:
    """K stacked biases (K, G*H) -> the (G*K*H,) bias of the K*H-wide layer, in block_diagonal's row order."""
    K, GH = b.shape
    return b.view(K, gates, GH // gates).transpose(0, 1).reshape(-1)


def _wide_kernel(cell: str, activation: str) -> Callable:
    """torch's fused kernel for one layer (what nn.RNN / nn.LSTM / nn.GRU.forward call), batch first:
    (x (B, L, D), weights [w_ih, w_hh, b_ih, b_hh], h0 (B, H)) -> (B, L, H)."""
    def run(x, weights, h0):
        args = (weights, True, 1, 0.0, torch.is_grad_enabled(), False, True)  # biases, 1 layer, no dropout, batch first
        if cell == "lstm":
            return torch._VF.lstm(x, (h0, h0), *args)[0]
        kernel = torch._VF.gru if cell == "gru" else getattr(torch._VF, f"rnn_{activation}")
        return kernel(x, h0, *args)[0]
    return run


def check_fusable_config(config) -> None:
    """Raise ConfigError unless a model with this ModelConfig can be fused."""
    check(config.cell in FUSED_STEPS,
          f"horizontal fusion supports cells {', '.join(FUSED_STEPS)}, got cell {config.cell!r}")
    check(not config.param_budget, "horizontal fusion takes a fixed hidden size: run a param_budget suite unfused")
    check(config.skip in fused_skips(),
          f"horizontal fusion supports skip {' or '.join(map(repr, fused_skips()))}, got skip {config.skip!r}; "
          f"run it unfused")


# ---------------------------------------------------------------------------------------------- model


class FusedLayer(nn.Module):
    """K recurrent layers' parameters, each PyTorch's layout with a leading K axis."""

    def __init__(self, layers: Sequence[nn.Module], cell: str, kernel: str = "stepped"):
        super().__init__()
        rnns = [layer.rnn for layer in layers]
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            stacked = torch.stack([getattr(r, f"{name}_l0").detach() for r in rnns]).clone()
            setattr(self, name, nn.Parameter(stacked))  # (K, G*H, D) | (K, G*H, H) | (K, G*H)
        first = layers[0]
        self.cell, self.act, self.residual = CELLS.get(cell), first.act, first.residual
        self.step = FUSED_STEPS[cell]
        self.hidden_size = first.hidden_size
        check(kernel in FUSED_KERNELS, f"unknown fused kernel {kernel!r}; valid choices: {', '.join(FUSED_KERNELS)}")
        check(kernel in fused_kernels(first.activation), f"fused kernel {kernel!r} needs an activation with a fused "
              f"kernel, got {first.activation!r}; use 'stepped'")
        self.kernel = kernel
        self.wide = _wide_kernel(cell, first.activation) if kernel == "blockdiag" else None

    def forward(self, x: torch.Tensor, kernel: str | None = None) -> torch.Tensor:
        """x: (K, B, L, D) -> (K, B, L, H), by `kernel` (default: the layer's own)."""
        out = self.blockdiag(x) if (kernel or self.kernel) == "blockdiag" else self.stepped(x)
        return out + x if self.residual else out

    def blockdiag(self, x: torch.Tensor) -> torch.Tensor:
        """The K runs as one K*H-wide layer with block-diagonal weights, in one fused-kernel call."""
        K, B, L, D = x.shape
        G = len(self.cell.gates)
        weights = [block_diagonal(self.weight_ih, G), block_diagonal(self.weight_hh, G),
                   gate_major(self.bias_ih, G), gate_major(self.bias_hh, G)]
        wide_x = x.permute(1, 2, 0, 3).reshape(B, L, K * D)  # run k's inputs in columns k*D .. (k+1)*D
        out = self.wide(wide_x, weights, x.new_zeros(1, B, K * self.hidden_size))  # (B, L, K*H)
        return out.view(B, L, K, self.hidden_size).permute(2, 0, 1, 3)  # (K, B, L, H)

    def stepped(self, x: torch.Tensor) -> torch.Tensor:
        """The K runs stepped through time together: one batched matmul per step."""
        K, B, L, D = x.shape
        bias = self.bias_ih + self.bias_hh if self.cell.fold_hh_bias else self.bias_ih  # (K, G*H)
        xp = torch.baddbmm(bias.unsqueeze(1), x.reshape(K, B * L, D), self.weight_ih.transpose(1, 2))
        xp = xp.view(K, B, L, -1)  # (K, B, L, G*H): every step's input term, all runs, one matmul
        w = self.weight_hh.transpose(1, 2)  # (K, H, G*H)
        h = x.new_zeros(K, B, self.hidden_size)
        c = torch.zeros_like(h) if self.cell.has_cell_state else None
        hs = []
        for xp_t in xp.unbind(2):  # (K, B, G*H); unbind: one backward node
            h, c = self.step(xp_t, h, c, w, self.bias_hh, self.act)
            hs.append(h)
        return torch.stack(hs, 2)  # (K, B, L, H)


class FusedSequenceModel(nn.Module):
    """K SequenceModels as one: parameters stacked on a leading K axis, one batch per run.

    forward(x): x long [K, B, L] (tokens) or float [K, B, L, D] -> [K, B, S, C] (classes) or
    [K, B, S] (regression): output k is what models[k] gives on x[k].
    """

    def __init__(self, models: Sequence[SequenceModel], kernel: str = "stepped"):
        super().__init__()
        check(len(models) >= 1, "horizontal fusion needs at least one model")
        first = models[0]
        self.spec, self.config, self.K = first.spec, first.config, len(models)
        check_fusable_config(first.config)
        for k, m in enumerate(models):
            check(isinstance(m, SequenceModel), f"model {k} is a {type(m).__name__}, not a SequenceModel")
            check(m.spec == first.spec, f"model {k}'s task spec differs from model 0's: runs of one fused "
                                        "model must share the task and its parameters")
            same = dataclasses.replace(m.config, init=first.config.init) == first.config
            check(same, f"model {k}'s config differs from model 0's beyond the init: {m.config} vs {first.config}")
            shapes = [p.shape for p in m.parameters()]
            check(shapes == [p.shape for p in first.parameters()], f"model {k}'s parameter shapes differ")
        # the unfused models, for unfuse(): a tuple, so not registered as submodules
        self._templates = tuple(copy.deepcopy(m).cpu() for m in models)
        if first.embed is not None:
            self.embed = nn.Parameter(torch.stack([m.embed.weight.detach() for m in models]).clone())  # (K, V, E)
        else:
            self.embed = None
        self.layers = nn.ModuleList(FusedLayer([m.layers[l] for m in models], first.config.cell, kernel)
                                    for l in range(len(first.layers)))
        self.readout_weight = nn.Parameter(torch.stack([m.readout.weight.detach() for m in models]).clone())  # (K, C, H)
        self.readout_bias = nn.Parameter(torch.stack([m.readout.bias.detach() for m in models]).clone())  # (K, C)

    @property
    def kernel(self) -> str:
        return self.layers[0].kernel

    @property
    def mixes_runs(self) -> bool:
        """Whether one run's overflow reaches the others: the blockdiag kernel's wide matmuls multiply a run's inf
        by the zeros off its block (0 * inf = NaN in every run's columns); the stepped kernel keeps runs apart."""
        return self.kernel == "blockdiag"

    def forward(self, x: torch.Tensor, kernel: str | None = None) -> torch.Tensor:
        """kernel: None runs the model's own (FUSED_KERNELS); "stepped" keeps the runs apart (see mixes_runs)."""
        check(x.shape[0] == self.K, f"fused input must have K={self.K} runs on dim 0, got shape {tuple(x.shape)}")
        h = self.encode(x)  # (K, B, L, D)
        for layer in self.layers:
            h = layer(h, kernel)  # (K, B, L, H)
        return self.read(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is None:
            return x
        K, V, E = self.embed.shape
        offsets = torch.arange(K, device=x.device).view(K, 1, 1) * V  # run k's rows of the flat table
        return F.embedding(x + offsets, self.embed.reshape(K * V, E))  # (K, B, L, E)

    def read(self, h: torch.Tensor) -> torch.Tensor:
        s = self.spec.scored_steps
        h = h[:, :, s.start : s.stop]  # (K, B, S, H)
        K, B, S, H = h.shape
        out = torch.baddbmm(self.readout_bias.unsqueeze(1), h.reshape(K, B * S, H), self.readout_weight.transpose(1, 2))
        out = out.view(K, B, S, -1)  # (K, B, S, C)
        return out if self.spec.output_kind == "classes" else out.squeeze(-1)  # (K, B, S, C) | (K, B, S)

    def stacked_pairs(self) -> list[tuple[nn.Parameter, str]]:
        """Each stacked parameter with the name of its slices in an unfused SequenceModel's state_dict."""
        pairs = [] if self.embed is None else [(self.embed, "embed.weight")]
        for l, layer in enumerate(self.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                pairs.append((getattr(layer, name), f"layers.{l}.rnn.{name}_l0"))
        return pairs + [(self.readout_weight, "readout.weight"), (self.readout_bias, "readout.bias")]

    @torch.no_grad()
    def unfuse(self) -> list[SequenceModel]:
        """K ordinary SequenceModels holding the current (trained) weights, on this model's device and dtype."""
        ref = self.readout_weight
        models = []
        for k, template in enumerate(self._templates):
            model = copy.deepcopy(template).to(device=ref.device, dtype=ref.dtype)
            state = model.state_dict()
            for param, name in self.stacked_pairs():
                state[name] = param[k].detach().clone()
            model.load_state_dict(state)
            models.append(model)
        return models


def fused_loss(spec: TaskSpec) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """loss(out [K, B, S, (C)], y [K, B, S]) -> (the sum of the K runs' losses, the per-run losses [K]).

    Each run's loss is bench.module.task_loss on its own batch (the mean over its B*S scored outputs);
    they are summed, not averaged, so each run's gradient is exactly its unfused gradient."""
    if spec.output_kind == "classes":
        def per_run(out, y):
            K = out.shape[0]
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="none").view(K, -1).mean(1)
    else:
        def per_run(out, y):
            return F.mse_loss(out, y, reduction="none").reshape(out.shape[0], -1).mean(1)

    def loss(out, y):
        losses = per_run(out, y)  # (K,)
        return losses.sum(), losses.detach()

    return loss
