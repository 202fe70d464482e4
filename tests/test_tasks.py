"""Tests of the task side: specs, seeded splits, data modules, baselines and config errors.

Registry-driven: every task in `tasks.TASKS` is built at a tiny size and run through the generic
checks (shapes, dtypes, seed determinism, data module coverage, Lightning), so a new task is tested
as soon as it registers. Task-specific facts (scored steps, analytic baselines, corpus loading)
follow, each checked against a direct, naive computation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F

import rnnbench.tasks as tasks
from rnnbench.bench.registry import ConfigError
from rnnbench.tasks import METRICS, TASKS, normalized_score
from rnnbench.tasks.base import SPLITS
from rnnbench.tasks.corpus import corpus_digest, corpus_path
from rnnbench.tasks.text import EOS, UNK, TextTask, load_corpus
from rnnbench.tasks.data import TaskDataModule


# --------------------------------------------------------------------------------------------------
# tiny instances of every registered task


def _shared_data() -> Path | None:
    """The project's shared data folder (never committed): ../shared/data, else $RNNBENCH_SHARED_DATA."""
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data"]
    if os.environ.get("RNNBENCH_SHARED_DATA"):
        candidates.append(Path(os.environ["RNNBENCH_SHARED_DATA"]))
    return next((p for p in candidates if p.is_dir()), None)


SHARED_DATA = _shared_data()

TINY_SIZES = {"train_size": 100, "val_size": 40, "test_size": 37}  # 37: a ragged last batch too

# name -> variants (params at a tiny size). "{corpus}" is replaced by a small generated text file.
# A task missing here is still tested: with its defaults and, where it has them, the tiny split sizes.
VARIANTS: dict[str, list[dict]] = {
    "copy": [{"delay": 5}],
    "adding": [{"seq_len": 20}],
    "delayed_recall": [
        {"delay": 6, "num_cues": 4, "num_distractors": 3},
        {"delay": 6, "num_cues": 4, "mode": "stream", "stream_len": 5},
    ],
    "longrange_text": [{"delay": 1, "num_facts": 4}],
    "text": [{"corpus": "{corpus}", "bptt": 8, "vocab_size": 30}],
}

CASES = [
    pytest.param((name, i), id=f"{name}-{i}")
    for name in TASKS.names()
    for i in range(len(VARIANTS.get(name, [{}])))
]


def _corpus_lines(n_lines: int, seed: int, n_words: int = 80) -> list[str]:
    """Zipf-like English-ish lines, with a few literal <unk> tokens (as in WikiText) and empty lines."""
    rng = random.Random(seed)
    words = [f"w{k:02d}" for k in range(n_words)]
    weights = [1 / (k + 1) for k in range(n_words)]
    lines = []
    for i in range(n_lines):
        if i % 17 == 5:
            lines.append("")
            continue
        line = rng.choices(words, weights, k=rng.randint(3, 12))
        if i % 11 == 0:
            line.insert(rng.randint(0, len(line)), UNK)
        lines.append(" ".join(line))
    return lines


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text("\n".join(_corpus_lines(300, seed=0)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _fresh_corpus_cache():
    """load_corpus is lru_cached per process: never let one test see another's corpus."""
    for cached in (load_corpus, corpus_digest, corpus_path):
        cached.cache_clear()
    yield
    for cached in (load_corpus, corpus_digest, corpus_path):
        cached.cache_clear()


def build(name: str, variant: int, corpus: Path, **overrides) -> tasks.Task:
    cls = TASKS.get(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    params = {k: v for k, v in TINY_SIZES.items() if k in fields}
    params.update(VARIANTS.get(name, [{}])[variant])
    params = {k: (str(corpus) if v == "{corpus}" else v) for k, v in params.items()}
    params.update(overrides)
    return cls.from_params(params)


@pytest.fixture(params=CASES)
def task(request, tiny_corpus) -> tasks.Task:
    name, variant = request.param
    return build(name, variant, tiny_corpus)


def test_every_registered_task_is_covered():
    assert TASKS.names(), "no task registered"
    assert {"copy", "adding", "delayed_recall", "text", "longrange_text"} <= set(TASKS.names())
    for name, cls in TASKS.items():
        assert cls.name == name and isinstance(cls.version, int)


def test_every_registered_task_declares_its_length_parameter():
    """None or one of its whole-number fields (what the leaderboard's frontier and known claims read a setting's
    length from: every record names it); the shipped tasks' are the parameters their suites sweep."""
    for name, cls in TASKS.items():
        ints = {f.name for f in dataclasses.fields(cls) if type(f.default) is int}
        assert cls.length_param is None or cls.length_param in ints, (name, cls.length_param, ints)
    shipped = {"adding": "seq_len", "copy": "delay", "delayed_recall": "delay", "longrange_text": "delay",
               "text": "bptt"}
    assert {name: TASKS.get(name).length_param for name in shipped} == shipped


# --------------------------------------------------------------------------------------------------
# 2. shapes, dtypes, seeds, data modules (every task)


def _check_xy(spec: tasks.TaskSpec, x: torch.Tensor, y: torch.Tensor) -> None:
    B, S = len(x), len(spec.scored_steps)
    assert B > 0
    if spec.vocab_size is not None:
        assert x.dtype == torch.long and x.shape == (B, spec.seq_len)
        assert x.min() >= 0 and x.max() < spec.vocab_size
    else:
        assert x.dtype == torch.float32 and x.shape == (B, spec.seq_len, spec.input_dim)
        assert torch.isfinite(x).all()
    if spec.num_classes is not None:
        assert y.dtype == torch.long and y.shape == (B, S)
        assert y.min() >= 0 and y.max() < spec.num_classes
    else:
        assert y.dtype == torch.float32 and y.shape == (B, S)
        assert torch.isfinite(y).all()


def test_spec_is_consistent(task):
    spec = task.spec()
    assert spec.version == type(task).version
    assert spec.output_dim == (spec.num_classes or 1)
    assert spec.loss == ("ce" if spec.num_classes is not None else "mse")
    m = spec.metric_slice
    assert m.stop - m.start == len(spec.metric_steps) and 0 <= m.start < m.stop <= len(spec.scored_steps)
    for metric, baseline in spec.baselines.items():
        assert math.isfinite(baseline)
        assert normalized_score(metric, baseline, baseline) == pytest.approx(0.0, abs=1e-12)


def test_splits_match_spec(task):
    spec = task.spec()
    for split in SPLITS:
        x, y = task.make_split(split, seed=0)
        _check_xy(spec, x, y)
        if "train_size" in {f.name for f in dataclasses.fields(task)}:
            assert len(x) == getattr(task, f"{split}_size")


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a, b)


def test_same_seed_same_data_different_seed_different_train(task):
    torch.manual_seed(1)  # the global RNG must not matter: splits come from their own generators
    a = TaskDataModule(task, batch_size=16, seed=3)
    a.setup("fit")
    torch.manual_seed(2)
    b = TaskDataModule(task, batch_size=16, seed=3)
    b.setup("fit")
    c = TaskDataModule(task, batch_size=16, seed=4)
    c.setup("fit")
    for split in SPLITS:
        for ta, tb in zip(a.splits[split], b.splits[split]):
            assert _same(ta, tb), f"split {split} differs for the same seed"
    assert not _same(a.splits["train"][0], c.splits["train"][0]), "seeds 3 and 4 gave the same train inputs"
    # the three splits of one seed are not copies of one another
    assert not _same(a.splits["train"][0][: len(a.splits["val"][0])], a.splits["val"][0])


def _rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One float64 row per sample (x and y flattened side by side): a multiset key for a sample."""
    return torch.cat([x.reshape(len(x), -1).double(), y.reshape(len(y), -1).double()], dim=1)


def _multiset(rows: torch.Tensor):
    uniq, counts = torch.unique(rows, dim=0, return_counts=True)
    return uniq, counts


@pytest.mark.parametrize("batch_size", [16])
def test_dataloaders_cover_each_sample_once_per_epoch(task, batch_size):
    spec = task.spec()
    dm = TaskDataModule(task, batch_size=batch_size, seed=0)
    dm.setup("fit")
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    for split, loader in loaders.items():
        x_all, y_all = dm.splits[split]
        n = len(x_all)
        assert len(loader) == math.ceil(n / batch_size)
        orders = []
        for _epoch in range(2 if split == "train" else 1):
            xs, ys, sizes = [], [], []
            for x, y in loader:
                _check_xy(spec, x, y)
                assert len(x) == len(y)
                xs.append(x)
                ys.append(y)
                sizes.append(len(x))
            assert len(sizes) == len(loader)
            assert all(s == batch_size for s in sizes[:-1]) and 1 <= sizes[-1] <= batch_size
            assert sum(sizes) == n
            got, want = _multiset(_rows(torch.cat(xs), torch.cat(ys))), _multiset(_rows(x_all, y_all))
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), f"{split}: not each sample once"
            orders.append(torch.cat(xs))
        if split == "train":
            assert not torch.equal(orders[0], orders[1]), "train order is not reshuffled between epochs"
        else:
            assert torch.equal(orders[0], x_all), f"{split} must be served in order"


class _Recorder(L.LightningModule):
    """The least a LightningModule needs, recording the batches Lightning hands it."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[str, list[int]] = {"train": [], "val": [], "test": []}

    def _step(self, split, batch):
        x, y = batch
        assert len(x) == len(y)
        self.seen[split].append(len(x))
        return (self.w**2).sum()

    def training_step(self, batch, i):
        return self._step("train", batch)

    def validation_step(self, batch, i):
        self._step("val", batch)

    def test_step(self, batch, i):
        self._step("test", batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_datamodule_runs_under_a_real_trainer(task):
    dm = TaskDataModule(task, batch_size=16, seed=0)
    model = _Recorder()
    kw = dict(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )
    L.Trainer(max_epochs=2, **kw).fit(model, datamodule=dm)
    L.Trainer(**kw).test(model, datamodule=dm, verbose=False)
    n = {split: len(dm.splits[split][0]) for split in SPLITS}
    assert sum(model.seen["train"]) == 2 * n["train"]
    assert sum(model.seen["val"]) == 2 * n["val"]  # one validation pass per epoch
    assert sum(model.seen["test"]) == n["test"]


def test_batches_are_served_on_the_trainers_device_in_the_same_order():
    """On a GPU the splits stay resident on the trainer's device (no host copy per step); the order of the
    batches must not depend on where they are served."""
    from rnnbench.tasks.data import _BatchIndices

    task = TASKS.get("adding")(seq_len=10, train_size=40, val_size=8, test_size=8)
    dm = TaskDataModule(task, batch_size=16, seed=3)
    alone = [x.clone() for x, _ in dm.train_dataloader()]
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    dm.trainer = trainer
    assert dm.serving_device() == trainer.strategy.root_device
    attached = [x for x, _ in dm.train_dataloader()]
    assert [len(x) for x in alone] == [16, 16, 8] and all(torch.equal(a, b) for a, b in zip(alone, attached))
    on_meta = list(_BatchIndices(40, 16, shuffle=True, seed=3, device="meta"))
    on_cpu = list(_BatchIndices(40, 16, shuffle=True, seed=3))
    assert all(i.device.type == "meta" for i in on_meta) and [len(i) for i in on_meta] == [len(i) for i in on_cpu]
    assert dm.splits["train"][0].device.type == "cpu"  # the probe and the next run read the CPU copy


def test_training_orders_are_not_shared_between_seeds():
    """Each seed's epochs follow one generator: seed s's second epoch is not seed s + 1's first (reseeding every
    epoch with seed + epoch made it so, and the text task's seeds s and s + 1 then met nearly the same windows
    in the same order); the same seed gives the same orders again."""
    from rnnbench.tasks.data import _BatchIndices

    def orders(seed, epochs=3):
        sampler = _BatchIndices(64, 64, shuffle=True, seed=seed)
        return [next(iter(sampler)) for _ in range(epochs)]

    for seed in range(4):
        mine, next_seed = orders(seed), orders(seed + 1)
        assert all(torch.equal(a, b) for a, b in zip(mine, orders(seed)))
        assert not any(torch.equal(a, b) for a in mine for b in next_seed)
        assert not torch.equal(mine[0], mine[1])


@pytest.mark.parametrize("n, world", [(70, 2), (70, 3), (16, 2), (5, 5)])
def test_under_ddp_each_evaluation_sample_is_scored_once_and_training_steps_in_lockstep(n, world):
    """n samples in batches of 16 over `world` processes: validation and test shards hold every sample once (a
    repeated batch would count twice in the summed metrics) and every process some, even where the split is one
    batch (a process without one would leave the others waiting at the metrics' sync); training shards are
    equally long, padded with batches from the epoch's start, and cover every sample."""
    from rnnbench.tasks.data import _BatchIndices

    def shards(pad: bool):
        samplers = [_BatchIndices(n, 16, shuffle=pad, seed=1, rank=r, world=world, pad=pad) for r in range(world)]
        return [list(s) for s in samplers], [len(s) for s in samplers]

    evaluation, lengths = shards(pad=False)
    assert sorted(i for shard in evaluation for batch in shard for i in batch.tolist()) == list(range(n))
    assert [len(shard) for shard in evaluation] == lengths and min(lengths) >= 1
    train, lengths = shards(pad=True)
    assert [len(shard) for shard in train] == lengths and len(set(lengths)) == 1
    assert lengths[0] == math.ceil(math.ceil(n / 16) / world)
    assert {i for shard in train for batch in shard for i in batch.tolist()} == set(range(n))


# --------------------------------------------------------------------------------------------------
# 1. analytic baselines of copy and adding against the memoryless predictor


def test_copy_memoryless_baseline():
    task = TASKS.get("copy")(delay=5, test_size=2000)
    spec = task.spec()
    T, Lq, C = task.delay, spec.seq_len, spec.num_classes
    assert spec.baselines["ce"] == pytest.approx(10 * math.log(8) / (T + 20))
    assert spec.baselines["accuracy"] == pytest.approx(1 / 8)
    x, y = task.make_split("test", seed=0)
    # blank with probability 1 for the first T+10 steps, then uniform over the symbols 1..8
    logits = torch.full((len(y), Lq, C), -math.inf)
    logits[:, : T + 10, 0] = 0.0
    logits[:, T + 10 :, 1:9] = 0.0
    ce = F.cross_entropy(logits.reshape(-1, C), y.reshape(-1)).item()
    assert ce == pytest.approx(spec.baselines["ce"], rel=0.02)
    # a constant guess on the recall steps is right 1/8 of the time
    acc = (y[:, spec.metric_slice] == 1).double().mean().item()
    assert acc == pytest.approx(spec.baselines["accuracy"], abs=0.01)


def test_adding_memoryless_baseline_and_target_moments():
    task = TASKS.get("adding")(seq_len=20, test_size=20_000)
    spec = task.spec()
    assert spec.baselines["mse"] == pytest.approx(1 / 6)
    x, y = task.make_split("test", seed=0)
    mse = F.mse_loss(torch.ones_like(y), y).item()
    assert mse == pytest.approx(spec.baselines["mse"], rel=0.02)
    assert y.mean().item() == pytest.approx(1.0, rel=0.03)
    assert y.var().item() == pytest.approx(1 / 6, rel=0.03)


# --------------------------------------------------------------------------------------------------
# 3. the scored steps are the ones the spec names


def test_copy_layout():
    task = TASKS.get("copy")(delay=5, train_size=500)
    spec = task.spec()
    T, Lq = task.delay, spec.seq_len
    x, y = task.make_split("train", seed=0)
    assert Lq == T + 20
    assert spec.scored_steps == range(0, Lq) and spec.metric_steps == range(Lq - 10, Lq)
    assert (x[:, :10] >= 1).all() and (x[:, :10] <= 8).all()
    assert (x[:, 10 : T + 9] == 0).all(), "T-1 blanks after the symbols"
    assert (x[:, T + 9] == 9).all() and T + 9 == Lq - 11, "delimiter at T+9"
    assert ((x == 9).sum(dim=1) == 1).all()
    assert (x[:, T + 10 :] == 0).all()
    assert (y[:, : T + 10] == 0).all()
    assert torch.equal(y[:, T + 10 :], x[:, :10])
    assert torch.equal(y[:, spec.metric_slice], x[:, :10])


def test_adding_layout():
    task = TASKS.get("adding")(seq_len=21, train_size=500)  # odd length: halves [0, 10) and [10, 21)
    spec = task.spec()
    T = task.seq_len
    assert spec.scored_steps == range(T - 1, T) and spec.metric_steps == range(T - 1, T)
    x, y = task.make_split("train", seed=0)
    values, marker = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert ((marker == 0) | (marker == 1)).all()
    half = T // 2
    assert (marker[:, :half].sum(dim=1) == 1).all() and (marker[:, half:].sum(dim=1) == 1).all()
    torch.testing.assert_close(y[:, 0], (values * marker).sum(dim=1))


def test_delayed_recall_cue_layout():
    V, M, D = 4, 3, 6
    task = TASKS.get("delayed_recall")(delay=D, num_cues=V, num_distractors=M, train_size=500)
    spec = task.spec()
    x, y = task.make_split("train", seed=0)
    assert spec.seq_len == D + 2 and spec.scored_steps == range(D + 1, D + 2) == spec.metric_steps
    assert spec.num_classes == V and spec.vocab_size == V + M + 1
    assert torch.equal(y[:, 0], x[:, 0]) and (x[:, 0] < V).all()
    assert (x[:, -1] == V + M).all() and ((x == V + M).sum(dim=1) == 1).all()
    assert ((x[:, 1:-1] >= V) & (x[:, 1:-1] < V + M)).all()
    assert len(x[:, 1:-1].unique()) == M, "every distractor token is used"


def test_delayed_recall_stream_layout():
    V, D, S = 4, 6, 5
    task = TASKS.get("delayed_recall")(delay=D, num_cues=V, mode="stream", stream_len=S, train_size=500)
    spec = task.spec()
    x, y = task.make_split("train", seed=0)
    assert spec.seq_len == D + S and spec.scored_steps == range(D, D + S) == spec.metric_steps
    assert y.shape == (len(x), S)
    for j, t in enumerate(spec.scored_steps):
        assert torch.equal(y[:, j], x[:, t - D]), f"target at step {t} is not x[{t - D}]"
    # the target is not simply the current token (that would need no memory)
    assert not torch.equal(y, x[:, D:])


def test_longrange_text_layout():
    from rnnbench.tasks.longrange_text import FACTS

    task = TASKS.get("longrange_text")(delay=2, num_facts=5, train_size=500)
    spec = task.spec()
    vocab = task.vocab()
    assert len(vocab) == len(set(vocab)) == spec.vocab_size == spec.num_classes
    x, y = task.make_split("train", seed=0)
    Lq = spec.seq_len
    assert spec.scored_steps == range(0, Lq)
    # every target is the next input token
    assert torch.equal(y[:, :-1], x[:, 1:])
    places = {vocab.index(p): lang for p, lang in FACTS[: task.num_facts]}
    langs = {vocab.index(lang) for _, lang in FACTS[: task.num_facts]}
    is_place = torch.isin(x, torch.tensor(list(places)))
    assert (is_place.sum(dim=1) == 1).all(), "one fact per sample"
    # the language appears in the targets exactly once, at the one metric step
    is_lang = torch.isin(y, torch.tensor(list(langs)))
    assert (is_lang.sum(dim=1) == 1).all()
    cols = is_lang.float().argmax(dim=1)
    assert (cols == cols[0]).all()
    assert spec.metric_steps == range(int(cols[0]), int(cols[0]) + 1)
    assert vocab[int(x[0, cols[0]])] == "fluent"
    place_tok = x[is_place]
    answer = y[:, spec.metric_slice][:, 0]
    assert all(vocab[int(a)] == places[int(p)] for p, a in zip(place_tok, answer))
    assert len(place_tok.unique()) == task.num_facts


@pytest.mark.parametrize("seed", [0, 3])
def test_text_targets_are_inputs_shifted_by_one(tiny_corpus, seed):
    task = TextTask(corpus=str(tiny_corpus), bptt=8, vocab_size=30)
    _, ids = load_corpus(task.corpus, task.vocab_size)
    for split in SPLITS:
        x, y = task.make_split(split, seed=seed)
        off = seed % task.bptt if split == "train" else 0
        n = x.numel()
        assert torch.equal(x.reshape(-1), ids[split][off : off + n])
        assert torch.equal(y.reshape(-1), ids[split][off + 1 : off + 1 + n])
        assert n + off + task.bptt > len(ids[split]) - 1, "a whole window was dropped"


# --------------------------------------------------------------------------------------------------
# 4. text corpus loading, vocabulary cap and unigram baseline


def counted_unigram(train_lines: list[str], test_lines: list[str], vocab_size: int,
                    bptt: int) -> tuple[list[str], float, float]:
    """Vocabulary, and the train split's add-one unigram model scored on the test windows' targets (perplexity,
    and the accuracy of always predicting the train split's most frequent word other than <unk>, on the targets that
    are not <unk>), counted directly with Counter."""
    def tokens(lines):
        return [w for line in lines for w in line.split() + [EOS]]
    words = tokens(train_lines)
    counts = Counter(w for w in words if w != UNK)
    kept = sorted(counts, key=lambda w: (-counts[w], w))[: vocab_size - 1]
    vocab, keep = [UNK] + kept, set(kept)
    mapped = Counter(w if w in keep else UNK for w in words)
    test = [w if w in keep else UNK for w in tokens(test_lines)]
    scored = test[1 : (len(test) - 1) // bptt * bptt + 1]  # y of the non-overlapping windows
    total = len(words) + len(vocab)
    ppl = math.exp(-sum(math.log((mapped[w] + 1) / total) for w in scored) / len(scored))
    top = min(vocab[1:], key=lambda w: (-mapped[w], vocab.index(w)))  # most frequent known word; ties: the lowest id
    known = [w for w in scored if w != UNK]
    return vocab, ppl, sum(w == top for w in known) / len(known)


def _check_text_task(task: TextTask, train_lines, test_lines, split_lines: dict[str, list[str]] | None = None):
    spec = task.spec()
    vocab, ids = load_corpus(task.corpus, task.vocab_size)
    want_vocab, ppl, acc = counted_unigram(train_lines, test_lines, task.vocab_size, task.bptt)
    assert list(vocab) == want_vocab
    assert len(vocab) <= task.vocab_size and spec.vocab_size == spec.num_classes == len(vocab)
    assert spec.baselines["perplexity"] == pytest.approx(ppl, rel=1e-9)
    assert spec.baselines["accuracy"] == pytest.approx(acc, rel=1e-9)
    index = {w: i for i, w in enumerate(vocab)}
    for split, lines in (split_lines or {}).items():
        words = [w for line in lines for w in line.split() + [EOS]]
        assert ids[split].tolist() == [index.get(w, 0) for w in words], f"{split} tokens"
    for split in SPLITS:
        x, y = task.make_split(split, seed=1)
        assert len(x) >= 1
        _check_xy(spec, x, y)
    return spec, vocab


def test_text_spec_names_its_data_by_content(tiny_corpus, tmp_path):
    """data_digest: the same text at another path, the same digest; one word changed, another; a runner record
    carries it as task_data (the leaderboard keeps such runs apart). Synthetic tasks have none."""
    from rnnbench.bench.config import Budget, RunConfig
    from rnnbench.bench.recorder import new_record
    from rnnbench.bench.prepare import prepare_run
    from rnnbench.models import ModelConfig
    copy = tmp_path / "copy.txt"
    copy.write_bytes(tiny_corpus.read_bytes())
    digest = TextTask(corpus=str(tiny_corpus), bptt=8, vocab_size=30).spec().data_digest
    assert digest == TextTask(corpus=str(copy), bptt=8, vocab_size=30).spec().data_digest
    want = hashlib.sha256(hashlib.sha256(tiny_corpus.read_bytes()).hexdigest().encode()).hexdigest()[:16]
    assert digest == want
    copy.write_text(copy.read_text(encoding="utf-8").replace(" ", "  ", 1), encoding="utf-8")
    corpus_digest.cache_clear()
    assert TextTask(corpus=str(copy), bptt=8, vocab_size=30).spec().data_digest != digest
    cfg = RunConfig("text", {"corpus": str(tiny_corpus), "bptt": 8, "vocab_size": 30}, ModelConfig(hidden_size=4),
                    budget=Budget(max_steps=2, batch_size=2, eval_every=2, probe_batch=2))
    record = new_record(cfg, "test")
    prepare_run(cfg, record)
    assert record.task_data == digest
    assert TASKS.get("adding")(seq_len=5, train_size=8, val_size=4, test_size=4).spec().data_digest is None


def test_text_single_file_is_split_90_5_5(tiny_corpus):
    lines = tiny_corpus.read_text(encoding="utf-8").splitlines()
    a, b = int(len(lines) * 0.9), int(len(lines) * 0.95)
    task = TextTask(corpus=str(tiny_corpus), bptt=8, vocab_size=30)
    _, vocab = _check_text_task(
        task, lines[:a], lines[b:], {"train": lines[:a], "val": lines[a:b], "test": lines[b:]}
    )
    assert len(vocab) == 30, "the corpus has more words than the cap"
    assert vocab.count(UNK) == 1 and vocab[0] == UNK


@pytest.mark.parametrize("names", [("train", "valid", "test"), ("ptb.train", "ptb.valid", "ptb.test")])
def test_text_corpus_folder(tmp_path, names):
    split_lines = {
        "train": _corpus_lines(120, seed=1),
        "val": _corpus_lines(30, seed=2, n_words=100),  # words the train split never saw -> <unk>
        "test": _corpus_lines(30, seed=3),
    }
    for stem, split in zip(names, SPLITS):
        (tmp_path / f"{stem}.txt").write_text("\n".join(split_lines[split]) + "\n", encoding="utf-8")
    task = TextTask(corpus=str(tmp_path), bptt=6, vocab_size=1000)
    _, vocab = _check_text_task(task, split_lines["train"], split_lines["test"], split_lines)
    assert len(vocab) < 1000 and EOS in vocab, "a cap above the corpus vocabulary keeps every word"


def test_a_memoryless_predictor_learnt_from_the_train_split_scores_zero_on_text(tmp_path):
    """The baseline is what it claims: the train split's unigram as every step's output, through the suite's own
    test metrics on the test split, lands exactly at the baseline (normalized score 0), its accuracy too. The
    splits' word frequencies differ (and the test split has words the train split never saw, so `<unk>`)."""
    from rnnbench.bench.metrics import TaskMetrics

    for split, seed, n_words in (("train", 1, 40), ("valid", 2, 60), ("test", 3, 60)):
        (tmp_path / f"{split}.txt").write_text("\n".join(_corpus_lines(80, seed=seed, n_words=n_words)) + "\n")
    task = TextTask(corpus=str(tmp_path), bptt=7, vocab_size=1000)
    spec = task.spec()
    _, ids = load_corpus(task.corpus, task.vocab_size)
    counts = torch.bincount(ids["train"], minlength=spec.num_classes).double() + 1
    metrics = TaskMetrics(spec)
    x, y = task.make_split("test", seed=0)
    metrics.update((counts / counts.sum()).log().float().expand(*x.shape, -1), y)
    values = metrics.compute()
    assert normalized_score(spec.primary, values["perplexity"], spec.baselines["perplexity"]) == pytest.approx(0, abs=1e-5)
    assert values["accuracy"] == pytest.approx(spec.baselines["accuracy"], abs=1e-6)
    p = counts / counts.sum()
    on_itself = math.exp(-(p * p.log()).sum().item())  # the train unigram's perplexity on the train split
    assert abs(normalized_score(spec.primary, values["perplexity"], on_itself)) > 1e-3, "task version 1's baseline"


def test_text_vocab_ties_broken_alphabetically(tmp_path):
    path = tmp_path / "ties.txt"
    path.write_text("\n".join(["b a c a b c d"] * 20) + "\n", encoding="utf-8")  # a, b, c tie; d and <eos> tie
    vocab, _ = load_corpus(str(path), 4)
    assert list(vocab) == [UNK, "a", "b", "c"]


def _need_shared(*rel: str) -> list[Path]:
    if SHARED_DATA is None:
        pytest.skip("shared data folder not found (../shared/data next to the repo, or $RNNBENCH_SHARED_DATA)")
    paths = [SHARED_DATA / r for r in rel]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"shared data file(s) absent: {', '.join(missing)}")
    return paths


def test_text_on_tinyshakespeare_single_file():
    (path,) = _need_shared("tinyshakespeare/input.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    task = TextTask(corpus=str(path), bptt=35, vocab_size=2000)
    spec, vocab = _check_text_task(task, lines[: int(len(lines) * 0.9)], lines[int(len(lines) * 0.95) :])
    assert len(vocab) == 2000
    assert 1 < spec.baselines["perplexity"] < 2000


def test_text_on_wikitext_folder(tmp_path):
    valid, test = _need_shared("wikitext-2/valid.txt", "wikitext-2/test.txt")
    shutil.copy(valid, tmp_path / "train.txt")
    shutil.copy(test, tmp_path / "valid.txt")
    shutil.copy(test, tmp_path / "test.txt")
    train_lines = valid.read_text(encoding="utf-8").splitlines()
    task = TextTask(corpus=str(tmp_path), bptt=35, vocab_size=5000)
    spec, vocab = _check_text_task(task, train_lines, test.read_text(encoding="utf-8").splitlines())
    assert len(vocab) == 5000 and vocab.count(UNK) == 1, "WikiText's own <unk> is the one <unk>"


# --------------------------------------------------------------------------------------------------
# 5. bad parameters: one-line ConfigError naming the parameter and what is valid


BAD = [
    pytest.param("copy", {"delay": 0}, ["delay", ">= 1"], id="copy-delay-0"),
    pytest.param("adding", {"seq_len": -5}, ["seq_len", ">= 2"], id="adding-seq_len-neg"),
    pytest.param("delayed_recall", {"mode": "foo"}, ["mode", "cue", "stream"], id="recall-mode-foo"),
    pytest.param("text", {"corpus": "nosuchcorpus"}, ["corpus", "tinyshakespeare", "wikitext-2", "ptb"], id="corpus"),
    pytest.param("copy", {"dela": 5}, ["dela", "delay", "valid parameters"], id="unknown-param"),
    pytest.param("copy", {"delay": "ten"}, ["delay", "int", "'ten'"], id="delay-str"),
    pytest.param("copy", {"delay": 5.0}, ["delay", "int"], id="delay-float"),
    pytest.param("copy", {"delay": True}, ["delay", "int"], id="delay-bool"),
    pytest.param("text", {"corpus": None}, ["corpus", "str"], id="corpus-none"),
    pytest.param("text", {"corpus": 5}, ["corpus", "str"], id="corpus-int"),
    pytest.param("longrange_text", {"num_facts": 99}, ["num_facts", "<= 16"], id="num_facts"),
]


def _assert_one_line(err: pytest.ExceptionInfo, needles: list[str]) -> None:
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"


@pytest.mark.parametrize("name, params, needles", BAD)
def test_bad_params_raise_config_error(name, params, needles):
    with pytest.raises(ConfigError) as err:
        TASKS.get(name).from_params(params)
    _assert_one_line(err, needles)


def test_direct_construction_is_checked_too():
    with pytest.raises(ConfigError) as err:
        TASKS.get("copy")(delay=0)
    _assert_one_line(err, ["delay", ">= 1"])
    with pytest.raises(ConfigError) as err:
        TASKS.get("adding")(seq_len=20, train_size=0)
    _assert_one_line(err, ["train_size", ">= 1"])


def test_unknown_task_name_suggests():
    with pytest.raises(ConfigError) as err:
        TASKS.get("coppy")
    _assert_one_line(err, ["coppy", "did you mean 'copy'", "valid choices"])


def test_corpus_folder_without_files(tmp_path):
    with pytest.raises(ConfigError) as err:
        TextTask(corpus=str(tmp_path)).spec()
    _assert_one_line(err, ["corpus", str(tmp_path), "train.txt"])


def test_corpus_file_too_short(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("a b\nc d\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        TextTask(corpus=str(path)).spec()
    _assert_one_line(err, ["corpus", "at least 20"])


def test_text_bptt_longer_than_a_split(tiny_corpus):
    with pytest.raises(ConfigError) as err:
        TextTask(corpus=str(tiny_corpus), bptt=10_000).make_split("val", seed=0)
    _assert_one_line(err, ["bptt=10000"])


# --------------------------------------------------------------------------------------------------
# 6. longrange_text: analytic unigram perplexity against a large generated split


@pytest.mark.parametrize("delay, num_facts", [(0, 16), (3, 8)])
def test_longrange_text_unigram_baseline(delay, num_facts):
    task = TASKS.get("longrange_text")(delay=delay, num_facts=num_facts, train_size=20_000)
    spec = task.spec()
    _, y = task.make_split("train", seed=0)
    p = torch.bincount(y.reshape(-1), minlength=spec.num_classes).double() / y.numel()
    p = p[p > 0]
    empirical = math.exp(-(p * p.log()).sum().item())
    assert spec.baselines["perplexity"] == pytest.approx(empirical, rel=0.01)
    assert spec.baselines["accuracy"] == pytest.approx(1 / num_facts)


# --------------------------------------------------------------------------------------------------
# 7. normalized score


@pytest.mark.parametrize("metric", list(METRICS))
def test_normalized_score_anchors(metric):
    info = METRICS[metric]
    baseline = {"ce": 2.0, "mse": 1 / 6, "accuracy": 0.125, "perplexity": 250.0}.get(
        metric, info.perfect + (-0.5 if info.higher_is_better else 0.5)
    )
    assert normalized_score(metric, info.perfect, baseline) == pytest.approx(1.0)
    assert normalized_score(metric, baseline, baseline) == pytest.approx(0.0, abs=1e-12)
    if info.log_scale:
        mid = math.exp((math.log(info.perfect) + math.log(baseline)) / 2)  # geometric midpoint
    else:
        mid = (info.perfect + baseline) / 2
    assert normalized_score(metric, mid, baseline) == pytest.approx(0.5)
    worse = baseline * 2 if not info.higher_is_better else baseline / 2
    assert normalized_score(metric, worse, baseline) < 0
    assert math.isnan(normalized_score(metric, float("nan"), baseline))


def test_perplexity_score_is_in_log_space():
    # ppl 10 against a baseline of 100 is half way in log space (not 0.909 as it would be linearly)
    assert normalized_score("perplexity", 10.0, 100.0) == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------------
# 8. named corpora: the download cache, offline


@pytest.fixture
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty RNNBENCH_CACHE; every HTTP(S) request goes to a closed local port, so nothing downloads."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RNNBENCH_CACHE", str(cache))
    monkeypatch.delenv("RNNBENCH_DATA", raising=False)  # no local copy of a named corpus either
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    workdir = tmp_path / "cwd"  # a relative 'wikitext-2' folder in the cwd must not be picked up
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return cache


def test_named_corpus_without_network_says_how_to_use_local_files(offline_cache):
    with pytest.raises(ConfigError) as err:
        TextTask(corpus="wikitext-2").spec()
    _assert_one_line(err, ["wikitext-2", "corpus=", "folder", "train.txt"])
    assert not (offline_cache / "wikitext-2" / "train.txt").exists(), "a failed download left a corpus file"


def _fill_cache(cache: Path) -> dict[str, list[str]]:
    """A PTB download in the cache, made up (PTB pins no hash: the first download's is recorded)."""
    folder = cache / "ptb"
    folder.mkdir(parents=True, exist_ok=True)  # a failed download may have made it
    parts = {"train": _corpus_lines(60, seed=4), "valid": _corpus_lines(20, seed=5), "test": _corpus_lines(20, seed=6)}
    for part, lines in parts.items():
        path = folder / f"{part}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / f"{part}.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    return parts


def test_named_corpus_loads_from_cache_offline(offline_cache):
    parts = _fill_cache(offline_cache)
    (offline_cache.parent / "cwd" / "ptb").mkdir()  # a folder of that name in the working directory: not the corpus
    task = TextTask(corpus="ptb", bptt=5, vocab_size=25)
    _check_text_task(task, parts["train"], parts["test"],
                     {"train": parts["train"], "val": parts["valid"], "test": parts["test"]})
    assert not (offline_cache / "ptb" / ".lock").exists()  # nothing to download: nothing written (a read-only cache)


def test_an_incomplete_local_copy_is_passed_over_for_the_download(offline_cache, tmp_path, monkeypatch):
    """$RNNBENCH_DATA/ptb/ with only the valid and test files (as this project's shared data has of WikiText-2):
    the named corpus comes from the download cache, and without one the error says what a local copy needs."""
    local = tmp_path / "data" / "ptb"
    local.mkdir(parents=True)
    for part in ("valid", "test"):
        (local / f"ptb.{part}.txt").write_text("\n".join(_corpus_lines(20, seed=9)) + "\n", encoding="utf-8")
    monkeypatch.setenv("RNNBENCH_DATA", str(tmp_path / "data"))
    with pytest.raises(ConfigError) as err:
        TextTask(corpus="ptb", bptt=5, vocab_size=25).spec()
    _assert_one_line(err, ["could not download", "$RNNBENCH_DATA/ptb/", "train.txt"])
    parts = _fill_cache(offline_cache)
    task = TextTask(corpus="ptb", bptt=5, vocab_size=25)
    _check_text_task(task, parts["train"], parts["test"],
                     {"train": parts["train"], "val": parts["valid"], "test": parts["test"]})


def test_named_corpus_changed_after_hash_is_refused(offline_cache):
    _fill_cache(offline_cache)
    path = offline_cache / "ptb" / "valid.txt"
    path.write_text(path.read_text(encoding="utf-8") + "tampered\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        TextTask(corpus="ptb", bptt=5, vocab_size=25).spec()
    _assert_one_line(err, ["SHA-256", "ptb", str(path), "delete the folder"])


def test_pinned_hashes_are_those_of_the_shared_copies():
    """The pins are real: tinyshakespeare's, and WikiText-2's valid and test (this project's shared copies, the same
    text as pytorch/examples' files). A local copy under $RNNBENCH_DATA is checked against them (next test)."""
    from rnnbench.tasks.corpus import CORPORA

    pinned = {"tinyshakespeare/input.txt": CORPORA["tinyshakespeare"]["all"][1],
              "wikitext-2/valid.txt": CORPORA["wikitext-2"]["valid"][1],
              "wikitext-2/test.txt": CORPORA["wikitext-2"]["test"][1]}
    for path, sha in zip(_need_shared(*pinned), pinned.values()):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, path


def test_a_local_copy_that_is_not_the_named_corpus_is_refused(offline_cache, tmp_path, monkeypatch):
    """$RNNBENCH_DATA/tinyshakespeare/input.txt holding other text would be scored under tinyshakespeare's name:
    refused, with the way to train on it under its own name (its path as the corpus)."""
    local = tmp_path / "data" / "tinyshakespeare"
    local.mkdir(parents=True)
    (local / "input.txt").write_text("\n".join(_corpus_lines(40, seed=3)) + "\n", encoding="utf-8")
    monkeypatch.setenv("RNNBENCH_DATA", str(tmp_path / "data"))
    with pytest.raises(ConfigError) as err:
        TextTask(corpus="tinyshakespeare", bptt=5, vocab_size=25).spec()
    _assert_one_line(err, ["SHA-256", "tinyshakespeare", f"corpus={local / 'input.txt'}"])
    TextTask(corpus=str(local / "input.txt"), bptt=5, vocab_size=25).spec()  # as its own corpus it trains


# --------------------------------------------------------------------------------------------------
# 9. named corpora: the download itself, from a local HTTP server standing in for the corpus's host


class _Served:
    """A local HTTP server for a corpus's files: `files` maps a URL path to its bytes; `hits` counts requests. A
    request is answered once `gate` is set (it is, unless a test clears it to hold the answers), then `delay` seconds
    after each 64 kB piece."""

    def __init__(self, delay: float = 0.0):
        import http.server
        import threading

        self.files: dict[str, bytes] = {}
        self.hits: Counter = Counter()
        self.gate = threading.Event()
        self.gate.set()
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                served.hits[self.path] += 1
                served.gate.wait(timeout=120)
                body = served.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(0, len(body), 65536):  # in pieces, slowly where asked
                        self.wfile.write(body[i : i + 65536])
                        time.sleep(delay)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a download's timeout)
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def ptb_server(offline_cache, monkeypatch):
    """The ptb corpus's URLs pointed at a local server holding made-up PTB files of ~150 kB each."""
    from rnnbench.tasks.corpus import CORPORA

    served = _Served()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setitem(CORPORA, "ptb", {s: (f"{served.url}/ptb.{s}.txt", None) for s in ("train", "valid", "test")})
    lines = {s: _corpus_lines(n, seed=20 + i) for i, (s, n) in enumerate((("train", 28000), ("valid", 22000),
                                                                              ("test", 22000)))}
    for s, text in lines.items():
        served.files[f"/ptb.{s}.txt"] = ("\n".join(text) + "\n").encode()
    yield served, lines
    served.server.shutdown()


def test_a_stalled_download_is_given_up_with_a_one_line_error(offline_cache, monkeypatch):
    """A host that stops sending mid-file (a network dropping packets): the download ends after DOWNLOAD_TIMEOUT
    seconds of silence with the usual error, nothing kept, instead of hanging the run (and every run waiting on
    the corpus's lock) for good."""
    import rnnbench.tasks.corpus as corpora
    from rnnbench.tasks.corpus import CORPORA

    served = _Served(delay=5.0)  # 5 s after each 64 kB piece
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(corpora, "DOWNLOAD_TIMEOUT", 0.5)
    served.files["/ptb.train.txt"] = b"w " * 100_000
    monkeypatch.setitem(CORPORA, "ptb", {s: (f"{served.url}/ptb.{s}.txt", None) for s in ("train", "valid", "test")})
    with pytest.raises(ConfigError) as err:  # it gives up rather than waiting out the 5 s stalls
        TextTask(corpus="ptb", bptt=5, vocab_size=50).spec()
    _assert_one_line(err, ["could not download corpus 'ptb'", f"{served.url}/ptb.train.txt", "timed out",
                           "$RNNBENCH_DATA/ptb/"])
    assert served.hits["/ptb.train.txt"] == 1  # it reached the host, which stalled mid-file
    assert not _leftovers(offline_cache / "ptb") and not (offline_cache / "ptb" / "train.txt").exists()
    served.server.shutdown()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_a_named_corpus_downloads_into_the_cache_with_its_hashes(ptb_server, offline_cache):
    served, lines = ptb_server
    task = TextTask(corpus="ptb", bptt=5, vocab_size=50)
    _check_text_task(task, lines["train"], lines["test"], {"train": lines["train"], "val": lines["valid"]})
    folder = offline_cache / "ptb"
    for part in ("train", "valid", "test"):
        body = served.files[f"/ptb.{part}.txt"]
        assert (folder / f"{part}.txt").read_bytes() == body
        assert (folder / f"{part}.sha256").read_text() == hashlib.sha256(body).hexdigest()
    assert not _leftovers(folder)
    served.server.shutdown()  # offline from now on: the cache serves it (as to a fresh process)
    for cached in (load_corpus, corpus_digest, corpus_path):
        cached.cache_clear()
    assert TextTask(corpus="ptb", bptt=5, vocab_size=50).spec().vocab_size == 50


@pytest.mark.parametrize("bad, needle", [
    (b"<!DOCTYPE html><html><body>Please log in to the hotel wifi</body></html>" + b" " * 200_000, "HTML page"),
    (b"ptb words " * 100, "too small"),
])
def test_a_bad_download_is_refused_and_nothing_is_kept(ptb_server, offline_cache, bad, needle):
    """A login page answered with HTTP 200, or a cut-off transfer: refused before it is moved into place, no hash is
    recorded for it, and once the real file is served the same call downloads it (nothing to delete by hand)."""
    served, lines = ptb_server
    good = served.files["/ptb.train.txt"]
    served.files["/ptb.train.txt"] = bad
    with pytest.raises(ConfigError) as err:
        TextTask(corpus="ptb", bptt=5, vocab_size=50).spec()
    _assert_one_line(err, ["ptb", needle, "nothing was kept"])
    folder = offline_cache / "ptb"
    assert not (folder / "train.txt").exists() and not (folder / "train.sha256").exists() and not _leftovers(folder)
    served.files["/ptb.train.txt"] = good
    _check_text_task(TextTask(corpus="ptb", bptt=5, vocab_size=50), lines["train"], lines["test"])


def _download(name: str, parts: dict) -> str:
    from rnnbench.tasks.corpus import CORPORA, download_corpus

    CORPORA[name] = parts  # the test server's addresses (a spawned process imports the module afresh)
    return str(download_corpus(name))


def test_workers_downloading_at_once_share_one_download(ptb_server, offline_cache):
    """A sweep's workers all want the corpus at their first text run: 4 processes at once each get the whole corpus,
    every file is fetched once, and no temp file is left. They are made to overlap: the server holds its first answer
    until the other 3 are seen waiting on the corpus's lock (in /proc/locks). The processes are spawned, not forked (a
    fork of this process, which holds other threads, can inherit a lock held mid-call and hang), and every wait is
    bounded."""
    import multiprocessing as mp

    from rnnbench.tasks.corpus import CORPORA

    served, _ = ptb_server
    folder = offline_cache / "ptb"
    served.gate.clear()
    with mp.get_context("spawn").Pool(4) as pool:  # the cache folder reaches them in the environment
        try:
            pending = pool.starmap_async(_download, [("ptb", CORPORA["ptb"])] * 4)
            waiting = _lock_waiters(folder / ".lock", at_least=3, within=120)
        finally:
            served.gate.set()
        folders = pending.get(timeout=120)
    assert waiting == 3, "the other downloads never waited on the first one's lock"
    assert set(folders) == {str(folder)}
    assert dict(served.hits) == {f"/ptb.{s}.txt": 1 for s in ("train", "valid", "test")}
    for part in ("train", "valid", "test"):
        assert (folder / f"{part}.txt").read_bytes() == served.files[f"/ptb.{part}.txt"]
    assert not _leftovers(folder)


def _lock_waiters(path: Path, at_least: int, within: float) -> int:
    """How many processes wait to flock `path` (the "->" lines of /proc/locks on its inode), polled until there are
    `at_least` or `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        waiting = 0
        if path.exists():
            inode = f":{path.stat().st_ino} "
            waiting = sum("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())
        if waiting >= at_least or time.monotonic() > deadline:
            return waiting
        time.sleep(0.05)


def test_the_quick_suites_corpus_ships_with_the_package_and_needs_no_network(offline_cache):
    """tinyshakespeare is unpacked from the package into the cache (every request would go to a closed port),
    checked against its pinned hash: the README's main job runs its text task offline."""
    from rnnbench.tasks.corpus import CORPORA, SHIPPED, corpus_path

    assert (SHIPPED / "tinyshakespeare-all.txt.gz").is_file()
    spec = TextTask(corpus="tinyshakespeare", bptt=20, vocab_size=1000).spec()
    path = corpus_path("tinyshakespeare")
    assert path == offline_cache / "tinyshakespeare" / "all.txt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CORPORA["tinyshakespeare"]["all"][1]
    assert spec.vocab_size == 1000 and spec.baselines["perplexity"] > spec.reference("perplexity") > 1
    assert not [p for p in (offline_cache / "tinyshakespeare").iterdir() if p.name.endswith(".tmp")]
