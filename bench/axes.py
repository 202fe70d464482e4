"""The remedy axes, their levels, and the baseline level each remedy's effect is measured against.

Kept free of torch so that the leaderboard can read it without the training stack.
"""

AXES: dict[str, tuple[str, ...]] = {
    "cell": ("rnn", "lstm", "gru"),
    "activation": ("tanh", "relu", "leaky_relu"),
    "init": ("default", "orthogonal", "identity", "chrono"),
    "clip": ("none", "norm", "value"),
    "lr": ("constant", "warmup_cosine", "plateau"),
    "skip": ("none", "temporal", "residual"),
}
BASELINE_LEVELS = {axis: levels[0] for axis, levels in AXES.items()}
GATED = ("lstm", "gru")  # cells with their own gate activations: the activation axis collapses on them
