"""rnnbench: which remedies fix recurrent networks on long-range dependencies."""

__version__ = "0.1.0"
