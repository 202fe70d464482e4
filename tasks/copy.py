"""Copy memory task (Arjovsky, Shah & Bengio 2016; layout of amarshah/complex_RNN memory_problem.py).

Input (length T+20): 10 symbols drawn uniformly from {1..8}, then T-1 blanks (0), a delimiter (9),
then 10 blanks. Target: blank (0) for the first T+10 steps, then the 10 symbols, in order, on the
10 steps right after the delimiter. Worked example with T=3 (shown with 3 symbols instead of 10):

    x = 5 2 7 | 0 0 | 9 | 0 0 0        y = 0 0 0 0 0 0 | 5 2 7

Loss: cross-entropy over all T+20 steps. Scored (the primary metric, `recall_ce`) by the cross-entropy over the
10 recall steps only, whose memoryless baseline is ln 8 (a uniform guess over the symbols) at every T: the all-steps
CE's baseline, 10·ln 8 / (T+20), shrinks like 1/T, so at long T its normalized score measures how sure the model
is of the blanks, not what it recalls, and scores at different T are not comparable. The all-steps CE (`ce`, as
the literature reports it) and the recall accuracy (baseline 1/8) are reported beside it. The gradient-flow probe
differentiates the recall steps' loss, from the last recall step back to the first symbol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnbench.tasks.base import TASKS, SyntheticSizes, Task, TaskSpec, positive_int

NUM_SYMBOLS = 8  # symbols 1..8
NUM_RECALL = 10  # symbols to remember
BLANK, DELIMITER = 0, 9


@TASKS.register("copy")
@dataclass(frozen=True)
class CopyTask(SyntheticSizes, Task):
    name = "copy"
    length_param = "delay"
    version = 3  # 3: seeds: training data, init and order from separate streams of the run seed, validation and test data the same for every seed; the recall-step CE scores it; 2: one order generator per run
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
            metrics=("recall_ce", "ce", "accuracy"),
            primary="recall_ce",
            baselines={"recall_ce": math.log(NUM_SYMBOLS), "ce": NUM_RECALL * math.log(NUM_SYMBOLS) / L,
                       "accuracy": 1 / NUM_SYMBOLS},
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
