"""Horizontal fusion: the fused model against K unfused runs, in float64 (outputs, gradients, clipping,
per-run Adam, a short training), plus grouping of RunConfigs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rnnbench.bench.config import Budget, RunConfig
from rnnbench.bench.metrics import task_loss
from rnnbench.bench.registry import ConfigError
from rnnbench.models import ModelConfig, SequenceModel
from rnnbench.models.fused import FusedSequenceModel, block_diagonal, fused_kernels, fused_loss, gate_major
from rnnbench.models.fusion import fusable, fusion_pays, group_runs
from rnnbench.models.stacked import StackedAdam, StackedSGD, per_run_clip_
from rnnbench.tasks.base import TaskSpec
from tests.conftest import DEVICES

K, B, L, H = 3, 4, 10, 6
ATOL = 1e-10
INITS_K = ("default", "orthogonal", "identity")
GATED_INITS_K = ("default", "orthogonal", "chrono")

SPECS = {
    "tokens": TaskSpec(seq_len=L, vocab_size=7, num_classes=5, scored_steps=range(4, L), metric_steps=range(8, L),
                       metrics=("ce", "accuracy"), primary="ce", baselines={"ce": 1.6, "accuracy": 0.2}, version=0),
    "real": TaskSpec(seq_len=L, input_dim=3, scored_steps=range(L - 3, L), metric_steps=range(L - 1, L),
                     metrics=("mse",), primary="mse", baselines={"mse": 1 / 6}, version=0),
}

CASES = [  # (spec, cell, activation, skip, layers)
    ("real", "rnn", "tanh", "none", 1),
    ("real", "rnn", "relu", "none", 1),
    ("tokens", "rnn", "leaky_relu", "residual", 2),
    ("tokens", "lstm", "tanh", "none", 1),
    ("real", "gru", "tanh", "residual", 2),
    ("real", "lstm", "tanh", "none", 2),
]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster, and immune to a busy machine's thread contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def models_for(spec_name, cell, activation, skip, layers):
    spec = SPECS[spec_name]
    inits = GATED_INITS_K if cell != "rnn" else INITS_K
    models = []
    for k, init in enumerate(inits):
        torch.manual_seed(100 + k)  # each run its own seed, as the runner seeds each run
        config = ModelConfig(cell=cell, activation=activation, init=init, skip=skip, hidden_size=H, num_layers=layers)
        models.append(SequenceModel(spec, config).double())
    return spec, models


def batches(spec, seed=0):
    """One batch per run: x [K, B, ...], y [K, B, S]."""
    gen = torch.Generator().manual_seed(seed)
    S = len(spec.scored_steps)
    if spec.input_kind == "tokens":
        x = torch.randint(0, spec.vocab_size, (K, B, spec.seq_len), generator=gen)
    else:
        x = torch.rand(K, B, spec.seq_len, spec.input_dim, generator=gen, dtype=torch.float64)
    if spec.output_kind == "classes":
        y = torch.randint(0, spec.num_classes, (K, B, S), generator=gen)
    else:
        y = torch.rand(K, B, S, generator=gen, dtype=torch.float64)
    return x, y


def unfused_grads(model, x, y, spec):
    model.zero_grad()
    task_loss(spec)(model(x), y).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


KERNEL_CASES = [(case, kernel) for case in CASES for kernel in fused_kernels(case[2])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case,kernel", KERNEL_CASES, ids=["-".join(map(str, c)) + f"-{k}" for c, k in KERNEL_CASES])
def test_forward_and_gradients_equal_unfused(case, kernel, device):
    """On a GPU the unfused runs and the blockdiag kernel are cuDNN (float64): equal there as well."""
    spec, models = models_for(*case)
    models = [m.to(device) for m in models]
    fused = FusedSequenceModel(models, kernel)
    x, y = (t.to(device) for t in batches(spec))
    out = fused(x)
    for k, m in enumerate(models):
        torch.testing.assert_close(out[k], m(x[k]), atol=ATOL, rtol=0)  # the fused kernel path
        torch.testing.assert_close(out[k], m(x[k], loop=True), atol=ATOL, rtol=0)
    total, per_run = fused_loss(spec)(out, y)
    for k, m in enumerate(models):
        torch.testing.assert_close(per_run[k], task_loss(spec)(m(x[k]), y[k]).detach(), atol=ATOL, rtol=0)
    total.backward()
    for k, m in enumerate(models):
        grads = unfused_grads(m, x[k], y[k], spec)
        for param, name in fused.stacked_pairs():
            torch.testing.assert_close(param.grad[k], grads[name], atol=ATOL, rtol=0, msg=f"run {k} {name}")


def test_block_diagonal_layout():
    """Gate g's rows of run k's unit j at g*K*H + k*H + j, reading only run k's input columns; zeros elsewhere."""
    Kb, G, Hb, D = 3, 4, 2, 5
    w = torch.randn(Kb, G * Hb, D)
    b = torch.randn(Kb, G * Hb)
    wide, bias = block_diagonal(w, G), gate_major(b, G)
    assert wide.shape == (G * Kb * Hb, Kb * D) and bias.shape == (G * Kb * Hb,)
    mask = torch.zeros_like(wide, dtype=torch.bool)
    for g in range(G):
        for k in range(Kb):
            rows = slice(g * Kb * Hb + k * Hb, g * Kb * Hb + (k + 1) * Hb)
            torch.testing.assert_close(wide[rows, k * D : (k + 1) * D], w[k, g * Hb : (g + 1) * Hb])
            torch.testing.assert_close(bias[rows], b[k, g * Hb : (g + 1) * Hb])
            mask[rows, k * D : (k + 1) * D] = True
    assert (wide[~mask] == 0).all()


def test_blockdiag_kernel_refuses_what_it_cannot_run():
    _, models = models_for("tokens", "rnn", "leaky_relu", "none", 1)
    with pytest.raises(ConfigError, match="'blockdiag' needs an activation with a fused kernel, got 'leaky_relu'"):
        FusedSequenceModel(models, "blockdiag")
    with pytest.raises(ConfigError, match="unknown fused kernel 'cudnn'; valid choices: stepped, blockdiag"):
        FusedSequenceModel(models, "cudnn")


def test_unfuse_round_trips():
    spec, models = models_for("tokens", "lstm", "tanh", "none", 2)
    fused = FusedSequenceModel(models)
    with torch.no_grad():
        for p in fused.parameters():
            p.add_(0.01 * torch.randn_like(p))  # "trained" weights
    back = fused.unfuse()
    x, _ = batches(spec)
    out = fused(x)
    for k, (m, orig) in enumerate(zip(back, models)):
        assert type(m) is SequenceModel and m.config == orig.config and m is not orig
        assert next(m.parameters()).dtype == torch.float64
        torch.testing.assert_close(m(x[k]), out[k], atol=ATOL, rtol=0)
    refused = FusedSequenceModel(back).state_dict()
    for name, value in fused.state_dict().items():
        torch.testing.assert_close(refused[name], value, atol=0, rtol=0)
    # the originals are untouched
    torch.testing.assert_close(models[0](x[0]), FusedSequenceModel(models)(x)[0], atol=ATOL, rtol=0)


def test_refuses_what_it_cannot_fuse():
    spec = SPECS["real"]
    with pytest.raises(ConfigError, match="skip"):
        FusedSequenceModel([SequenceModel(spec, ModelConfig(cell="rnn", hidden_size=H, skip="temporal"))])
    a = SequenceModel(spec, ModelConfig(cell="rnn", hidden_size=H))
    with pytest.raises(ConfigError, match="beyond the init"):
        FusedSequenceModel([a, SequenceModel(spec, ModelConfig(cell="rnn", hidden_size=H, activation="relu"))])
    with pytest.raises(ConfigError, match="task spec"):
        FusedSequenceModel([a, SequenceModel(dataclasses.replace(spec, version=1), ModelConfig(cell="rnn", hidden_size=H))])


def grads_of(case, seed=0):
    spec, models = models_for(*case)
    fused = FusedSequenceModel(models)
    x, y = batches(spec, seed)
    fused_loss(spec)(fused(x), y)[0].backward()
    for k, m in enumerate(models):
        m.zero_grad()
        task_loss(spec)(m(x[k]), y[k]).backward()
    return spec, fused, models


@pytest.mark.parametrize("kinds", [("norm",) * 3, ("value",) * 3, ("norm", "none", "value")])
def test_per_run_clip_equals_unfused_clipping(kinds):
    spec, fused, models = grads_of(("tokens", "rnn", "relu", "none", 1))
    norms_before = [torch.nn.utils.clip_grad_norm_(m.parameters(), float("inf")) for m in models]
    max_norms = torch.tensor([n * f for n, f in zip(norms_before, (0.5, 2.0, 0.1))], dtype=torch.float64)
    max_norms[0] = 1e-3 if kinds[0] == "value" else max_norms[0]  # make value clipping bite
    given = max_norms.numpy() if kinds[0] == "norm" else max_norms  # any sequence of numbers (numpy too), or a tensor
    norms = per_run_clip_(fused.parameters(), given, kinds if len(set(kinds)) > 1 else kinds[0])
    for k, (m, kind) in enumerate(zip(models, kinds)):
        torch.testing.assert_close(norms[k], norms_before[k], atol=ATOL, rtol=0)
        if kind == "norm":
            torch.nn.utils.clip_grad_norm_(m.parameters(), float(max_norms[k]))
        elif kind == "value":
            torch.nn.utils.clip_grad_value_(m.parameters(), float(max_norms[k]))
        grads = {name: p.grad for name, p in m.named_parameters()}
        for param, name in fused.stacked_pairs():
            torch.testing.assert_close(param.grad[k], grads[name], atol=ATOL, rtol=0, msg=f"run {k} {name}")


def test_stacked_adam_and_sgd_equal_separate_torch_optimizers():
    lrs = [1e-3, 1e-2, 3e-2]
    gen = torch.Generator().manual_seed(3)
    shapes = [(K, 5, 4), (K, 7)]
    for stacked_cls, torch_cls, kwargs in ((StackedAdam, torch.optim.Adam, {}),
                                           (StackedSGD, torch.optim.SGD, {"momentum": 0.9})):
        init = [torch.randn(*s, generator=gen, dtype=torch.float64) for s in shapes]
        stacked = [torch.nn.Parameter(t.clone()) for t in init]
        opt = stacked_cls(stacked, lrs, **kwargs)
        runs = [[torch.nn.Parameter(t[k].clone()) for t in init] for k in range(K)]
        opts = [torch_cls(ps, lr=lr, **kwargs) for ps, lr in zip(runs, lrs)]
        for step in range(5):
            grads = [torch.randn(*s, generator=gen, dtype=torch.float64) * 10 ** (step - 2) for s in shapes]
            for p, g in zip(stacked, grads):
                p.grad = g.clone()
            opt.step()
            for k in range(K):
                for p, g in zip(runs[k], grads):
                    p.grad = g[k].clone()
                opts[k].step()
        for k in range(K):
            for p, q in zip(stacked, runs[k]):
                torch.testing.assert_close(p[k], q.detach(), atol=ATOL, rtol=0)


@pytest.mark.parametrize("case,optimizer", [(("real", "rnn", "relu", "none", 1), "adam"),
                                            (("tokens", "gru", "tanh", "none", 1), "adam"),
                                            (("real", "rnn", "tanh", "none", 1), "sgd")])
def test_short_training_equals_unfused(case, optimizer):
    """20 steps, each run its own batches, learning rate, clip kind and threshold; warmup-cosine
    schedule: the fused runs end on the unfused runs' weights."""
    steps, lrs, clips, kinds = 20, [1e-3, 1e-2, 3e-2], [0.05, 1.0, 0.01], ["norm", "none", "value"]
    spec, models = models_for(*case)
    fused = FusedSequenceModel(models)
    budget = Budget(max_steps=steps, warmup_steps=5)
    from rnnbench.bench.optim import LR_SCHEDULES

    def schedule(opt):
        sched = LR_SCHEDULES.get("warmup_cosine")(opt, budget)
        return sched["lr_scheduler"]["scheduler"]

    cls = StackedAdam if optimizer == "adam" else StackedSGD
    opt = cls(fused.parameters(), lrs)
    sched = schedule(opt)
    torch_opt = (lambda ps, lr: torch.optim.Adam(ps, lr=lr)) if optimizer == "adam" else \
        (lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9))
    opts = [torch_opt(m.parameters(), lr) for m, lr in zip(models, lrs)]
    scheds = [schedule(o) for o in opts]
    loss_fn, fused_fn = task_loss(spec), fused_loss(spec)
    for step in range(steps):
        x, y = batches(spec, seed=step)
        opt.zero_grad()
        fused_fn(fused(x), y)[0].backward()
        per_run_clip_(fused.parameters(), torch.tensor(clips, dtype=torch.float64), kinds)
        opt.step()
        sched.step()
        for k, m in enumerate(models):
            opts[k].zero_grad()
            loss_fn(m(x[k]), y[k]).backward()
            if kinds[k] == "norm":
                torch.nn.utils.clip_grad_norm_(m.parameters(), clips[k])
            elif kinds[k] == "value":
                torch.nn.utils.clip_grad_value_(m.parameters(), clips[k])
            opts[k].step()
            scheds[k].step()
    start = FusedSequenceModel(models_for(*case)[1]).unfuse()
    for k, m in enumerate(fused.unfuse()):
        for (name, p), q in zip(m.named_parameters(), models[k].parameters()):
            torch.testing.assert_close(p, q.detach(), atol=1e-9, rtol=0, msg=f"run {k} {name}")
        moved = any(not torch.allclose(p, q) for p, q in zip(m.parameters(), start[k].parameters()))
        assert moved, "training must have moved the weights"


def run(seed=0, init="default", lr=1e-3, clip="none", clip_value=1.0, cell="rnn", hidden=64, schedule="constant",
        skip="none", seq_len=20, batch=32):
    return RunConfig("adding", {"seq_len": seq_len}, ModelConfig(cell=cell, init=init, hidden_size=hidden, skip=skip),
                     clip=clip, lr=schedule, seed=seed, budget=Budget(learning_rate=lr, clip_value=clip_value,
                                                                      batch_size=batch))


def test_grouping(monkeypatch):
    """Which runs share a model (fusable), where fusing pays (fusion_pays reads FUSION_PAYS: a cell's entry, its
    hidden size and batch limits, inclusive) and how group_runs partitions, against a table set here (the shipped
    table holds measurements: bench/speed/fused.py)."""
    import rnnbench.models.fusion as fusion

    same = [run(seed=0), run(seed=1, init="identity"), run(seed=2, lr=1e-2, clip="norm", clip_value=0.5)]
    assert fusable(same)
    for other in (run(hidden=32), run(cell="gru"), run(seq_len=30), run(schedule="plateau"), run(skip="temporal"),
                  run(batch=16)):
        assert not fusable([same[0], other])
    assert not fusable([run(schedule="plateau")])
    monkeypatch.setattr(fusion, "FUSION_PAYS", {"cpu": {"rnn": fusion.FusionLimit(64, 32), "gru": fusion.FusionLimit(16, 8)},
                                                "cuda": {"lstm": fusion.FusionLimit(128, 64)}})
    assert fusion_pays(run(hidden=64, batch=32), "cpu") and fusion_pays(run(hidden=8, batch=1), "cpu")
    assert not fusion_pays(run(hidden=65, batch=32), "cpu") and not fusion_pays(run(hidden=64, batch=33), "cpu")
    assert fusion_pays(run(cell="gru", hidden=16, batch=8), "cpu")
    assert not fusion_pays(run(cell="gru", hidden=17, batch=8), "cpu") and not fusion_pays(run(cell="lstm"), "cpu")
    assert fusion_pays(run(cell="lstm", hidden=128, batch=64), "cuda") and fusion_pays(run(cell="lstm"), "cuda:1")
    assert not fusion_pays(run(), "cuda")  # no rnn entry on CUDA
    assert not fusion_pays(run(skip="temporal"), "cpu") and not fusion_pays(run(schedule="plateau"), "cpu")  # unfusable
    configs = [run(seed=s) for s in range(10)] + [run(cell="lstm", seed=0), run(hidden=32), run(skip="temporal")]
    groups = group_runs(configs, max_k=8, device="cpu")
    assert [len(g) for g in groups] == [8, 2, 1, 1, 1]
    assert sum(groups, []) == configs[:8] + configs[8:10] + configs[10:]
    assert [len(g) for g in group_runs(configs, max_k=4, device="cpu")] == [4, 4, 2, 1, 1, 1]
    assert [len(g) for g in group_runs(configs, max_k=8, device="cuda")] == [1] * len(configs)  # nothing pays there
