"""Recurrent sequence models: one model, every remedy an option (cell, activation, init, skip).

CELLS, INITS: registries (bench.registry.Registry); ACTIVATIONS, SKIPS: dicts of level -> properties.
Iterating any of them yields the valid level names.
"""

from rnnbench.models.cells import CELLS
from rnnbench.models.recurrence import ACTIVATIONS
from rnnbench.models.config import ModelConfig
from rnnbench.models.inits import INITS
from rnnbench.models.layer import SKIPS
from rnnbench.models.probe import gradient_flow
from rnnbench.models.sequence import SequenceModel

__all__ = ["ACTIVATIONS", "CELLS", "INITS", "SKIPS", "ModelConfig", "SequenceModel", "gradient_flow"]
