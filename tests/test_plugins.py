"""A user's own cell and task from files of their own (bench.plugins, `rnnbench run --include`): the README's two
files trained through the real CLI in a worker process; edited sources get new run ids, rnnbench's own runs keep
theirs; bad files fail in one line; every remedy that applies to a protocol cell composes with it."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.bench.config import RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.registry import ORIGIN, ConfigError
from rnnbench.bench.suite import load_suite
from rnnbench.models import ACTIVATIONS, CELLS, INITS, SKIPS, ModelConfig, SequenceModel, gradient_flow
from rnnbench.models.cells import ModuleCell
from rnnbench.models.layer import Skip
from rnnbench.models.recurrence import Activation
from rnnbench.tasks import TASKS
from tests.conftest import REPO, cli

SUITE = """name: mine
tasks:
  adding: {seq_len: [8], train_size: 64, val_size: 32, test_size: 32}
  first_xor: {length: [6], train_size: 64, val_size: 32, test_size: 32}
axes:
  cell: [gru, mingru]
  init: [default, chrono, orthogonal]
seeds: 1
model: {hidden_size: 8}
budget: {max_steps: 4, eval_every: 2, batch_size: 16, probe_batch: 4}
"""


def readme_files(folder: Path) -> list[Path]:
    """The README's my_cells.py and my_task.py (its "Extending rnnbench" section), written into `folder`."""
    section = (REPO / "README.md").read_text().split("## Extending rnnbench", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the README shows one cell and one task"
    for name, code in zip(("my_cells.py", "my_task.py"), blocks):
        assert len(code.splitlines()) <= 30, f"{name}: the README promises at most 30 lines"
        (folder / name).write_text(code)
    (folder / "suite.yaml").write_text(SUITE)
    return [folder / "my_cells.py", folder / "my_task.py"]


def dry_run_ids(folder: Path, *include: Path) -> dict[str, str]:
    """run id -> its dry-run line, from `rnnbench run --dry-run` in a fresh process."""
    proc = subprocess.run(cli("run", "--include", *map(str, include), "--suite", "suite.yaml", "--out", "r",
                              "--dry-run"), cwd=folder, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {line.split()[0]: line for line in proc.stdout.splitlines() if re.match(r"[0-9a-f]{16}\s", line)}


def test_the_readmes_cell_and_task_train_through_the_cli_in_a_worker(tmp_path):
    """`rnnbench run --include my_cells.py my_task.py` with a spawned worker process: every run of the grid trains
    into a record (the user's cell on both tasks, the user's task with both cells), orthogonal is left out for the
    cell that names no recurrent weights, records carry the files' source hashes, and the leaderboard shows them."""
    files = readme_files(tmp_path)
    proc = subprocess.run(cli("run", "--include", *map(str, files), "--suite", "suite.yaml", "--out", "r",
                              "--workers", "1", "--quiet"), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "r" / "runs").glob("*/result.json")]
    combos = {(r["task"], r["remedies"]["cell"], r["remedies"]["init"]) for r in records}
    expected = {(task, cell, init) for task in ("adding", "first_xor") for cell, inits in
                (("gru", ("default", "chrono", "orthogonal")), ("mingru", ("default", "chrono"))) for init in inits}
    assert combos == expected and all(r["status"] == "ok" for r in records), combos
    for r in records:
        plugins = r["config"].get("plugins", {})
        assert ("cell:mingru" in plugins) == (r["remedies"]["cell"] == "mingru")
        assert ("task:first_xor" in plugins) == (r["task"] == "first_xor")
        assert all(re.fullmatch(r"[0-9a-f]{16}", h) for h in plugins.values())
        assert r["length_param"] == {"adding": "seq_len", "first_xor": "length"}[r["task"]]  # as each declares
    page = (tmp_path / "r" / "leaderboard" / "leaderboard.md").read_text()
    assert "mingru" in page and "first_xor" in page


def test_an_edited_file_gets_new_run_ids_and_the_others_keep_theirs(tmp_path):
    files = readme_files(tmp_path)
    before = dry_run_ids(tmp_path, *files)
    assert len(before) == 2 * (3 + 2)
    files[0].write_text(files[0].read_text() + "\n# an edit\n")
    after = dry_run_ids(tmp_path, *files)
    kept = {i for i in before if "mingru" not in before[i]}
    assert kept == {i for i in after if "mingru" not in after[i]} and len(kept) == 2 * 3  # gru runs: the same ids
    assert not {i for i in after if "mingru" in after[i]} & set(before)  # every mingru run: a new id


def test_rnnbenchs_own_run_ids_are_those_of_the_published_records():
    """The committed reference records were made before user files existed: each one's config still hashes to
    its run id, and the reference suite's grid still holds every one of them."""
    with gzip.open(REPO / "leaderboard" / "published" / "reference" / "records.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line in f]
    grid = {cfg.run_id for cfg in expand(load_suite("reference"))}
    assert records and all(RunConfig.from_dict(r["config"]).run_id == r["run_id"] for r in records)
    assert {r["run_id"] for r in records} <= grid


@pytest.mark.parametrize("source, needle", [
    (None, "--include {file}: no such file"),
    ("import torch\n\nraise RuntimeError('broken cell')\n", "--include {file} (line 3): RuntimeError: broken cell"),
    ("from rnnbench.models.cells import register_cell\nregister_cell('gru')(object)\n",
     "cell 'gru' is already registered"),
])
def test_a_bad_include_fails_in_one_line(tmp_path, source, needle):
    file = tmp_path / "mine.py"
    if source is not None:
        file.write_text(source)
    proc = subprocess.run(cli("list", "--include", str(file)), cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle.format(file=file) in lines[0], lines[0]


# ------------------------------------------------------------------------------------------------------------
# a protocol cell registered in this process: every remedy that applies composes with it


class Leaky(nn.Module):
    """h_t = a * h_{t-1} + W x_t + b, a fixed per unit, with a whole-sequence form (a decaying sum over the inputs)
    and a recurrent weight (U, added to the step) that the init remedies may set."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.w = nn.Linear(input_size, hidden_size)
        self.u = nn.Parameter(torch.zeros(hidden_size, hidden_size))
        self.register_buffer("a", torch.linspace(0.5, 0.9, hidden_size))
        self.gate = nn.Parameter(torch.zeros(hidden_size))  # a keep gate's bias for chrono: scales the decay
        self.sequence_calls = 0

    def forward(self, x_t, h):
        h = x_t.new_zeros(x_t.shape[0], self.a.numel()) if h is None else h
        h = self.a * torch.sigmoid(self.gate) * 2 * h + h @ self.u.t() + self.w(x_t)
        return h, h

    def sequence(self, x):
        self.sequence_calls += 1
        hs, h = [], None
        for x_t in x.unbind(1):
            h, _ = self(x_t, h)
            hs.append(h)
        return torch.stack(hs, 1)


@pytest.fixture
def leaky():
    CELLS.register("leaky")(ModuleCell(Leaky, recurrent=("u",), keep_bias="gate"))
    yield "leaky"
    CELLS.unregister("leaky")


@pytest.mark.parametrize("skip", list(SKIPS))
@pytest.mark.parametrize("init", list(INITS))
def test_every_applicable_remedy_composes_with_a_protocol_cell(leaky, init, skip):
    """Forward and backward on each init x skip: every parameter gets a gradient; the init set what it names
    (orthogonal / identity: U's blocks; chrono: the keep bias); the probe reads every step."""
    spec = TASKS.get("adding")(seq_len=12).spec()
    torch.manual_seed(0)
    model = SequenceModel(spec, ModelConfig(cell=leaky, hidden_size=6, num_layers=2, init=init, skip=skip, skip_k=4))
    u, gate = model.layers[0].rnn.u.detach(), model.layers[0].rnn.gate.detach()
    expected_u = {"orthogonal": None, "identity": torch.eye(6)}.get(init, torch.zeros(6, 6))
    if init == "orthogonal":
        assert torch.allclose(u @ u.t(), torch.eye(6), atol=1e-5)
    else:
        assert torch.equal(u, expected_u)
    assert (gate > 0).all() and (gate <= torch.log(torch.tensor(11.0))).all() if init == "chrono" else \
        torch.equal(gate, torch.zeros(6))
    x = torch.rand(3, 12, 2)
    model(x).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), \
        [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    flow = gradient_flow(model, x, torch.rand(3, 1), torch.nn.functional.mse_loss)
    assert len(flow["norms"]) == 12


def test_a_protocol_cell_runs_its_sequence_path_where_nothing_needs_the_steps(leaky):
    spec = TASKS.get("adding")(seq_len=10).spec()
    model = SequenceModel(spec, ModelConfig(cell=leaky, hidden_size=5))
    x = torch.rand(2, 10, 2)
    assert model.path("cpu") == "sequence" and model.path("cpu", loop=True) == "steps"
    fast, stepped = model(x), model(x, loop=True)
    assert model.layers[0].rnn.sequence_calls == 1 and torch.allclose(fast, stepped)
    temporal = SequenceModel(spec, ModelConfig(cell=leaky, hidden_size=5, skip="temporal", skip_k=3))
    assert temporal.path("cpu") == "steps"


def test_an_init_a_protocol_cell_names_nothing_for_is_refused_and_left_out(leaky):
    CELLS.register("bare")(ModuleCell(Leaky))
    try:
        with pytest.raises(ConfigError, match="init 'orthogonal' sets recurrent weights, and cell 'bare' names none"):
            ModelConfig(cell="bare", init="orthogonal").validate()
        with pytest.raises(ConfigError, match="init 'chrono' applies to gated cells only"):
            ModelConfig(cell="bare", init="chrono").validate()
        from rnnbench.bench.grid import remedy_combinations
        combos = remedy_combinations([{"cell": ["bare", leaky], "init": list(INITS)}])
        assert {(c["cell"], c["init"]) for c in combos} == {("bare", "default"), *((leaky, i) for i in INITS)}
    finally:
        CELLS.unregister("bare")


# an activation and a skip level of a user's file, registered in this process as the file would (its source hash
# the registrations' origin, as bench.plugins records it)
ORIGIN_HASH = "0123456789abcdef"


@pytest.fixture
def softsign_and_both():
    ORIGIN.append(ORIGIN_HASH)
    try:
        ACTIVATIONS.register("softsign")(Activation(F.softsign, lambda z: z.copy_(F.softsign(z)), fused=None,
                                                    derivative=lambda h, slope: (1 - h.abs()) ** 2))
        SKIPS.register("both")(Skip(temporal=True, residual=True, min_layers=2))
    finally:
        ORIGIN.pop()
    yield "softsign", "both"
    ACTIVATIONS.unregister("softsign")
    SKIPS.unregister("both")


@pytest.mark.parametrize("skip", ["none", "both"])
def test_a_users_activation_and_skip_levels_are_levels_like_rnnbenchs_own(softsign_and_both, skip):
    """Levels of the activation and skip axes registered like an init's (ACTIVATIONS, SKIPS): the grid lists them,
    their origin joins the run id, a skip level's minimum depth is checked, the vanilla RNN's recurrence (its
    hand-written backward reads the level's derivative) computes what autograd through the probe's loop does, and
    the skip level's flags build both skips."""
    activation, both = softsign_and_both
    from rnnbench.bench.grid import remedy_combinations
    combos = remedy_combinations([{"activation": ["tanh", activation], "skip": ["none", both]}])
    assert {(c["activation"], c["skip"]) for c in combos} == {("tanh", "none"), ("tanh", both), (activation, "none"),
                                                              (activation, both)}
    with pytest.raises(ConfigError, match="skip 'both' needs num_layers >= 2, got 1"):
        ModelConfig(cell="rnn", skip=both).validate()
    config = ModelConfig(cell="rnn", activation=activation, hidden_size=6, num_layers=2, skip=skip, skip_k=4)
    used = {f"activation:{activation}": ORIGIN_HASH, **({f"skip:{both}": ORIGIN_HASH} if skip == both else {})}
    assert RunConfig("adding", {"seq_len": 12}, config).plugins == used
    assert RunConfig("adding", {"seq_len": 12}, ModelConfig(cell="rnn")).plugins == {}
    spec = TASKS.get("adding")(seq_len=12).spec()
    torch.manual_seed(0)
    model = SequenceModel(spec, config).double()
    assert model.path("cpu", loop=True) == "recurrence" and not model.fused  # no fused kernel: fused=None
    assert [(layer.skip_k, layer.residual) for layer in model.layers] == \
        ([(4, False), (4, True)] if skip == both else [(0, False), (0, False)])
    x = torch.rand(3, 12, 2, dtype=torch.float64)
    params = list(model.parameters())
    out, reference = model(x, loop=True), model.hidden_states(x)[1]
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-12)
    for a, b in zip(torch.autograd.grad(out.pow(2).sum(), params), torch.autograd.grad(reference.pow(2).sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_a_users_skip_level_fuses_unless_it_is_temporal(softsign_and_both):
    """Horizontal fusion reads a skip level's properties, not its name: a user's residual level fuses (the fused
    layer adds its input as the unfused one does), a temporal one ("both") is refused, naming the levels that fuse."""
    from rnnbench.models.fused import check_fusable_config, fused_skips

    SKIPS.register("stacked")(Skip(residual=True, min_layers=2))
    try:
        assert fused_skips() == ["none", "residual", "stacked"]
        check_fusable_config(ModelConfig(cell="gru", num_layers=2, skip="stacked"))
        with pytest.raises(ConfigError, match="supports skip 'none' or 'residual' or 'stacked', got skip 'both'"):
            check_fusable_config(ModelConfig(cell="gru", num_layers=2, skip="both"))
    finally:
        SKIPS.unregister("stacked")
