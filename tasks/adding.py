"""Adding problem (Hochreiter & Schmidhuber 1997; the variant of Le et al. 2015 and Arjovsky et al. 2016).

Input: 2 channels over T steps: values drawn from U(0, 1), and a marker channel that is 1 at exactly
two positions, one drawn uniformly from the first half [0, T/2) and one from the second half
[T/2, T). Target (read at the last step): the sum of the two marked values. Example with T=6:

    values  .7 .1 .4 | .9 .2 .5
    marker   0  1  0 |  0  0  1      y = .1 + .5 = .6

Loss: MSE. The sum of two U(0,1) has mean 1 and variance 2/12, so always predicting 1 gives the
memoryless baseline MSE 1/6 ≈ 0.1667.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnbench.tasks.base import TASKS, SyntheticSizes, Task, TaskSpec, positive_int


@TASKS.register("adding")
@dataclass(frozen=True)
class AddingTask(SyntheticSizes, Task):
    name = "adding"
    length_param = "seq_len"
    version = 3  # 3: seeds: training data, init and order from separate streams of the run seed, validation and test data the same for every seed; 2: one order generator per run
    seq_len: int = 100  # T

    def __post_init__(self):
        positive_int(self.name, "seq_len", self.seq_len, minimum=2)
        self.check_sizes()

    def spec(self) -> TaskSpec:
        T = self.seq_len
        return TaskSpec(
            seq_len=T,
            input_dim=2,
            scored_steps=range(T - 1, T),
            metric_steps=range(T - 1, T),
            metrics=("mse",),
            primary="mse",
            baselines={"mse": 1 / 6},
            version=self.version,
        )

    def generate(self, n: int, gen: torch.Generator):
        T, half = self.seq_len, self.seq_len // 2
        values = torch.rand(n, T, generator=gen)
        first = torch.randint(0, half, (n,), generator=gen)
        second = torch.randint(half, T, (n,), generator=gen)
        marker = torch.zeros(n, T)
        rows = torch.arange(n)
        marker[rows, first] = 1.0
        marker[rows, second] = 1.0
        x = torch.stack([values, marker], dim=-1)  # (n, T, 2)
        y = (values[rows, first] + values[rows, second]).unsqueeze(1)  # (n, 1)
        return x, y
