"""Delayed recall: remember one token across D distractors (the lecture's "Punjabi … Punjabi", isolated).

Tokens: cues 0..V-1, distractors V..V+M-1, go marker V+M.

Mode `cue` (default), length D+2: a cue, D distractors, then the go marker; the target at the go
step is the cue. Example with V=4, M=3, D=3 (distractors 4..6, go marker 7):

    x = 2 5 4 6 7      y (at the go step only) = 2

Mode `stream`, length D+stream_len: every token is a cue drawn from 0..V-1; at each step t >= D the
target is the token seen D steps earlier. Example with V=4, D=2, stream_len=3:

    x = 3 1 0 2 1      y (steps 2..4) = 3 1 0

Loss: cross-entropy at the scored steps. Memoryless baseline: CE = ln V, accuracy 1/V.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnbench.bench.registry import choice
from rnnbench.tasks.base import TASKS, SyntheticSizes, Task, TaskSpec, positive_int

MODES = ("cue", "stream")


@TASKS.register("delayed_recall")
@dataclass(frozen=True)
class DelayedRecallTask(SyntheticSizes, Task):
    name = "delayed_recall"
    length_param = "delay"
    version = 3  # 3: seeds: training data, init and order from separate streams of the run seed, validation and test data the same for every seed; 2: one order generator per run
    delay: int = 50  # D: distractors (cue mode) or lag (stream mode)
    num_cues: int = 8  # V
    num_distractors: int = 16  # M, distractor vocabulary (cue mode)
    mode: str = "cue"
    stream_len: int = 20  # scored steps in stream mode

    def __post_init__(self):
        positive_int(self.name, "delay", self.delay)
        positive_int(self.name, "num_cues", self.num_cues, minimum=2)
        positive_int(self.name, "num_distractors", self.num_distractors)
        positive_int(self.name, "stream_len", self.stream_len)
        choice(f"mode for task {self.name!r}", self.mode, MODES)
        self.check_sizes()

    @property
    def seq_len(self) -> int:
        return self.delay + (2 if self.mode == "cue" else self.stream_len)

    def spec(self) -> TaskSpec:
        L, V = self.seq_len, self.num_cues
        scored = range(L - 1, L) if self.mode == "cue" else range(self.delay, L)
        return TaskSpec(
            seq_len=L,
            vocab_size=V + self.num_distractors + 1 if self.mode == "cue" else V,
            num_classes=V,
            scored_steps=scored,
            metric_steps=scored,
            metrics=("ce", "accuracy"),
            primary="accuracy",
            baselines={"ce": math.log(V), "accuracy": 1 / V},
            version=self.version,
        )

    def generate(self, n: int, gen: torch.Generator):
        V, D = self.num_cues, self.delay
        if self.mode == "stream":
            x = torch.randint(0, V, (n, self.seq_len), generator=gen)
            return x, x[:, : self.seq_len - D].clone()
        cue = torch.randint(0, V, (n, 1), generator=gen)
        distractors = torch.randint(V, V + self.num_distractors, (n, D), generator=gen)
        go = torch.full((n, 1), V + self.num_distractors, dtype=torch.long)
        return torch.cat([cue, distractors, go], dim=1), cue.clone()
