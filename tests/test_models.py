"""Models: driven by the registries, so a new cell, activation, init or skip is tested automatically."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from rnnbench.bench.registry import ConfigError
from rnnbench.models import ACTIVATIONS, CELLS, INITS, SKIPS, ModelConfig, SequenceModel, gradient_flow
from rnnbench.models.probe import LOG10_FLOOR, log10_ratio, log_slope
from rnnbench.models.layer import route
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import TaskSpec
from tests.conftest import DEVICES

B, L, H = 3, 12, 8

SPECS = {
    "tokens": TaskSpec(seq_len=L, vocab_size=7, num_classes=5, scored_steps=range(4, L), metric_steps=range(8, L),
                       metrics=("ce", "accuracy"), primary="ce", baselines={"ce": 1.6, "accuracy": 0.2}, version=0),
    "real": TaskSpec(seq_len=L, input_dim=3, scored_steps=range(L - 3, L), metric_steps=range(L - 1, L),
                     metrics=("mse",), primary="mse", baselines={"mse": 1 / 6}, version=0),
}


def inputs(spec: TaskSpec, dtype=torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    if spec.input_kind == "tokens":
        return torch.randint(0, spec.vocab_size, (B, spec.seq_len), generator=gen)  # (B, L)
    return torch.rand(B, spec.seq_len, spec.input_dim, generator=gen, dtype=dtype)  # (B, L, D)


def output_shape(spec: TaskSpec) -> tuple[int, ...]:
    S = len(spec.scored_steps)
    return (B, S, spec.num_classes) if spec.output_kind == "classes" else (B, S)


def valid(config: ModelConfig) -> bool:
    try:
        config.validate()
        return True
    except ConfigError:
        return False


def tiny(**options) -> ModelConfig:
    """A tiny config; stacked as deep as its skip needs (residual: 2 layers); a temporal skip whose
    chunks do not divide L (12 = 5 + 5 + 2)."""
    skip = options.get("skip", "none")
    return ModelConfig(**{"hidden_size": H, "skip_k": 5, "num_layers": SKIPS.get(skip).min_layers, **options})


COMBOS = [
    config
    for cell, activation, init, skip in itertools.product(CELLS, ACTIVATIONS, INITS, SKIPS)
    if valid(config := tiny(cell=cell, activation=activation, init=init, skip=skip))
]


def combo_id(config: ModelConfig) -> str:
    return f"{config.cell}-{config.activation}-{config.init}-{config.skip}-{config.num_layers}L"


def test_every_cell_and_remedy_level_is_covered():
    for axis, levels in (("cell", CELLS), ("activation", ACTIVATIONS), ("init", INITS), ("skip", SKIPS)):
        assert {getattr(c, axis) for c in COMBOS} == set(levels), axis


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
@pytest.mark.parametrize("config", COMBOS, ids=combo_id)
def test_forward_backward(config, spec):
    torch.manual_seed(0)
    model = SequenceModel(spec, config)
    out = model(inputs(spec))
    assert out.shape == output_shape(spec)
    assert torch.isfinite(out).all()
    out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"


LAYOUTS = {
    "1 layer": dict(num_layers=1),
    "2 layers": dict(num_layers=2),
    "residual": dict(num_layers=2, skip="residual"),
    "temporal": dict(num_layers=2, skip="temporal"),
    "temporal k>L": dict(skip="temporal", skip_k=L + 1),
}
FUSED = [
    (config, layout)
    for (cell, activation), (layout, options) in itertools.product(itertools.product(CELLS, ACTIVATIONS), LAYOUTS.items())
    if valid(config := tiny(cell=cell, activation=activation, **options))
    and SequenceModel(SPECS["real"], config).fused
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
@pytest.mark.parametrize("config,layout", FUSED, ids=[f"{c.cell}-{c.activation}-{layout}" for c, layout in FUSED])
def test_fused_and_loop_paths_compute_the_same_function(config, layout, spec, device):
    """On a GPU the fused path is cuDNN (float64 too): the loop must match it there as well."""
    torch.manual_seed(0)
    model = SequenceModel(spec, config).double().to(device)
    x = inputs(spec, torch.float64).to(device)
    params = list(model.parameters())
    results = []
    for loop in (False, True):
        out = model(x, loop=loop)
        results.append((out, torch.autograd.grad(out.pow(2).sum(), params)))
    (fused_out, fused_grads), (loop_out, loop_grads) = results
    torch.testing.assert_close(fused_out, loop_out, rtol=0, atol=1e-5)
    for p, a, b in zip(params, fused_grads, loop_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


RECURRENCES = [(cell, activation) for cell, activation in itertools.product(CELLS, ACTIVATIONS)
               if CELLS.get(cell).recurrence is not None and valid(tiny(cell=cell, activation=activation))]


def test_the_vanilla_rnn_and_the_gru_have_a_whole_loop_recurrence():
    assert {cell for cell, _ in RECURRENCES} == {"rnn", "gru"}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cell,activation", RECURRENCES, ids=[f"{c}-{a}" for c, a in RECURRENCES])
@pytest.mark.parametrize("layout", ["1 layer", "temporal", "temporal k>L"])
def test_recurrence_backward_equals_autograd_through_the_loop(cell, activation, layout, device):
    """A cell's loop that runs as one autograd node with a hand-written backward (models.cells.VanillaRecurrence,
    GRURecurrence): the probe's per-step autograd loop (hidden_states) is the reference: same outputs, same
    parameter gradients."""
    spec = SPECS["real"]
    torch.manual_seed(0)
    model = SequenceModel(spec, tiny(cell=cell, activation=activation, **LAYOUTS[layout])).double().to(device)
    assert model.path(device, loop=True) == "recurrence"
    x = inputs(spec, torch.float64).to(device)
    params = list(model.parameters())
    out = model(x, loop=True)
    reference = model.hidden_states(x)[1]
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-12)
    grads = torch.autograd.grad(out.pow(2).sum(), params)
    ref_grads = torch.autograd.grad(reference.pow(2).sum(), params)
    for p, a, b in zip(params, grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)  # only the summation order differs (dW: one matmul)


def test_gru_recurrence_passes_gradcheck():
    from rnnbench.models.cells import GRURecurrence

    torch.manual_seed(0)
    shapes = [(3, 5, 12), (3, 4), (4, 12), (12,), (4, 12)]
    xp, h0, w, b, s = (torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in shapes)
    assert torch.autograd.gradcheck(lambda *a: GRURecurrence.apply(*a, None, 0), (xp, h0, w, b))
    for k in (1, 2, 5):  # the temporal skip; k = T: the skip term never applies
        assert torch.autograd.gradcheck(lambda *a: GRURecurrence.apply(*a, k), (xp, h0, w, b, s))


def test_vanilla_recurrence_passes_gradcheck():
    from rnnbench.models.cells import VanillaRecurrence

    torch.manual_seed(0)
    shapes = [(3, 5, 4), (3, 4), (4, 4), (4, 4)]
    xp, h0, w, s = (torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in shapes)
    for activation in ACTIVATIONS:
        assert torch.autograd.gradcheck(lambda a, b, c: VanillaRecurrence.apply(a, b, 0.5 * c, activation, 0.1),
                                        (xp, h0, w))
        for k in (1, 2, 5):  # the temporal skip; k = T: the skip term never applies
            assert torch.autograd.gradcheck(
                lambda a, b, c, d: VanillaRecurrence.apply(a, b, 0.5 * c, activation, 0.1, 0.5 * d, k), (xp, h0, w, s))


def test_the_skip_chunks_cover_the_steps_that_have_a_skip_input():
    from rnnbench.models.recurrence import chunks

    assert chunks(12, 5) == [(5, 5), (10, 2)] and chunks(5, 1) == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert chunks(5, 5) == [] and chunks(3, 7) == []  # k >= T: no step sees h_{t-k}
    for T, k in [(12, 5), (30, 7), (8, 1)]:
        assert [t for start, n in chunks(T, k) for t in range(start, start + n)] == list(range(k, T))


def test_fast_path_choice():
    spec = SPECS["real"]
    for config in COMBOS:
        expected = ACTIVATIONS.get(config.activation).fused is not None
        assert SequenceModel(spec, config).fused == expected, combo_id(config)


@pytest.mark.parametrize("cell,activation,skip,device,loop,expected", [
    ("rnn", "tanh", "none", "cpu", False, "fused"),
    ("lstm", "tanh", "none", "cpu", None, "fused"),  # no whole-loop recurrence for the LSTM: its kernel
    ("rnn", "tanh", "temporal", "cpu", False, "chunks"),
    ("rnn", "leaky_relu", "none", "cuda", None, "recurrence"),  # no fused kernel
    ("rnn", "leaky_relu", "temporal", "cpu", False, "recurrence"),
    ("rnn", "tanh", "none", "cpu", True, "recurrence"),
    ("lstm", "tanh", "temporal", "cpu", None, "chunks"),
    ("gru", "tanh", "none", "cpu", True, "recurrence"),
    ("lstm", "tanh", "none", "cpu", True, "loop"),
])
def test_route_picks_the_path_per_device(cell, activation, skip, device, loop, expected):
    config = tiny(cell=cell, activation=activation, skip=skip)
    model = SequenceModel(SPECS["real"], config)
    assert model.path(device, loop) == expected
    assert route(cell, activation, skip == "temporal", device, loop, probe=True) == "loop"  # the probe reads each h_t


def test_route_takes_a_cells_recurrence_by_default_exactly_where_recurrence_pays(monkeypatch):
    """loop=None: the cell's whole-loop recurrence where RECURRENCE_PAYS lists the device, the cell and the kind of
    layer ("plain" or "temporal"), else the fused kernel (chunked with a temporal skip); against a table set here (the
    shipped one holds measurements: rnnbench perf)."""
    import rnnbench.models.layer as layer

    monkeypatch.setattr(layer, "RECURRENCE_PAYS", {"cpu": {"rnn": {"plain"}}, "cuda": {"gru": {"temporal"}}})
    expected = {
        ("rnn", "none", "cpu"): "recurrence", ("rnn", "temporal", "cpu"): "chunks",
        ("rnn", "none", "cuda"): "fused", ("rnn", "temporal", "cuda"): "chunks",
        ("gru", "none", "cpu"): "fused", ("gru", "temporal", "cpu"): "chunks",
        ("gru", "none", "cuda"): "fused", ("gru", "temporal", "cuda"): "recurrence",
        ("lstm", "none", "cuda"): "fused",
    }
    for (cell, skip, device), path in expected.items():
        assert SequenceModel(SPECS["real"], tiny(cell=cell, skip=skip)).path(device) == path, (cell, skip, device)
    monkeypatch.setattr(layer, "RECURRENCE_PAYS", {"cpu": {"lstm": {"plain"}}})  # listed, but no recurrence of its own
    assert SequenceModel(SPECS["real"], tiny(cell="lstm")).path("cpu") == "fused"


@pytest.mark.parametrize("pays", [{"rnn": {"temporal"}}, {}], ids=["recurrence pays", "nothing pays"])
def test_default_forward_takes_the_routed_path(pays, monkeypatch):
    """The default forward takes the path route() names: the vanilla RNN's recurrence (here with a temporal skip)
    where RECURRENCE_PAYS lists it, the chunked fused kernel where not, each bit for bit the forced path; the two
    paths agree (float64)."""
    import rnnbench.models.layer as layer

    monkeypatch.setattr(layer, "RECURRENCE_PAYS", {"cpu": pays})
    spec = SPECS["real"]
    torch.manual_seed(0)
    model = SequenceModel(spec, tiny(cell="rnn", skip="temporal", num_layers=2)).double()
    x = inputs(spec, torch.float64)
    out = model(x)
    routed = model.path("cpu") == "recurrence"
    assert routed is bool(pays)
    torch.testing.assert_close(out, model(x, loop=routed), rtol=0, atol=0)
    torch.testing.assert_close(out, model(x, loop=not routed), rtol=0, atol=1e-10)


@pytest.mark.parametrize("config", [tiny(cell="rnn", skip="temporal"), tiny(cell="gru", skip="residual")], ids=combo_id)
def test_hidden_states_are_the_loop_path_and_match_forward(config):
    spec = SPECS["tokens"]
    model = SequenceModel(spec, config)
    x = inputs(spec)
    hs, out = model.hidden_states(x)
    assert len(hs) == spec.seq_len and all(h.shape == (B, H) for h in hs)
    torch.testing.assert_close(out, model(x))
    grads = torch.autograd.grad(out.sum(), hs, allow_unused=True)
    assert all(g is not None for g in grads), "the output must depend on every returned h_t"


def gate_blocks(model: SequenceModel, name: str):
    for layer in model.layers:
        yield from getattr(layer.rnn, name).chunk(len(layer.cell.gates), 0)


@pytest.mark.parametrize("cell", CELLS)
def test_identity_init(cell):
    model = SequenceModel(SPECS["real"], tiny(cell=cell, init="identity", num_layers=2))
    for block in gate_blocks(model, "weight_hh_l0"):
        assert torch.equal(block, torch.eye(H))
    for layer in model.layers:
        assert layer.rnn.weight_ih_l0.abs().max() < 1e-2  # N(0, 1e-3^2)
        assert not layer.rnn.bias_ih_l0.any() and not layer.rnn.bias_hh_l0.any()


@pytest.mark.parametrize("cell", CELLS)
def test_orthogonal_init(cell):
    model = SequenceModel(SPECS["real"], tiny(cell=cell, init="orthogonal", num_layers=2))
    for block in gate_blocks(model, "weight_hh_l0"):
        torch.testing.assert_close(block @ block.T, torch.eye(H), rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", [name for name, c in CELLS.items() if c.gated])
def test_chrono_init(cell):
    T_max = 50
    spec = TaskSpec(seq_len=T_max, input_dim=2, scored_steps=range(T_max - 1, T_max), metric_steps=range(T_max - 1, T_max),
                    metrics=("mse",), primary="mse", baselines={"mse": 1 / 6}, version=0)
    model = SequenceModel(spec, ModelConfig(cell=cell, hidden_size=64, init="chrono", num_layers=2))
    gates = CELLS.get(cell).gates
    for layer in model.layers:
        bias = dict(zip(gates, (layer.rnn.bias_ih_l0 + layer.rnn.bias_hh_l0).detach().chunk(len(gates))))
        keep = bias[layer.cell.keep_gate]
        assert keep.min() >= math.log(1) and keep.max() <= math.log(T_max - 1)
        assert keep.std() > 0.3  # spread over the range, not a constant
        if layer.cell.write_gate is not None:
            assert torch.equal(bias[layer.cell.write_gate], -keep)


def test_remedies_restore_gradient_flow_at_initialisation():
    """Adding T=100, H=64, B=64, untrained: a tanh RNN's gradient vanishes; temporal skip and IRNN keep it."""
    task = TASKS.get("adding")(seq_len=100, train_size=64, val_size=1, test_size=1)
    x, y = task.make_split("train", 0)

    def log10_ratio_of(**options) -> float:
        torch.manual_seed(0)
        model = SequenceModel(task.spec(), ModelConfig(hidden_size=64, **options))
        return gradient_flow(model, x, y, torch.nn.functional.mse_loss)["log10_ratio"]

    tanh = log10_ratio_of(cell="rnn")
    skip = log10_ratio_of(cell="rnn", skip="temporal")
    irnn = log10_ratio_of(cell="rnn", activation="relu", init="identity")
    assert tanh < -10, tanh  # DESIGN.md: 3.5e-31
    assert skip > tanh + 5, (skip, tanh)
    assert irnn > tanh + 5 and irnn > -1, (irnn, tanh)  # DESIGN.md: 0.70


def test_gradient_flow_leaves_the_model_alone_and_reports_finite_json():
    spec = SPECS["tokens"]
    model = SequenceModel(spec, tiny(cell="lstm"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    y = torch.randint(0, spec.num_classes, (B, len(spec.scored_steps)))
    result = gradient_flow(model, inputs(spec), y, lambda out, y: torch.nn.functional.cross_entropy(out.transpose(1, 2), y))
    assert len(result["norms"]) == spec.seq_len
    json.dumps(result, allow_nan=False)
    assert all(p.dtype == torch.float32 and p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_probe_summaries():
    assert log10_ratio(0.0, 1.0) == LOG10_FLOOR
    assert log10_ratio(1e-3, 10.0) == pytest.approx(-4)
    assert log_slope([10.0 ** (t / 2) for t in range(5)]) == pytest.approx(0.5)
    assert log_slope([0.0, 0.0, 1.0]) == 0.0


@pytest.mark.parametrize(
    "params,words",
    [
        (dict(skip="residual", num_layers=1), ["skip 'residual'", "num_layers >= 2", "got 1"]),
        (dict(cell="lstm", activation="relu"), ["activation 'relu'", "cell 'rnn' only", "'tanh'"]),
        (dict(cell="gru", activation="leaky_relu"), ["activation 'leaky_relu'", "cell 'rnn' only"]),
        (dict(cell="rnn", init="chrono"), ["init 'chrono'", "lstm, gru", "default, orthogonal, identity"]),
        (dict(cell="transformer"), ["unknown cell 'transformer'", "valid choices: rnn, lstm, gru"]),
        (dict(activation="gelu"), ["unknown activation 'gelu'", "tanh, relu, leaky_relu"]),
        (dict(init="orthogonl"), ["unknown init 'orthogonl'", "did you mean 'orthogonal'"]),
        (dict(skip="dense"), ["unknown skip 'dense'", "none, temporal, residual"]),
        (dict(hidden_size=0), ["hidden_size", ">= 1", "0"]),
        (dict(skip_k=0), ["skip_k", ">= 1"]),
        (dict(activation="leaky_relu", leaky_slope=-0.5), ["leaky_slope", ">= 0", "-0.5"]),
    ],
)
def test_invalid_configs_are_refused_with_one_clear_line(params, words):
    config = ModelConfig(**params)
    for attempt in (config.validate, lambda: SequenceModel(SPECS["real"], config), lambda: ModelConfig.from_params(params)):
        with pytest.raises(ConfigError) as err:
            attempt()
        message = str(err.value)
        assert "\n" not in message
        for word in words:
            assert word in message


def test_from_params():
    config = ModelConfig.from_params({"cell": "rnn", "activation": "leaky_relu", "leaky_slope": 0, "hidden_size": 16})
    assert config.leaky_slope == 0.0 and isinstance(config.leaky_slope, float)
    assert ModelConfig.from_params(config.params()) == config
    assert ModelConfig.from_params(None) == ModelConfig()
    with pytest.raises(ConfigError, match="unknown model parameter 'hidden'; valid parameters: cell, hidden_size"):
        ModelConfig.from_params({"hidden": 16})
    with pytest.raises(ConfigError, match="hidden_size must be int, got '16'"):
        ModelConfig.from_params({"hidden_size": "16"})
    with pytest.raises(ConfigError, match="num_layers must be int, got True"):
        ModelConfig.from_params({"num_layers": True})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_graphed_recurrence_equals_the_eager_one(activation, device, monkeypatch):
    """models.graphed: the recurrence through static buffers (replayed CUDA graphs on a GPU; on a CPU the same
    buffer handling without a graph). Two layers share one key, hence one set of buffers: each must get its
    own outputs and gradients, equal to the eager VanillaRecurrence's in float64. On a CPU, `capture` runs each
    loop twice before handing it back, as a CUDA graph capture's warm-up does: a loop that changes its own inputs
    (the backward overwrites its dL/dh buffer) gave wrong gradients on the first replay."""
    from collections import OrderedDict

    from rnnbench.models import graphed

    monkeypatch.setattr(graphed, "_CACHE", OrderedDict())  # captured in this test
    if torch.device(device).type != "cuda":
        monkeypatch.setattr(graphed, "capture", lambda body, _device: (body(), body(), body)[-1])
    spec = SPECS["real"]
    torch.manual_seed(0)
    model = SequenceModel(spec, tiny(cell="rnn", activation=activation, **LAYOUTS["temporal"])).double().to(device)
    x = inputs(spec, torch.float64).to(device)
    params = list(model.parameters())
    results = []
    for graph_devices in (set(), {torch.device(device).type}):
        monkeypatch.setattr(graphed, "GRAPH_DEVICES", graph_devices)
        for _ in range(2):  # the second call replays what the first captured
            out = model(x, loop=True)
            results.append((out, torch.autograd.grad(out.pow(2).sum(), params)))
    (eager_out, eager_grads), *replays = results
    assert len(graphed._CACHE) >= 1, "the graphed calls went through a StaticRecurrence"
    for out, grads in replays:
        torch.testing.assert_close(out, eager_out, rtol=0, atol=1e-12)
        for a, b in zip(grads, eager_grads):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_graphed_recurrence_trains_on_a_shape_first_seen_in_inference_mode(device, monkeypatch):
    """Lightning validates under inference mode: buffers made there are inference tensors, and a training call of
    the same shape could not copy into them (RuntimeError: inplace update to inference tensor); each mode has its own."""
    from collections import OrderedDict

    from rnnbench.models import graphed

    monkeypatch.setattr(graphed, "_CACHE", OrderedDict())
    monkeypatch.setattr(graphed, "GRAPH_DEVICES", {torch.device(device).type})
    if torch.device(device).type != "cuda":
        monkeypatch.setattr(graphed, "capture", lambda body, _device: (body(), body(), body)[-1])
    spec = SPECS["real"]
    torch.manual_seed(0)
    model = SequenceModel(spec, tiny(cell="rnn", activation="relu")).double().to(device)
    x = inputs(spec, torch.float64).to(device)
    with torch.inference_mode():
        evaluated = model(x, loop=True).clone()
    out = model(x, loop=True)
    out.pow(2).sum().backward()
    torch.testing.assert_close(out.detach(), evaluated, rtol=0, atol=1e-12)
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_a_forward_does_not_copy_the_kernels_weights(device):
    """On a GPU cuDNN takes the weights in one buffer, and flatten_parameters() copies every weight into a new one
    even where they already share one: the layer calls it only where they do not (a copied model), so a training
    step does not copy the weights each call. (On a CPU nothing is flattened.)"""
    import copy

    from rnnbench.models.layer import flat

    spec = SPECS["real"]
    model = SequenceModel(spec, tiny(cell="lstm")).to(device)
    rnn = model.layers[0].rnn
    pointers = [w.data_ptr() for w in rnn._flat_weights]
    model(inputs(spec).to(device))
    assert [w.data_ptr() for w in rnn._flat_weights] == pointers, "the forward copied the weights"
    if device == "cuda":
        assert flat(rnn) and not flat(copy.deepcopy(rnn).cpu())
        twin = copy.deepcopy(model)
        twin(inputs(spec).to(device))
        assert flat(twin.layers[0].rnn)


def test_graphed_recurrence_cache_keeps_the_most_recent_shapes(monkeypatch):
    from rnnbench.models import graphed

    monkeypatch.setattr(graphed, "_CACHE", type(graphed._CACHE)())
    h0, w = torch.zeros(2, 3), torch.eye(3)
    for T in range(1, graphed.CACHE_SIZE + 3):
        graphed.static_for(torch.zeros(2, T, 3), h0, w, "tanh", 0.01, None, 0)
    assert [key[0][1] for key in graphed._CACHE] == list(range(3, graphed.CACHE_SIZE + 3))  # T of each kept key
