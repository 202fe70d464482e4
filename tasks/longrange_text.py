"""English-like sentences with one controlled long-range dependency (the lecture's Punjabi example).

Each sample is a fact sentence, `delay` filler sentences, and a query sentence whose last word is
fixed by the fact, read as next-word prediction. Example with delay=1:

    i grew up in punjab . the old dog runs slowly . so i speak fluent punjabi .

x is the sequence without its last token, y the sequence shifted by one; every step is scored
(perplexity over all steps) and accuracy is measured on the one step whose target is the dependent
word (`punjabi`): chance is 1/num_facts, since the filler says nothing about it.
The memoryless perplexity baseline is the unigram perplexity of the generator's token distribution,
computed exactly from its slot lists (each slot draws one word uniformly). The gradient-flow probe differentiates
the answer step's loss, back to the place word (x[4]).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from rnnbench.bench.registry import check
from rnnbench.tasks.base import TASKS, SyntheticSizes, Task, TaskSpec, positive_int

FACTS = [
    ("punjab", "punjabi"), ("france", "french"), ("spain", "spanish"), ("germany", "german"),
    ("italy", "italian"), ("japan", "japanese"), ("china", "chinese"), ("greece", "greek"),
    ("russia", "russian"), ("poland", "polish"), ("sweden", "swedish"), ("turkey", "turkish"),
    ("portugal", "portuguese"), ("finland", "finnish"), ("hungary", "hungarian"), ("korea", "korean"),
]
FILLER = [  # one filler sentence: six slots, each a uniform choice
    ["the", "a", "one", "every"],
    ["old", "young", "quiet", "happy", "small", "tall", "tired", "clever"],
    ["dog", "farmer", "teacher", "river", "child", "bird", "train", "neighbour"],
    ["runs", "sleeps", "waits", "sings", "works", "walks", "reads", "moves"],
    ["slowly", "today", "again", "outside", "there", "quickly", "alone", "often"],
    ["."],
]


@TASKS.register("longrange_text")
@dataclass(frozen=True)
class LongRangeTextTask(SyntheticSizes, Task):
    name = "longrange_text"
    length_param = "delay"
    version = 3  # 3: seeds: training data, init and order from separate streams of the run seed, validation and test data the same for every seed; the probe reads the answer step's loss back to the place word; 2: one order
    # generator per run
    delay: int = 5  # D: filler sentences between the fact and the query
    num_facts: int = 8  # how many place -> language facts (chance accuracy 1/num_facts)

    def __post_init__(self):
        positive_int(self.name, "delay", self.delay, minimum=0)
        positive_int(self.name, "num_facts", self.num_facts, minimum=2)
        check(self.num_facts <= len(FACTS), f"task 'longrange_text': num_facts must be <= {len(FACTS)}, got {self.num_facts}")
        self.check_sizes()

    # the sample as a list of slots; the place slot (4) and the language slot (-2) are linked
    def _slots(self) -> list[list[str]]:
        places = [p for p, _ in FACTS[: self.num_facts]]
        langs = [lang for _, lang in FACTS[: self.num_facts]]
        fact = [["i"], ["grew"], ["up"], ["in"], places, ["."]]
        query = [["so"], ["i"], ["speak"], ["fluent"], langs, ["."]]
        return fact + FILLER * self.delay + query

    def _linked(self) -> tuple[int, int]:
        return 4, len(self._slots()) - 2

    def vocab(self) -> list[str]:
        words = dict.fromkeys(w for slot in self._slots() for w in slot)
        return list(words)

    @property
    def seq_len(self) -> int:
        return len(self._slots()) - 1

    def spec(self) -> TaskSpec:
        L, vocab = self.seq_len, self.vocab()
        answer = L - 2  # y[answer] is the language word (x[answer] is "fluent")
        return TaskSpec(
            seq_len=L,
            vocab_size=len(vocab),
            num_classes=len(vocab),
            scored_steps=range(0, L),
            metric_steps=range(answer, answer + 1),
            metrics=("perplexity", "accuracy"),
            primary="accuracy",
            baselines={"perplexity": self._unigram_perplexity(), "accuracy": 1 / self.num_facts},
            version=self.version,
            source_step=self._linked()[0],  # x[4] is the place word: the information the answer needs
        )

    def _unigram_perplexity(self) -> float:
        """Exact unigram perplexity of the target tokens: expected counts from the uniform slots."""
        expected: dict[str, float] = defaultdict(float)
        for slot in self._slots()[1:]:  # targets are tokens 1..L
            for w in slot:
                expected[w] += 1 / len(slot)
        total = sum(expected.values())
        return math.exp(-sum(c / total * math.log(c / total) for c in expected.values()))

    def generate(self, n: int, gen: torch.Generator):
        index = {w: i for i, w in enumerate(self.vocab())}
        slots = self._slots()
        cols = []
        fact_choice = torch.randint(0, self.num_facts, (n,), generator=gen)
        linked = self._linked()
        for position, slot in enumerate(slots):
            ids = torch.tensor([index[w] for w in slot])
            if position in linked:  # the place and its language share one draw
                cols.append(ids[fact_choice])
            else:
                cols.append(ids[torch.randint(0, len(slot), (n,), generator=gen)])
        seq = torch.stack(cols, dim=1)  # (n, L+1)
        return seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
