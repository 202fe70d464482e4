"""Copy memory task (Arjovsky, Shah & Bengio 2016; layout of amarshah/complex_RNN memory_problem.py).

Input (length T+20): 10 symbols drawn uniformly from {1..8}, then T-1 blanks (0), a delimiter (9),
then 10 blanks. Target: blank (0) for the first T+10 steps, then the 10 symbols, in order, on the
10 steps right after the delimiter. Worked example with T=3 (shown with 3 symbols instead of 10):

    x = 5 2 7 | 0 0 | 9 | 0 0 0        y = 0 0 0 0 0 0 | 5 2 7

Loss: cross-entropy over all T+20 steps. Memoryless baseline: predict blank for T+10 steps, then a
uniform guess over the 8 symbols: CE = 10·ln 8 / (T+20); recall accuracy 1/8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tasks.base import TASKS, SyntheticSizes, Task, TaskSpec, positive_int

NUM_SYMBOLS = 8  # symbols 1..8
NUM_RECALL = 10  # symbols to remember
BLANK, DELIMITER = 0, 9


@TASKS.register("copy")
@dataclass(frozen=True)
class CopyTask(SyntheticSizes, Task):
    name = "copy"
    version = 2  # 2: the training order from the second epoch on (tasks.data: one generator per run, not per epoch)
    delay: int = 100  # T: blanks between the last symbol and the end of recall

    def __post_init__(self):
        positive_int(self.name, "delay", self.delay)
        self.check_sizes()

    @property
    def seq_len(self) -> int:
        return self.delay + 2 * NUM_RECALL

    def spec(self) -> TaskSpec:
        L = self.seq_len
        return TaskSpec(
            seq_len=L,
            vocab_size=NUM_SYMBOLS + 2,
            num_classes=NUM_SYMBOLS + 1,
            scored_steps=range(0, L),
            metric_steps=range(L - NUM_RECALL, L),
            metrics=("ce", "accuracy"),
            primary="ce",
            baselines={"ce": NUM_RECALL * math.log(NUM_SYMBOLS) / L, "accuracy": 1 / NUM_SYMBOLS},
            version=self.version,
        )

    def generate(self, n: int, gen: torch.Generator):
        L = self.seq_len
        symbols = torch.randint(1, NUM_SYMBOLS + 1, (n, NUM_RECALL), generator=gen)
        x = torch.full((n, L), BLANK, dtype=torch.long)
        x[:, :NUM_RECALL] = symbols
        x[:, L - NUM_RECALL - 1] = DELIMITER
        y = torch.full((n, L), BLANK, dtype=torch.long)
        y[:, L - NUM_RECALL :] = symbols
        return x, y
