"""What the numbers of a run mean: the probe, the scores, the best checkpoint, divergence and seeds (real Lightning,
real models, tiny sizes)."""

from __future__ import annotations

import math
from collections import Counter

import lightning as L
import pytest
import torch

from rnnbench.bench.config import Budget, RunConfig
from rnnbench.bench.metrics import TaskMetrics
from rnnbench.bench.prepare import probe_flow
from rnnbench.bench.runner import execute
from rnnbench.models import ModelConfig, SequenceModel
from rnnbench.tasks import TASKS, normalized_score
from rnnbench.tasks.base import EVAL_SEED
from rnnbench.tasks.data import TaskDataModule


def _probe_at_init(task: str, params: dict, **model) -> float:
    spec = TASKS.get(task).from_params(params).spec()
    data = TaskDataModule(TASKS.get(task).from_params(params), batch_size=8, seed=0)
    data.setup()
    torch.manual_seed(0)
    net = SequenceModel(spec, ModelConfig(**{"cell": "rnn", "hidden_size": 32, "num_layers": 1, **model}))
    x, y = (t[:16] for t in data.splits["val"])
    return probe_flow(net, spec, (x, y))["log10_ratio"]


def test_the_probe_sees_vanishing_on_a_task_scored_at_every_step():
    """Copy scores every step; the probe differentiates the recall steps' loss only, back to the first symbol. With
    every step's loss, step 1's own loss reaches h_1 directly and a tanh RNN at initialisation read log10 ~ 0."""
    params = {"delay": 100, "train_size": 8, "val_size": 16, "test_size": 8}
    assert _probe_at_init("copy", params) < -10  # tanh RNN, default init
    assert _probe_at_init("copy", params, activation="relu", init="identity") > -5  # IRNN: no vanishing


def test_the_probe_reads_long_range_text_from_the_place_word():
    spec = TASKS.get("longrange_text")(delay=3, train_size=8, val_size=8, test_size=8).spec()
    assert spec.source_step == 4 and list(spec.probe_steps) == [spec.seq_len - 2]
    x, y = TASKS.get("longrange_text")(delay=3, train_size=8, val_size=8, test_size=8).make_split("val", 0)
    vocab = TASKS.get("longrange_text")(delay=3).vocab()
    assert {vocab[i] for i in x[:, spec.source_step].tolist()} <= {"punjab", "france", "spain", "germany", "italy",
                                                                   "japan", "china", "greece"}
    assert _probe_at_init("longrange_text", {"delay": 3, "train_size": 8, "val_size": 16, "test_size": 8}) < -3


def _copy_outputs(spec, y: torch.Tensor, recalled: int) -> torch.Tensor:
    """Logits of a model sure of every blank, that recalls the first `recalled` symbols of each sample perfectly and
    guesses the others uniformly over the 8 symbols."""
    out = torch.full((*y.shape, spec.num_classes), -1e4)
    out[..., 0] = 0.0  # blank, where the target is blank
    recall = spec.metric_slice
    out[:, recall] = -1e4
    out[:, recall, 1:] = 0.0  # uniform over the symbols 1..8
    first = recall.start
    for k in range(recalled):
        out[:, first + k] = -1e4
        out[:, first + k].scatter_(-1, y[:, first + k : first + k + 1], 0.0)
    return out


@pytest.mark.parametrize("delay", [10, 1000])
def test_copys_score_is_about_recall_the_same_at_every_delay(delay):
    """Copy is scored by the recall steps' CE against ln 8: a memoryless model sure of the blanks scores 0 and one
    recalling half the symbols 0.5, at T=10 as at T=1000 (the all-steps CE's baseline shrinks like 1/T: there the
    half-recalling model scored ~0 at T=1000)."""
    task = TASKS.get("copy")(delay=delay, train_size=4, val_size=4, test_size=4)
    spec = task.spec()
    assert spec.primary == "recall_ce" and spec.baselines["recall_ce"] == pytest.approx(math.log(8))
    _, y = task.make_split("test", 0)
    for recalled, want in ((0, 0.0), (5, 0.5), (10, 1.0)):
        metrics = TaskMetrics(spec)
        metrics.update(_copy_outputs(spec, y, recalled), y)
        got = metrics.compute()
        score = normalized_score(spec.primary, got[spec.primary], spec.baselines[spec.primary])
        assert score == pytest.approx(want, abs=1e-3)
        assert got["accuracy"] >= recalled / 10


def test_text_accuracy_leaves_unk_targets_out():
    from rnnbench.tasks.text import UNK_ID

    spec = TASKS.get("longrange_text")(delay=1, train_size=8, val_size=8, test_size=8).spec()
    spec = type(spec)(**{**spec.__dict__, "ignore_class": UNK_ID})
    y = torch.full((4, len(spec.scored_steps)), UNK_ID)
    y[:, spec.metric_slice] = torch.tensor([[UNK_ID], [3], [3], [5]])
    out = torch.zeros(*y.shape, spec.num_classes)
    out[..., UNK_ID] = 10.0  # always <unk>: right on every <unk> target, which counts for nothing
    out[1, spec.metric_slice, 3] = 20.0  # one of the three known targets right
    metrics = TaskMetrics(spec)
    metrics.update(out, y)
    assert metrics.compute()["accuracy"] == pytest.approx(1 / 3)


def test_the_best_checkpoint_is_chosen_on_the_primary_metric():
    spec = TASKS.get("delayed_recall")(delay=5, train_size=8, val_size=8, test_size=8).spec()
    better_accuracy = {"accuracy": 0.9, "ce": 2.0, "loss": 2.0}
    lower_loss = {"accuracy": 0.5, "ce": 1.0, "loss": 1.0}
    assert spec.checkpoint_key(better_accuracy) < spec.checkpoint_key(lower_loss)
    tie = {"accuracy": 0.9, "ce": 1.5, "loss": 1.5}
    assert spec.checkpoint_key(tie) < spec.checkpoint_key(better_accuracy)  # ties go to the lower loss
    adding = TASKS.get("adding")(seq_len=8).spec()
    assert adding.checkpoint_key({"mse": 0.1, "loss": 0.1}) < adding.checkpoint_key({"mse": 0.2, "loss": 0.2})


class _Explode(L.Callback):
    """From optimizer step `at` on, the weights are NaN: the next training loss is not finite (a divergence made
    to happen at a known step, after validations at every 2 steps)."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step >= self.at:
            with torch.no_grad():
                for p in pl_module.parameters():
                    p.fill_(float("nan"))


def test_a_diverged_run_is_tested_at_its_best_weights_before_the_divergence(tmp_path):
    cfg = RunConfig("adding", {"seq_len": 8, "train_size": 64, "val_size": 16, "test_size": 16},
                    ModelConfig(hidden_size=8, num_layers=1), seed=0,
                    budget=Budget(max_steps=20, batch_size=16, eval_every=2, probe_batch=4))
    record = execute(cfg, tmp_path, callbacks=(_Explode(6),), steps_per_batch=1)
    assert record["status"] == "diverged" and 6 <= record["diverged_at_step"] <= 8, record["error"]
    assert record["best_step"] is not None and record["best_step"] <= 6
    assert math.isfinite(record["metrics"]["mse"]) and math.isfinite(record["normalized_score"])
    assert record["last"] is None  # the last weights are the diverged ones
    early = execute(cfg, tmp_path / "early", callbacks=(_Explode(0),), steps_per_batch=1)
    assert early["status"] == "diverged" and early["normalized_score"] is None and early["metrics"] == {}


def test_a_finished_run_reports_its_last_weights_beside_its_best(tmp_path):
    cfg = RunConfig("delayed_recall", {"delay": 3, "train_size": 64, "val_size": 16, "test_size": 16},
                    ModelConfig(hidden_size=8, num_layers=1), seed=0,
                    budget=Budget(max_steps=8, batch_size=16, eval_every=2, probe_batch=4, learning_rate=0.05))
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok"
    assert record["last"]["step"] == 8 and set(record["last"]["metrics"]) == {"ce", "accuracy"}
    spec = cfg.build_task().spec()
    best = min(record["history"], key=lambda h: spec.checkpoint_key({k[4:]: v for k, v in h.items() if k[:4] == "val_"}))
    assert record["best_step"] == best["step"]


def test_seeds_are_separate_streams_and_evaluation_data_is_the_same_for_every_seed():
    task = TASKS.get("adding")(seq_len=8, train_size=16, val_size=16, test_size=16)
    cfgs = [RunConfig("adding", {"seq_len": 8}, ModelConfig(), seed=s) for s in (0, 1)]
    seeds = [c.seeds for c in cfgs]
    assert set(seeds[0]) == {"data", "init", "order"} and len(set(seeds[0].values())) == 3
    assert seeds[0] != seeds[1] and seeds[0] == cfgs[0].seeds  # stable
    splits = []
    for s in seeds:
        data = TaskDataModule(task, batch_size=4, seed=s["data"], order_seed=s["order"])
        data.setup()
        splits.append(data.splits)
    for split in ("val", "test"):
        assert torch.equal(splits[0][split][0], splits[1][split][0])
        assert torch.equal(splits[0][split][0], task.make_split(split, EVAL_SEED)[0])
    assert not torch.equal(splits[0]["train"][0], splits[1]["train"][0])
    # the order stream alone changes the order, not the data
    a = TaskDataModule(task, batch_size=4, seed=5, order_seed=1)
    b = TaskDataModule(task, batch_size=4, seed=5, order_seed=2)
    a.setup(), b.setup()
    assert torch.equal(a.splits["train"][0], b.splits["train"][0])
    first = [next(iter(d.train_dataloader()))[0] for d in (a, b)]
    assert not torch.equal(*first)


def test_a_record_names_its_seeds_and_the_init_stream_alone_sets_the_weights(tmp_path):
    cfg = RunConfig("adding", {"seq_len": 8, "train_size": 32, "val_size": 8, "test_size": 8},
                    ModelConfig(hidden_size=4, num_layers=1), seed=3,
                    budget=Budget(max_steps=2, batch_size=8, eval_every=2, probe_batch=4))
    record = execute(cfg, tmp_path)
    assert record["seeds"] == {"run": 3, **cfg.seeds, "eval": EVAL_SEED}
    from rnnbench.bench.recorder import new_record
    from rnnbench.bench.prepare import prepare_run

    run = prepare_run(cfg, new_record(cfg, "custom"))
    L.seed_everything(cfg.seeds["init"], verbose=False)
    again = SequenceModel(run.spec, cfg.model)
    assert all(torch.equal(p, q) for p, q in zip(run.model.state_dict().values(), again.state_dict().values()))


def _naive_kneser_ney(tokens: list[int], V: int, D: float = 0.75):
    """Interpolated Kneser-Ney by the formulas, with Counters: P(w | u v), and P(w | v) for a one-token context."""
    tri = Counter(zip(tokens, tokens[1:], tokens[2:]))
    bi = Counter(zip(tokens, tokens[1:]))
    n_w = Counter(w for (_, w) in bi)  # distinct v before w
    n_vw = Counter((v, w) for (_, v, w) in tri)  # distinct u before v w

    def interpolate(counts: Counter, context: tuple, w: int, lower) -> float:
        row = {k[-1]: c for k, c in counts.items() if k[:-1] == context}
        total = sum(row.values())
        if total == 0:
            return lower(w)
        return max(row.get(w, 0) - D, 0) / total + D * len(row) / total * lower(w)

    def p1(w):
        total = sum(n_w.values())
        return max(n_w[w] - D, 0) / total + D * len(n_w) / total / V

    def p2(v, w):
        return interpolate(n_vw, (v,), w, p1)

    def p3(u, v, w):
        return interpolate(tri, (u, v), w, lambda w: p2(v, w))

    def p_bigram(v, w):
        return interpolate(bi, (v,), w, p1)

    return p3, p_bigram


def test_the_text_reference_is_kneser_ney_as_its_formulas_say():
    """KneserNey against the formulas computed with Counters on a small skewed stream: every P(w | context), for
    contexts seen and unseen, equal, and each context's distribution sums to 1 over the vocabulary."""
    import itertools
    import random

    import numpy as np

    from rnnbench.tasks.kneser_ney import KneserNey

    rng = random.Random(0)
    V = 6
    tokens = [rng.choice([0, 1, 2, 2, 3, 3, 3, 4]) for _ in range(300)]  # 5 never occurs
    kn = KneserNey(torch.tensor(tokens), V)
    p3, p_bigram = _naive_kneser_ney(tokens, V)
    u, v, w = map(np.array, zip(*itertools.product(range(-1, V), range(V), range(V))))
    got = kn.prob(u, v, w)
    want = np.array([p_bigram(b, c) if a < 0 else p3(a, b, c) for a, b, c in zip(u, v, w)])
    assert np.allclose(got, want, rtol=1e-12, atol=0)
    assert np.allclose(got.reshape(V + 1, V, V).sum(-1), 1.0)
    assert got.min() > 0  # the unseen token too


def test_text_is_scored_from_the_unigram_to_a_kneser_ney_reference(tmp_path):
    """The text score: 0 at the unigram perplexity, 1 at the Kneser-Ney trigram's, which a model can reach (on
    perplexity 1 as the top, a model a third better than unigram scored 0.1)."""
    corpus = tmp_path / "c.txt"
    rng = torch.Generator().manual_seed(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran"]
    lines = []
    for _ in range(400):  # a stream with bigram structure: each word mostly followed by the next in the list
        i = int(torch.randint(0, len(words), (), generator=rng))
        lines.append(" ".join(words[(i + k) % len(words)] for k in range(6)))
    corpus.write_text("\n".join(lines) + "\n")
    spec = TASKS.get("text")(corpus=str(corpus), bptt=6, vocab_size=20).spec()
    unigram, reference = spec.baselines["perplexity"], spec.reference("perplexity")
    assert 1 < reference < unigram / 2
    assert spec.score(unigram) == pytest.approx(0.0) and spec.score(reference) == pytest.approx(1.0)
    assert spec.score(math.exp((math.log(unigram) + math.log(reference)) / 2)) == pytest.approx(0.5)


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_a_parameter_budget_gives_every_cell_and_skip_about_the_same_capacity(task, tmp_path):
    """At one hidden size the LSTM has ~4x and the GRU ~3x the tanh RNN's recurrent parameters and a temporal skip
    adds ~50%; under a param_budget each gets the largest hidden size within it: all within a few percent of it."""
    spec = TASKS.get(task)().spec()
    budget = 50_000
    counts = {}
    for cell in ("rnn", "lstm", "gru"):
        for skip in ("none", "temporal"):
            model = SequenceModel(spec, ModelConfig(cell=cell, skip=skip, num_layers=2, param_budget=budget))
            sizes = model.sizes()
            counts[cell, skip] = sizes["recurrent_params"]
            assert sizes["recurrent_params"] <= budget
            bigger = SequenceModel(spec, ModelConfig(cell=cell, skip=skip, num_layers=2,
                                                     hidden_size=sizes["hidden_size"] + 1))
            assert bigger.sizes()["recurrent_params"] > budget  # the largest hidden size within the budget
    assert min(counts.values()) >= 0.9 * budget
    unmatched = {cell: SequenceModel(spec, ModelConfig(cell=cell, num_layers=2)).sizes()["recurrent_params"]
                 for cell in ("rnn", "lstm")}
    assert unmatched["lstm"] > 3 * unmatched["rnn"]  # what the budget corrects


def test_a_record_carries_its_model_size_and_a_budget_too_small_is_one_line(tmp_path):
    from rnnbench.bench.registry import ConfigError

    cfg = RunConfig("adding", {"seq_len": 8, "train_size": 32, "val_size": 8, "test_size": 8},
                    ModelConfig(cell="lstm", hidden_size=64, num_layers=1, param_budget=2000),
                    budget=Budget(max_steps=2, batch_size=8, eval_every=2, probe_batch=4))
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok"
    assert record["model_size"]["hidden_size"] < 64 and record["model_size"]["recurrent_params"] <= 2000
    spec = cfg.build_task().spec()
    with pytest.raises(ConfigError, match="param_budget 10 is below the"):
        SequenceModel(spec, ModelConfig(cell="lstm", param_budget=10))
