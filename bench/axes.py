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


def setting_value(value) -> str:
    """A setting's value as a label shows it: a whole number as one (a table's column with gaps holds 32 as 32.0),
    other numbers in their shortest form, a missing one (an older record without the field) as "unset"."""
    if value is None or (isinstance(value, float) and value != value):
        return "unset"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def setting_tag(values: dict) -> str:
    """The fields a size sweep varies, as the label of a swept task setting shows them: "hidden_size=32, max_steps=800"
    (bench.config.RunConfig.setting_label, leaderboard.collect.separate_settings)."""
    return ", ".join(f"{name}={setting_value(value)}" for name, value in values.items())


def remedy_label(levels: dict[str, str]) -> str:
    """A combination's short name: its cell and the levels that differ from the baselines, the activation and init
    bare, the others as axis=level ("gru + chrono", "rnn + relu + identity + clip=norm"); the all-baseline plain RNN
    "rnn (baseline)". Unique: every non-baseline level is named, and no two axes share a level's name."""
    parts = [levels["cell"]] + [level if axis in ("activation", "init") else f"{axis}={level}"
                                for axis, level in levels.items() if axis != "cell" and level != BASELINE_LEVELS[axis]]
    return " + ".join(parts) if len(parts) > 1 or parts[0] != BASELINE_LEVELS["cell"] else f"{parts[0]} (baseline)"
