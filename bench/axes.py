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

# the budget fields a suite's tuning grid may vary: the optimizer and the rate's magnitude are tuning (each combination
# is compared at its best setting, chosen on validation); the rate's schedule, the `lr` axis, is a remedy
TUNABLE = ("optimizer", "learning_rate")


def tuning_label(optimizer: str, learning_rate: float) -> str:
    """A run's tuning setting as the dry run and the leaderboard show it: "adam lr=0.001"."""
    return f"{optimizer} lr={learning_rate:g}"
