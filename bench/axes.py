"""The remedy axes and the baseline level each remedy's effect is measured against.

Kept free of torch so that the leaderboard can read it without the training stack; the levels of
each axis live with what implements them (bench.config.AXES gathers them from the registries).
"""

BASELINE_LEVELS = {
    "cell": "rnn",
    "activation": "tanh",
    "init": "default",
    "clip": "none",
    "lr": "constant",
    "skip": "none",
}
AXIS_NAMES = tuple(BASELINE_LEVELS)
