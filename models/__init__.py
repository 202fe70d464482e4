"""Recurrent sequence models: one model, every remedy an option (cell, activation, init, skip).

CELLS, INITS: registries (bench.registry.Registry); ACTIVATIONS, SKIPS: dicts of level -> properties.
Iterating any of them yields the valid level names.
"""

from models.cells import ACTIVATIONS, CELLS
from models.config import ModelConfig
from models.inits import INITS
from models.layer import SKIPS
from models.probe import gradient_flow
from models.sequence import SequenceModel

__all__ = ["ACTIVATIONS", "CELLS", "INITS", "SKIPS", "ModelConfig", "SequenceModel", "gradient_flow"]
