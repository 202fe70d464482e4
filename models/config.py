"""The model's configuration: the only place its defaults live."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnbench.bench.registry import check, choice, typed_params
from rnnbench.models.cells import CELLS
from rnnbench.models.recurrence import ACTIVATIONS
from rnnbench.models.inits import INITS
from rnnbench.models.layer import SKIPS, RecurrentLayer


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"  # rnn | lstm | gru, or a user's cell (models.cells.register_cell)
    hidden_size: int = 128
    num_layers: int = 1
    activation: str = "tanh"  # tanh | relu | leaky_relu; rnn only (tanh is the gated cells' canonical value)
    leaky_slope: float = 0.01  # negative slope of leaky_relu
    init: str = "default"  # default | orthogonal | identity | chrono (gated cells only)
    skip: str = "none"  # none | temporal | residual (needs num_layers >= 2)
    skip_k: int = 10  # temporal skip distance: h_t also reads h_{t-k}
    embed_dim: int = 0  # embedding size for token inputs; 0 -> hidden_size
    param_budget: int = 0  # > 0: each run's hidden size matches this many recurrent parameters (sized_for)

    def validate(self) -> None:
        """Raise ConfigError (one line naming the option and its valid choices) unless the model can be built."""
        choice("cell", self.cell, CELLS)
        choice("activation", self.activation, ACTIVATIONS)
        choice("init", self.init, INITS)
        choice("skip", self.skip, SKIPS)
        for name, minimum in (("hidden_size", 1), ("num_layers", 1), ("skip_k", 1), ("embed_dim", 0),
                              ("param_budget", 0)):
            value = getattr(self, name)
            check(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
                  f"{name} must be an integer >= {minimum}, got {value!r}")
        check(isinstance(self.leaky_slope, (int, float)) and not isinstance(self.leaky_slope, bool)
              and self.leaky_slope >= 0,  # the recurrences read leaky_relu's derivative off its output's sign
              f"leaky_slope must be a number >= 0, got {self.leaky_slope!r}")
        cell = CELLS.get(self.cell)
        with_activation = [name for name, c in CELLS.items() if c.takes_activation]
        check(self.activation == "tanh" or cell.takes_activation,
              f"activation {self.activation!r} applies to cell {' or '.join(map(repr, with_activation))} only; "
              f"cell {self.cell!r} keeps its own gates: use activation 'tanh'")
        init = INITS.get(self.init)
        valid = ", ".join(n for n, i in INITS.items() if i.applies_to(cell))
        gated = [name for name, c in CELLS.items() if c.gated]
        check(not init.gated_only or cell.gated,
              f"init {self.init!r} applies to gated cells only ({', '.join(gated)}), got cell {self.cell!r}; "
              f"valid inits for {self.cell!r}: {valid}")
        check(init.applies_to(cell), f"init {self.init!r} sets recurrent weights, and cell {self.cell!r} names none "
                                     f"(register_cell(..., recurrent=...)); valid inits for {self.cell!r}: {valid}")
        min_layers = SKIPS.get(self.skip).min_layers
        check(self.num_layers >= min_layers,
              f"skip {self.skip!r} needs num_layers >= {min_layers}, got {self.num_layers}")

    def sized_for(self, spec) -> "ModelConfig":
        """This config with the hidden size its runs on a task (`spec`, a tasks.TaskSpec) train at: hidden_size, or
        with a param_budget the largest hidden size whose recurrent layers (cell weights and biases, a temporal skip's
        weights) have at most param_budget parameters. Cells and skips then compare at about one capacity (at one
        hidden size a GRU has about 3x and an LSTM 4x the tanh RNN's recurrent parameters, a temporal skip +50%)."""
        if not self.param_budget:
            return self

        def count(h: int) -> int:
            sized = dataclasses.replace(self, hidden_size=h)
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                return sum(p.numel() for p in recurrent_layers(sized, input_size(spec, sized)).parameters())

        check(count(1) <= self.param_budget, f"param_budget {self.param_budget} is below the {count(1)} recurrent "
                                             f"parameters of a {self.cell} of hidden size 1 on this task")
        low, high = 1, 2
        while count(high) <= self.param_budget:
            low, high = high, high * 2
        while high - low > 1:  # count(low) <= budget < count(high)
            mid = (low + high) // 2
            low, high = (mid, high) if count(mid) <= self.param_budget else (low, mid)
        return dataclasses.replace(self, hidden_size=low)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None) -> "ModelConfig":
        """Build and validate from user parameters, refusing unknown keys and values of the wrong type."""
        config = cls(**typed_params(cls, params, "model"))
        config.validate()
        return config

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def input_size(spec, config: ModelConfig) -> int:
    """The first recurrent layer's input width: the embedding's (embed_dim, else hidden_size) for tokens, the
    task's channels for real values."""
    return (config.embed_dim or config.hidden_size) if spec.input_kind == "tokens" else spec.input_dim


def recurrent_layers(config: ModelConfig, input_width: int) -> nn.ModuleList:
    """The model's stacked recurrent layers, uninitialised (SequenceModel applies the init remedy)."""
    H, skip = config.hidden_size, SKIPS.get(config.skip)
    return nn.ModuleList(
        RecurrentLayer(
            config.cell,
            input_width if l == 0 else H,
            H,
            activation=config.activation,
            leaky_slope=config.leaky_slope,
            skip_k=config.skip_k if skip.temporal else 0,
            residual=skip.residual and l > 0,
        )
        for l in range(config.num_layers)
    )
