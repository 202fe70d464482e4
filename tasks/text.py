"""Word-level next-word prediction on a real corpus, in independent windows of `bptt` words.

`corpus` is a named corpus or a local path: a folder of train/valid/test text files or a single text file
(tasks.corpus: where each is read from, and how a download is checked). Words are split on whitespace and
each line ends with `<eos>`; the `vocab_size - 1` most frequent train words are kept (ties broken
alphabetically), every other word becomes `<unk>`.

The token stream is cut into non-overlapping windows of `bptt` words; x is a window, y the same
window shifted by one word. Example with bptt=4 on "to be or not to be <eos>":

    x = to be or not        y = be or not to

Each window is an independent sequence: the model starts it from a zero state, and no hidden state is carried
over from the window before (Zaremba et al. 2014's stateful truncated BPTT, as in PyTorch's word_language_model,
carries it, detached, across contiguous windows). So a word's context is the words before it in its window
(bptt / 2 on average): the task measures dependencies within `bptt` words, the same way for every remedy, and
its perplexities are not comparable with published stateful ones. Training windows are shuffled.

The training stream starts at word `seed % bptt`, so seeds see different window boundaries; the
valid/test windows are the same for every seed. Metrics: perplexity over all steps and next-word
accuracy over the targets that are not `<unk>` (predicting `<unk>`, a quarter of the tokens at a small
vocabulary, is no skill). Memoryless baseline: the unigram model of the train split (add-one smoothed), scored on
the test windows' targets, which the test metrics score: its perplexity there, and the accuracy of
always predicting the train split's most frequent word other than `<unk>`, on the targets that are not `<unk>`. The
normalized score runs from 0 at that unigram perplexity to 1 at a reference a model can reach: an interpolated
Kneser-Ney trigram of the train split (KneserNey) on the test windows, each target with the context a model sees
there (perplexity 1, the metric's perfect value, is out of any model's reach: on that scale a model a third better
than the unigram would score 0.1). The gradient-flow probe differentiates the last step's loss, back to the window's
first word. (Scored on the train split itself, as until
task version 2, a memoryless predictor learnt from the train split scored 0.09 on tinyshakespeare's
test split instead of 0: the splits' word frequencies differ.)
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from rnnbench.bench.registry import check
from rnnbench.tasks.base import SPLITS, TASKS, Task, TaskSpec, positive_int
from rnnbench.tasks.corpus import CORPORA, corpus_digest, resolve_corpus
from rnnbench.tasks.kneser_ney import KneserNey

UNK, EOS = "<unk>", "<eos>"
UNK_ID = 0  # build_vocab puts `<unk>` first


def tokenize(lines: list[str]) -> list[str]:
    """Whitespace words, `<eos>` after every line."""
    words: list[str] = []
    for line in lines:
        words.extend(line.split())
        words.append(EOS)
    return words


def build_vocab(train_words: list[str], vocab_size: int) -> list[str]:
    """The vocab_size-1 most frequent train words (ties alphabetical) plus `<unk>` at index 0."""
    counts = Counter(w for w in train_words if w != UNK)
    kept = sorted(counts, key=lambda w: (-counts[w], w))[: vocab_size - 1]
    return [UNK] + kept


@lru_cache(maxsize=4)
def load_corpus(corpus: str, vocab_size: int) -> tuple[tuple[str, ...], dict[str, torch.Tensor]]:
    """(vocabulary, token ids per split); cached per process so a worker tokenizes once."""
    words = {split: tokenize(lines) for split, lines in resolve_corpus(corpus).items()}
    vocab = build_vocab(words["train"], vocab_size)
    index = {w: i for i, w in enumerate(vocab)}
    ids = {s: torch.tensor([index.get(w, UNK_ID) for w in ws], dtype=torch.long) for s, ws in words.items()}
    return tuple(vocab), ids


def unigram_baselines(train_ids: torch.Tensor, scored_ids: torch.Tensor, vocab_size: int) -> dict[str, float]:
    """The memoryless predictor learnt from the train split, scored on `scored_ids` (the targets the test metrics
    score): the perplexity of the train split's unigram distribution, add-one smoothed (`<unk>` has no train count
    where the vocabulary holds every train word, yet a test word may be unknown), and the accuracy of always
    predicting the train split's most frequent word other than `<unk>` (ties: the lowest id, as torch's argmax),
    on the scored targets that are not `<unk>` (as the accuracy metric counts them)."""
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1
    log_p = (counts / counts.sum()).log()
    known = scored_ids[scored_ids != UNK_ID]
    top = counts[UNK_ID + 1 :].argmax() + UNK_ID + 1
    return {"perplexity": math.exp(-log_p[scored_ids].mean().item()),
            "accuracy": (known == top).double().mean().item() if len(known) else float("nan")}


@lru_cache(maxsize=4)
def reference_perplexity(corpus: str, vocab_size: int, bptt: int) -> float:
    """The text task's reference, the perplexity that scores 1: a Kneser-Ney trigram of the train split (KneserNey),
    on the test windows, each target with the context a model sees there."""
    vocab, ids = load_corpus(corpus, vocab_size)
    return KneserNey(ids["train"], len(vocab)).perplexity(*windows(ids["test"], bptt))


def windows(ids: torch.Tensor, bptt: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping (x, y) windows of `bptt` tokens, y shifted by one."""
    ids = ids[offset:]
    n = (len(ids) - 1) // bptt
    check(n >= 1, f"a split has {len(ids)} tokens: too few for one window of bptt={bptt}")
    x = ids[: n * bptt].view(n, bptt)
    y = ids[1 : n * bptt + 1].view(n, bptt)
    return x, y


@TASKS.register("text")
@dataclass(frozen=True)
class TextTask(Task):
    name = "text"
    length_param = "bptt"
    version = 4  # 4: training data and order from separate streams of the run seed; accuracy leaves `<unk>`
    # targets out; the score's top is the Kneser-Ney reference; 3: one order generator per run; 2: the baseline is
    # scored on the test split
    corpus: str = "tinyshakespeare"  # a named corpus (see CORPORA) or a path to a folder or a file
    bptt: int = 35  # window length: the gradient's and the context's reach (no state carried between windows)
    vocab_size: int = 10_000  # vocabulary cap, `<unk>` included

    def __post_init__(self):
        positive_int(self.name, "bptt", self.bptt)
        positive_int(self.name, "vocab_size", self.vocab_size, minimum=2)
        path = Path(self.corpus).expanduser()
        check(
            self.corpus in CORPORA or path.exists(),
            f"unknown corpus {self.corpus!r}: not a file or folder; named corpora: {', '.join(CORPORA)}",
        )

    def _data(self):
        return load_corpus(self.corpus, self.vocab_size)

    def spec(self) -> TaskSpec:
        vocab, ids = self._data()
        steps = range(0, self.bptt)
        return TaskSpec(
            seq_len=self.bptt,
            vocab_size=len(vocab),
            num_classes=len(vocab),
            scored_steps=steps,
            metric_steps=steps,
            metrics=("perplexity", "accuracy"),
            primary="perplexity",
            baselines=unigram_baselines(ids["train"], self.make_split("test", seed=0)[1].reshape(-1), len(vocab)),
            references={"perplexity": reference_perplexity(self.corpus, self.vocab_size, self.bptt)},
            version=self.version,
            data_digest=corpus_digest(self.corpus),
            ignore_class=UNK_ID,
            dependency_steps=range(self.bptt - 1, self.bptt),
        )

    def data_identity(self) -> str | None:
        """A corpus given as a path: its files' digest now (a named corpus is pinned: the same name, the same text;
        None also for a path gone since, which a retrained run would only fail on)."""
        if self.corpus in CORPORA or not Path(self.corpus).expanduser().exists():
            return None
        return corpus_digest(self.corpus)

    def make_split(self, split: str, seed: int):
        check(split in SPLITS, f"unknown split {split!r}; valid choices: {', '.join(SPLITS)}")
        _, ids = self._data()
        return windows(ids[split], self.bptt, offset=seed % self.bptt if split == "train" else 0)
