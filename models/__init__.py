"""Recurrent sequence models: one model, every remedy an option (cell, activation, init, skip).

CELLS, ACTIVATIONS, INITS, SKIPS: the axes' registries (bench.registry.Registry), each level's name -> what implements
it; iterating one yields its level names, and a user's file (bench.plugins) registers a level of its own alike.
"""

from rnnbench.models.cells import CELLS
from rnnbench.models.recurrence import ACTIVATIONS
from rnnbench.models.config import ModelConfig
from rnnbench.models.inits import INITS
from rnnbench.models.layer import SKIPS
from rnnbench.models.probe import gradient_flow
from rnnbench.models.sequence import SequenceModel

__all__ = ["ACTIVATIONS", "CELLS", "INITS", "SKIPS", "ModelConfig", "SequenceModel", "gradient_flow"]
