"""The model's configuration: the only place its defaults live."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bench.registry import check, choice, typed_params
from models.cells import ACTIVATIONS, CELLS
from models.inits import INITS
from models.layer import SKIPS


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"  # rnn | lstm | gru
    hidden_size: int = 128
    num_layers: int = 1
    activation: str = "tanh"  # tanh | relu | leaky_relu; rnn only (tanh is the gated cells' canonical value)
    leaky_slope: float = 0.01  # negative slope of leaky_relu
    init: str = "default"  # default | orthogonal | identity | chrono (gated cells only)
    skip: str = "none"  # none | temporal | residual (needs num_layers >= 2)
    skip_k: int = 10  # temporal skip distance: h_t also reads h_{t-k}
    embed_dim: int = 0  # embedding size for token inputs; 0 -> hidden_size

    def validate(self) -> None:
        """Raise ConfigError (one line naming the option and its valid choices) unless the model can be built."""
        choice("cell", self.cell, CELLS)
        choice("activation", self.activation, ACTIVATIONS)
        choice("init", self.init, INITS)
        choice("skip", self.skip, SKIPS)
        for name, minimum in (("hidden_size", 1), ("num_layers", 1), ("skip_k", 1), ("embed_dim", 0)):
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
        gated = [name for name, c in CELLS.items() if c.gated]
        check(not INITS.get(self.init).gated_only or cell.gated,
              f"init {self.init!r} applies to gated cells only ({', '.join(gated)}), got cell {self.cell!r}; "
              f"valid inits for {self.cell!r}: {', '.join(n for n, i in INITS.items() if not i.gated_only)}")
        min_layers = SKIPS[self.skip].min_layers
        check(self.num_layers >= min_layers,
              f"skip {self.skip!r} needs num_layers >= {min_layers}, got {self.num_layers}")

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None) -> "ModelConfig":
        """Build and validate from user parameters, refusing unknown keys and values of the wrong type."""
        config = cls(**typed_params(cls, params, "model"))
        config.validate()
        return config

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
