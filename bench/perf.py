"""Speed benchmark of the suite itself (a benchmark, not a test).

    rnnbench perf [--quick] [--only PART ...] [--device cuda]

Prints one table. Every row is a ratio against a reference measured in the same process, side by
side (alternating rounds, so load from other processes on the machine cancels in the ratio), median
over >= 5 rounds unless the row says otherwise:

1. Lightning overhead: ms per steady-state training step through execute() itself (BenchModule, the
   Trainer settings execute() uses, its TrainingMonitor) vs a hand-written loop (same model, same
   batches from the same data module, same optimizer and loss). Blocks of K steps are timed by a
   callback; between two blocks the callback runs K hand-written steps (untimed by Lightning). The
   runner gives Lightning several optimizer steps per training batch (bench.steps).
2. Remedy paths vs the fused kernel of the same cell, forward + backward (rows from bench.speed_models).
3. Sweep efficiency, on a subset of the quick suite: one long-lived worker (the sweep's pool) vs one
   `rnnbench run` process per run, alternated run by run; time inside train/val/test batches over
   execute()'s wall time in the worker; the ratio as measured (the worker's start-up, timed on its own, shared by
   a few runs) and projected to the whole quick suite (the start-up and the worker's first run once, then the
   median of its later runs each, against the median process run; 4 runs in all, 2 with --quick: each pair
   costs ~18 s, and the whole benchmark must stay under 5 minutes on 2 cores).
4. Data generation: samples/s of each synthetic task's bulk generator vs training samples/s on it.
5. Memory: VmRSS / VmHWM of one worker process (run_grid's own pool and run_one) after 50 tiny runs vs after 1.

Part 1 also times Lightning's floor: a minimal LightningModule (model, loss, optimizer) through the same Trainer.
With --device cuda: parts 1 and 2 on the GPU (cuDNN vs the loop paths, the recurrence vs the chunked temporal
skip, the recurrence replayed from CUDA graphs vs eager; the <= 1.2 target is a CPU one, so those rows are info
there) and the fraction of the GPU's time one run keeps it busy. Sizing a whole
suite on a device: `rnnbench size`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import yaml

import rnnbench.bench.runner as runner
from rnnbench.bench.config import Budget, RunConfig, expand, load_suite
from rnnbench.bench.module import task_loss
from rnnbench.bench.optim import make_optimizer
from rnnbench.bench.recorder import new_record
from rnnbench.bench.launch import make_pool
from rnnbench.bench.worker import LaunchOptions, run_one, setup_worker_numerics
from rnnbench.bench.speed_models import sync
from rnnbench.bench.steps import StepGroups, steps_for
from rnnbench.models import ModelConfig, SequenceModel
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import SyntheticSizes


# ---------------------------------------------------------------- table
@dataclass
class Row:
    part: str
    name: str
    value: float  # the measured ratio (or fraction)
    target: str  # ">= 0.8", "<= 1.05", or "info"
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.target == "info":
            return "-"
        if self.target == "error" or self.value != self.value:  # NaN: not measured
            return "FAIL"
        op, bound = self.target.split()[0], bound_of(self.target)
        return "pass" if (self.value <= bound if op == "<=" else self.value >= bound) else "FAIL"


def bound_of(target: str) -> float:
    """The number of a Row target such as "<= 1.05"."""
    return float(target.split()[1])


def print_table(rows: list[Row]) -> None:
    if not rows:
        print("nothing measured")
        return
    name_w = max(len(r.name) for r in rows)
    print(f"{'part':<10} {'measurement':<{name_w}} {'ratio':>8} {'target':>8} {'result':>6}  detail")
    for r in rows:
        print(f"{r.part:<10} {r.name:<{name_w}} {r.value:8.3f} {r.target:>8} {r.verdict:>6}  {r.detail}")


# ---------------------------------------------------------------- timing
def alternate(a, b, repeats: int, warmup: int = 1) -> list[tuple[float, float]]:
    """Run a() and b() (each returns the seconds it measured) in alternation; warm-up rounds dropped."""
    return [(a(), b()) for _ in range(warmup + repeats)][warmup:]


def summarize(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median of each side and the median of the per-round ratios a / b."""
    a, b = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    return a, b, statistics.median(x / y for x, y in pairs)


NEAR_TARGET = 0.1  # a part-2 ratio this close to its bound (as a fraction of it) gets EXTRA_ROUNDS more rounds
EXTRA_ROUNDS = 6  # on this shared machine one round's ratio swings by a quarter; a verdict at the bound rests on 11


def fwd_bwd_row(label: str, a, b, device: str, target: str = "info", note: str = "") -> Row:
    """A part-2 row: a() over b(), each timing one forward + backward, in alternation (5 rounds after 1, and
    EXTRA_ROUNDS more where the median ratio lands within NEAR_TARGET of the row's bound)."""
    pairs = alternate(a, b, repeats=5, warmup=1)
    if target != "info" and abs(summarize(pairs)[2] / bound_of(target) - 1) < NEAR_TARGET:
        pairs += alternate(a, b, repeats=EXTRA_ROUNDS, warmup=0)
    ms, ref_ms, ratio = summarize(pairs)
    detail = f"{1e3 * ms:.1f} vs {1e3 * ref_ms:.1f} ms fwd+bwd, {len(pairs)} rounds{note}"
    return Row("2 remedies", f"{label}{on(device)}", ratio, target, detail)


def execute_device(device: str) -> dict:
    """runner.execute()'s keyword arguments that train on `device` ("cpu" or "cuda")."""
    return {"accelerator": "gpu", "devices": [torch.device(device).index or 0]} if device != "cpu" else {}


def on(device: str) -> str:
    """Row-label suffix naming a non-CPU device."""
    return "" if device == "cpu" else f" [{device}]"


def clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------- execute(), instrumented
class StepTime(L.Callback):
    """Sums the time spent inside training, validation and test batches (batch start to batch end)."""

    def __init__(self):
        self.inside, self.start = 0.0, None

    def _start(self, *args, **kwargs):
        self.start = time.perf_counter()

    def _end(self, *args, **kwargs):
        self.inside += time.perf_counter() - self.start

    on_train_batch_start = on_validation_batch_start = on_test_batch_start = _start
    on_train_batch_end = on_validation_batch_end = on_test_batch_end = _end


class InterleavedLoop(L.Callback):
    """Times blocks of `k` Lightning training steps; at each block boundary runs `k` steps of a hand-written
    loop (a copy of the same model, same optimizer and loss, batches from the same data module) outside the
    Lightning clock. pairs[i] = (Lightning block i, the hand block right after it), seconds."""

    def __init__(self, k: int):
        self.k, self.pairs, self.start, self.hand = k, [], None, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step % self.k:
            return
        sync(module.device)
        lightning_block = time.perf_counter() - self.start if self.start is not None else None
        hand_block = self.hand_steps(trainer, module)
        if lightning_block is not None:
            self.pairs.append((lightning_block, hand_block))
        self.start = time.perf_counter()

    def hand_steps(self, trainer, module) -> float:
        if self.hand is None:
            model = copy.deepcopy(module.model)
            data = getattr(trainer.datamodule, "data", trainer.datamodule)  # the task's own, under GroupedSteps
            batches = (group[0] for group in StepGroups(data.train_dataloader(), 1))  # one batch at a time, endless
            self.hand = model, make_optimizer(model.parameters(), module.budget), batches
        model, opt, batches = self.hand
        sync(module.device)
        start = time.perf_counter()
        for _ in range(self.k):
            x, y = (t.to(module.device) for t in next(batches))
            opt.zero_grad()
            loss = module.loss_fn(model(x), y)
            loss.backward()
            opt.step()
        sync(module.device)
        elapsed = time.perf_counter() - start
        self.hand = model, opt, batches
        return elapsed


# ---------------------------------------------------------------- 1. Lightning overhead
def lightning_overhead(quick: bool, device: str = "cpu") -> list[Row]:
    rows = []
    scale = 0.5 if quick else 1
    # k: steps per block, whole Lightning batches (the runner's n steps per batch divides k); short blocks, many of
    # them: a Lightning block and the hand block after it run within ~0.3 s of each other, so this shared machine's
    # swings in speed (+-30% over seconds) cancel in their ratio
    # one_step_too: also time the run at one optimizer step per Lightning batch, side by side (what bench.steps saves)
    sizes = [("small: rnn tanh B=32 H=64 T=50", "rnn", 32, 64, 50, 50, 20, True),  # k, blocks, one_step_too
             ("large: lstm B=64 H=128 T=200", "lstm", 64, 128, 200, 5, 7, False)]
    for label, cell, batch, hidden, seq_len, k, repeats, one_step_too in sizes:
        repeats = max(5, int(repeats * scale))  # blocks of k: whole Lightning batches of the runner's n (50 here)
        if device != "cpu":  # the monitor reads the GPU every 25 steps: every block holds two such waits, so a
            k = 50           # median over blocks cannot leave them out (blocks of 10: 3 in 5 had none)
        steps = (repeats + 3) * k  # block 0 is warm-up; the last boundary is step (repeats + 1) * k
        cfg = RunConfig("adding", {"seq_len": seq_len, "train_size": 32 * batch, "val_size": batch, "test_size": batch},
                        ModelConfig(cell=cell, hidden_size=hidden),
                        budget=Budget(max_steps=steps, batch_size=batch, eval_every=10 * steps, probe_batch=4))
        n = math.gcd(k, steps_for(cfg.budget))  # the runner's steps per Lightning batch, block boundaries between
        for steps_per_batch in (n, 1) if n > 1 and one_step_too else (n,):
            timer = InterleavedLoop(k)
            with tempfile.TemporaryDirectory() as out:
                record = runner.execute(cfg, out, "perf", callbacks=(timer,), steps_per_batch=steps_per_batch,
                                        **execute_device(device))
            assert record["status"] == "ok", record["error"]
            light, hand, ratio = summarize(timer.pairs[1 : repeats + 1])
            detail = f"{1e3 * light / k:.2f} vs {1e3 * hand / k:.2f} ms/step, {k} steps x {repeats} blocks"
            if steps_per_batch == n:
                rows.append(Row("1 overhead", f"Lightning step / hand loop step, {label}{on(device)}", ratio,
                                "<= 1.05", f"{detail}, {n} steps per Lightning batch"))
            else:  # what bench.steps saves, side by side
                rows.append(Row("1 overhead", f"  the same at one step per Lightning batch{on(device)}", ratio,
                                "info", detail))
        floor = lightning_floor(cfg, k, device)
        light, hand, ratio = summarize(floor.pairs[1 : repeats + 1])
        rows.append(Row("1 overhead", f"  Lightning's floor at one step per batch: minimal LightningModule / hand "
                        f"loop, {label.split(':')[0]}{on(device)}", ratio, "info", f"{1e3 * light / k:.2f} vs "
                        f"{1e3 * hand / k:.2f} ms/step: the same Trainer, model, data and optimizer; no metrics, "
                        "monitor or schedule; automatic optimization"))
    return rows


class MinimalModule(L.LightningModule):
    """Lightning's own cost: the run's model, loss and optimizer and nothing else."""

    def __init__(self, model, loss_fn, budget):
        super().__init__()
        self.model, self.loss_fn, self.budget = model, loss_fn, budget

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.loss_fn(self.model(x), y)

    def configure_optimizers(self):
        return make_optimizer(self.parameters(), self.budget)


def lightning_floor(cfg: RunConfig, k: int, device: str) -> InterleavedLoop:
    """cfg's run as MinimalModule through the Trainer execute() builds (runner.make_trainer), timed like
    execute() is above: what any Lightning training loop costs over a hand-written one here."""
    run = runner.prepare_run(cfg, new_record(cfg, "perf"))
    timer = InterleavedLoop(k)
    settings = execute_device(device) or {"accelerator": "cpu", "devices": 1}
    with tempfile.TemporaryDirectory() as out:
        trainer = runner.make_trainer(settings["accelerator"], settings["devices"], cfg.budget, Path(out),
                                      callbacks=[timer])
        trainer.fit(MinimalModule(run.model, task_loss(run.spec), cfg.budget), datamodule=run.data)
    return timer


# ---------------------------------------------------------------- 2. remedy paths vs fused kernels
def adding_batch(device: str):
    """The part-2 rows' data: the adding task's spec and one batch of speed_models' size (B, T) on `device`."""
    from rnnbench.bench import speed_models as sm

    task = TASKS.get("adding")(seq_len=sm.T, train_size=sm.B, val_size=1, test_size=1)
    x, y = (t.to(device) for t in task.make_split("train", 0))
    return task.spec(), x, y


def remedy_paths(quick: bool, device: str = "cpu") -> list[Row]:
    from rnnbench.bench import speed_models as sm  # its path list and fwd_bwd; times here with alternate()

    spec, x, y = adding_batch(device)
    target = "<= 1.2" if device == "cpu" else "info"  # the target is a CPU one
    rows = []
    for label, config, loop, base_config, extra in sm.rows(forced_loops=False):
        if extra or (quick and "init=" in label):  # reference rows: timed against each temporal row below
            continue
        torch.manual_seed(0)
        wide = dataclasses.replace(spec, input_dim=spec.input_dim + extra)
        x_wide = torch.cat([x, torch.rand(sm.B, sm.T, extra, device=device)], 2)  # (B, T, 2 + extra)
        model, base = SequenceModel(wide, config).to(device), SequenceModel(spec, base_config).to(device)
        path = model.path(device, loop)
        rows.append(fwd_bwd_row(f"{label} ({path}) / fused {base_config.cell}",
                                lambda: sm.fwd_bwd(model, x_wide, loop, y), lambda: sm.fwd_bwd(base, x, False, y),
                                device, target))
        if config.skip == "temporal":  # W_s h_{t-k} is H more input columns: against the fused kernel doing that work
            ref_spec = dataclasses.replace(spec, input_dim=spec.input_dim + sm.H)
            x_ref = torch.cat([x, torch.rand(sm.B, sm.T, sm.H, device=device)], 2)
            ref = SequenceModel(ref_spec, dataclasses.replace(base_config, num_layers=config.num_layers)).to(device)
            rows.append(fwd_bwd_row(f"{label} ({path}) / fused {base_config.cell}, same work (input +H)",
                                    lambda: sm.fwd_bwd(model, x, loop, y), lambda: sm.fwd_bwd(ref, x_ref, False, y),
                                    device, target))
    rows += recurrence_backward(x, y, spec, device)
    return rows


def recurrence_backward(x, y, spec, device: str) -> list[Row]:
    """The vanilla RNN's loop as one autograd node with a hand-written backward (models.cells.VanillaRecurrence)
    against autograd through the per-step loop (the probe's path, what the loop was before), 1 layer; the vanilla
    RNN's and the GRU's recurrences against the fused kernel (one call, or ceil(T/k) with a temporal skip)."""
    from rnnbench.bench import speed_models as sm

    torch.manual_seed(0)
    model = SequenceModel(spec, ModelConfig(cell="rnn", activation="leaky_relu", hidden_size=sm.H)).to(device)

    def autograd_loop():
        sync(device)
        start = time.perf_counter()
        ((model.hidden_states(x)[1] - y) ** 2).mean().backward()
        sync(device)
        return time.perf_counter() - start

    rows = [fwd_bwd_row("rnn leaky_relu: loop with its own backward / autograd through the loop",
                        lambda: sm.fwd_bwd(model, x, True, y), autograd_loop, device)]
    # what models.layer.RECURRENCE_PAYS is decided from, per device type and cell
    for cell, activation, skip in (("rnn", "tanh", "temporal"), ("rnn", "relu", "temporal"), ("gru", "tanh", "none"),
                                   ("gru", "tanh", "temporal")):
        torch.manual_seed(0)
        config = ModelConfig(cell=cell, activation=activation, hidden_size=sm.H, skip=skip)
        model = SequenceModel(spec, config).to(device)
        label = f"{cell} {activation} temporal: one-call recurrence / chunked" if skip == "temporal" else \
            f"{cell}: one-call recurrence / one call of the"
        rows.append(fwd_bwd_row(f"{label} fused kernel", lambda: sm.fwd_bwd(model, x, True, y),
                                lambda: sm.fwd_bwd(model, x, False, y), device,
                                note=f"; taken here: {model.path(device)}"))
    return rows


def graphed_recurrence(quick: bool, device: str = "cuda") -> list[Row]:
    """The recurrence replayed from CUDA graphs (models.graphed) against the eager one, and against the chunked
    cuDNN calls of the temporal skip: what decides GRAPH_DEVICES and RECURRENCE_PAYS on a GPU. A measurement of
    its own: the newest GPU code, so that an error here costs only these rows."""
    from rnnbench.bench import speed_models as sm
    from rnnbench.models import graphed

    spec, x, y = adding_batch(device)

    def timed(model, loop: bool, graphs: bool):
        def run():
            saved, graphed.GRAPH_DEVICES = graphed.GRAPH_DEVICES, {"cuda"} if graphs else set()
            try:
                return sm.fwd_bwd(model, x, loop, y)
            finally:
                graphed.GRAPH_DEVICES = saved
        return run

    rows = []
    for activation, skip in (("leaky_relu", "none"), ("tanh", "temporal")):
        torch.manual_seed(0)
        config = ModelConfig(cell="rnn", activation=activation, hidden_size=sm.H, num_layers=2, skip=skip)
        model = SequenceModel(spec, config).to(device)
        label = f"rnn {activation}{' temporal' if skip != 'none' else ''}, 2 layers"
        rows.append(fwd_bwd_row(f"{label}: graphed recurrence / eager recurrence", timed(model, True, True),
                                timed(model, True, False), device))
        if skip == "temporal":
            rows.append(fwd_bwd_row(f"{label}: graphed recurrence / chunked cuDNN calls", timed(model, True, True),
                                    timed(model, False, False), device))
    return rows


# ---------------------------------------------------------------- 3. sweep efficiency
def sweep_subset(n: int) -> list[RunConfig]:
    """n runs of the quick suite: its synthetic tasks in turn (text needs its corpus downloaded), each with a
    remedy combination from a different part of the grid."""
    runs = [r for r in expand(load_suite("quick")) if issubclass(TASKS.get(r.task), SyntheticSizes)]
    tasks = list(dict.fromkeys(r.task_label for r in runs))
    combos = list(dict.fromkeys(r.combo for r in runs))
    picks = [(tasks[i % len(tasks)], combos[(2 * i + 1) * len(combos) // (2 * n)]) for i in range(n)]
    return [next(r for r in runs if (r.task_label, r.combo) == pick) for pick in picks]


def one_run_suite(cfg: RunConfig, path: Path) -> None:
    """A suite YAML whose grid is exactly `cfg`."""
    suite = {
        "name": "quick",
        "tasks": {cfg.task: cfg.build_task().params()},
        "axes": {axis: [level] for axis, level in cfg.remedies.items()},
        "seeds": 1,
        "model": {k: v for k, v in dataclasses.asdict(cfg.model).items() if k not in cfg.remedies},
        "budget": dataclasses.asdict(cfg.budget),
    }
    path.write_text(yaml.safe_dump(suite))
    assert [r.run_id for r in expand(load_suite(str(path)))] == [cfg.run_id], "one-run suite differs from the run"


def timed_run(cfg_dict: dict, out: str) -> tuple[float, float, str, str | None]:
    """One run in a pool worker exactly as a sweep's worker trains it (runner.execute), with StepTime:
    (execute()'s wall seconds, seconds inside train/val/test batches, status, error)."""
    timer = StepTime()
    record = runner.execute(RunConfig.from_dict(cfg_dict), out, "quick", callbacks=(timer,))
    return record["wall_seconds"], timer.inside, record["status"], record["error"]


def worker_ready() -> None:
    """Nothing: a worker that runs it has unpickled it, so imported this module and with it bench.runner and
    Lightning, what a sweep's worker pays once before its first run."""


def sweep_efficiency(quick: bool) -> list[Row]:
    """One long-lived worker (the sweep's pool: run_one's path, plus the in-batch timer) against one
    `rnnbench run` process per run, the two alternated run by run (run i in the worker, then run i as a
    process), so load from other processes falls on both; the worker's start-up (spawn, importing Lightning) is
    timed on its own first. Every row reads times of these same executions."""
    runs = sweep_subset(2 if quick else 4)
    labels = "; ".join(f"{r.task} {r.combo}" for r in runs)
    pool_walls, execute_walls, inside, process_walls = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        opts = LaunchOptions(out_dir=Path(tmp) / "pool", suite="quick", workers=1, quiet=True)
        start = time.perf_counter()
        pool: ProcessPoolExecutor = make_pool(opts)
        try:
            pool.submit(worker_ready).result()
            start_up = time.perf_counter() - start
            for i, cfg in enumerate(runs):
                start = time.perf_counter()
                wall, in_batches, status, error = pool.submit(timed_run, cfg.to_dict(), str(opts.out_dir)).result()
                pool_walls.append(time.perf_counter() - start)
                assert status != "failed", error
                execute_walls.append(wall)
                inside.append(in_batches)
                suite = Path(tmp) / f"run{i}.yaml"
                one_run_suite(cfg, suite)
                command = [sys.executable, "-m", "rnnbench.bench", "run", "--suite", str(suite), "--out", str(Path(tmp) / "out"),
                           "--quiet", "--no-leaderboard"]  # default --workers: one pool worker in each process
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, cwd=Path(__file__).parents[1])
                process_walls.append(time.perf_counter() - start)
        finally:
            pool.shutdown()
    n, per_run = len(runs), [i / w for i, w in zip(inside, execute_walls)]
    rows = [Row("3 sweep", f"time in train/val/test batches / execute() wall, {n} quick runs in a worker",
                sum(inside) / sum(execute_walls), ">= 0.8",
                f"{sum(inside):.1f} of {sum(execute_walls):.1f} s; per run median {statistics.median(per_run):.2f} "
                f"(min {min(per_run):.2f}); runs: {labels}")]
    worker = start_up + sum(pool_walls)
    rows.append(Row("3 sweep", f"{n} runs, one `rnnbench run` process each / one worker (alternated)",
                    sum(process_walls) / worker, "info",
                    f"{sum(process_walls):.1f} vs {worker:.1f} s ({start_up:.1f} s of it the worker's start-up); per "
                    f"run median {statistics.median(process_walls):.2f} vs {statistics.median(pool_walls):.2f} s"))
    suite_runs = len(expand(load_suite("quick")))
    # the worker's first run carries its one-off costs (first Trainer, first kernels): once in a sweep, not per run;
    # medians: a run that met a load spike from another process stands for none of the suite's 125
    process, first, pooled = statistics.median(process_walls), pool_walls[0], statistics.median(pool_walls[1:])
    rows.append(Row("3 sweep", f"  projected to the whole quick suite ({suite_runs} runs): one process each / one worker",
                    suite_runs * process / (start_up + first + (suite_runs - 1) * pooled), ">= 10",
                    f"{suite_runs} x {process:.2f} s vs {start_up:.1f} s worker start-up + its first run {first:.2f} s "
                    f"+ {suite_runs - 1} x {pooled:.2f} s"))
    outside_process = sum(w - i for w, i in zip(process_walls, inside))
    outside_pool = start_up + sum(w - i for w, i in zip(pool_walls, inside))
    rows.append(Row("3 sweep", "same, time outside the batches only (each run's in-batch time from its worker run)",
                    outside_process / outside_pool, "info",
                    f"{outside_process / n:.2f} vs {outside_pool / n:.2f} s per run (the worker's start-up included)"))
    return rows


# ---------------------------------------------------------------- 4. data generation
def data_generation(quick: bool) -> list[Row]:
    suite = load_suite("quick")
    batch, k = suite.budget.batch_size, 10
    rows = []
    for name, params in suite.tasks.items():
        if not issubclass(TASKS.get(name), SyntheticSizes):
            continue
        task = TASKS.get(name).from_params({p: v[0] for p, v in params.items()})
        n = task.train_size
        x, y = task.make_split("train", 0)
        torch.manual_seed(0)
        model = SequenceModel(task.spec(), ModelConfig(**suite.model, cell="rnn"))  # the suite's baseline model
        opt = make_optimizer(model.parameters(), suite.budget)
        loss_fn = task_loss(task.spec())

        def train():
            for i in range(k):
                xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
                opt.zero_grad()
                loss_fn(model(xb), yb).backward()
                opt.step()

        gen = torch.Generator().manual_seed(0)
        pairs = alternate(lambda: clock(lambda: task.generate(n, gen)) / n, lambda: clock(train) / (k * batch),
                          repeats=5, warmup=1)
        per_gen, per_train, ratio = summarize(pairs)
        rows.append(Row("4 data", f"{name}: generator samples/s / training samples/s", 1 / ratio, ">= 20",
                        f"{1 / per_gen:,.0f} vs {1 / per_train:,.0f} samples/s (rnn H={suite.model['hidden_size']}, "
                        f"{suite.model['num_layers']} layers, B={batch}, seq len {task.spec().seq_len})"))
    return rows


# ---------------------------------------------------------------- 5. memory
def tiny_runs(n: int) -> list[RunConfig]:
    tiny = yaml.safe_load("""
        name: tiny
        tasks: {adding: {seq_len: 10, train_size: 64, val_size: 32, test_size: 32},
                copy: {delay: 3, train_size: 64, val_size: 32, test_size: 32}}
        axes: [{cell: [rnn, lstm, gru]}, {cell: [rnn], activation: [relu, leaky_relu], skip: [temporal]}]
        model: {hidden_size: 16, skip_k: 3}
        budget: {max_steps: 4, batch_size: 16, eval_every: 2, probe_batch: 4}
    """)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(tiny, f)
        f.flush()
        grid = expand(load_suite(f.name), seeds=n // 10 + 1)
    return sorted(grid, key=lambda r: r.seed)[:n]  # every combination, then again with the next seed


def memory_kib(status: str) -> dict[str, int]:
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


def memory_growth(quick: bool) -> list[Row]:
    n = 10 if quick else 50
    read_status = Path("/proc/self/status").read_text  # runs in the worker
    with tempfile.TemporaryDirectory() as out:
        opts = LaunchOptions(out_dir=Path(out), suite="tiny", workers=1, quiet=True)
        pool: ProcessPoolExecutor = make_pool(opts)
        try:
            samples = {}
            for i, cfg in enumerate(tiny_runs(n), 1):
                summary = pool.submit(run_one, cfg.to_dict(), opts).result()
                assert summary["status"] != "failed", summary["error"]
                if i in (1, n):
                    samples[i] = memory_kib(pool.submit(read_status).result())
        finally:
            pool.shutdown()
    rows = []
    for key in ("VmRSS", "VmHWM"):
        first, last = samples[1][key], samples[n][key]
        rows.append(Row("5 memory", f"worker {key} after {n} tiny runs / after 1", last / first,
                        "<= 1.1" if n >= 50 else "info",  # the target is after 50 runs (--quick: 10)
                        f"{last / 1024:.0f} vs {first / 1024:.0f} MiB (one series, no repeats)"))
    return rows


# ---------------------------------------------------------------- GPU: how much of it one run uses
def gpu_busy(quick: bool, device: str = "cuda") -> list[Row]:
    """Kernel time (torch.profiler's CUDA activity, in a second pass) / wall time (a pass without the profiler) of
    hand-written training steps (no Lightning, monitor or validation: a run's floor): the fraction of the GPU's
    time one run keeps it busy; the rest is Python and kernel launches, which several workers per GPU (or fusion)
    fill."""
    from torch.profiler import ProfilerActivity, profile

    rows = []
    steps = 20 if quick else 50
    for label, cell, batch, hidden, seq_len in [("small: rnn B=32 H=64 T=50 2 layers", "rnn", 32, 64, 50),
                                                ("standard: lstm B=64 H=128 T=200 2 layers", "lstm", 64, 128, 200)]:
        task = TASKS.get("adding")(seq_len=seq_len, train_size=batch, val_size=1, test_size=1)
        x, y = (t.to(device) for t in task.make_split("train", 0))
        model = SequenceModel(task.spec(), ModelConfig(cell=cell, hidden_size=hidden, num_layers=2)).to(device)
        opt = make_optimizer(model.parameters(), Budget(learning_rate=1e-3))
        loss_fn = task_loss(task.spec())

        def train(n):
            for _ in range(n):
                opt.zero_grad()
                loss_fn(model(x), y).backward()
                opt.step()

        train(5)
        sync(device)
        start = time.perf_counter()  # the wall time without the profiler, whose tracing slows each launch
        train(steps)
        sync(device)
        wall = time.perf_counter() - start
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            train(steps)
            sync(device)
        kernel_us = sum(getattr(e, "self_device_time_total", 0) for e in prof.key_averages()
                        if str(getattr(e, "device_type", "")).endswith("CUDA"))
        rows.append(Row("gpu", f"GPU kernel time / wall time, a hand-written training loop, {label}",
                        kernel_us * 1e-6 / wall, "info",
                        f"{1e3 * wall / steps:.2f} ms/step, {kernel_us / 1e3 / steps:.2f} ms of kernels"))
    return rows


MEASUREMENTS = [lightning_overhead, remedy_paths, sweep_efficiency, data_generation, memory_growth]
DEVICE_MEASUREMENTS = [lightning_overhead, remedy_paths, graphed_recurrence, gpu_busy]  # --device cuda: the parts a GPU changes


# ---------------------------------------------------------------- main
def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, lightning {L.__version__}, "
            f"{torch.get_num_threads()} intra-op thread(s) here and in workers, flush-to-zero on; "
            f"load average (1, 5, 15 min): {load}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="rnnbench perf", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps, paths and runs (about 2 minutes instead of 4)")
    parser.add_argument("--only", nargs="+", metavar="PART",
                        choices=list(dict.fromkeys(m.__name__ for m in MEASUREMENTS + DEVICE_MEASUREMENTS)),
                        help="run only these measurements (CPU: " + ", ".join(m.__name__ for m in MEASUREMENTS)
                        + "; --device cuda: " + ", ".join(m.__name__ for m in DEVICE_MEASUREMENTS) + ")")
    parser.add_argument("--device", default="cpu", help="cpu (default: every part) or cuda[:N] (Lightning "
                        "overhead, remedy paths and GPU use on that GPU)")
    args = parser.parse_args(argv)
    choices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] + (["cuda"] if torch.cuda.is_available() else [])
    if args.device not in choices:
        parser.error(f"--device {args.device!r}: not a device here; choices: {', '.join(choices)}")
    if args.device != "cpu" and torch.device(args.device).index is not None:
        torch.cuda.set_device(torch.device(args.device))  # CUDA graphs and cuDNN calls go to the current device
    measurements = MEASUREMENTS if args.device == "cpu" else DEVICE_MEASUREMENTS
    if args.only and not any(m.__name__ in args.only for m in measurements):
        parser.error(f"--only {' '.join(args.only)}: none of them measures on --device {args.device}; choices there: "
                     + ", ".join(m.__name__ for m in measurements))
    setup_worker_numerics(1)  # as the sweep's workers train: 1 thread, flush-to-zero, float32 cuDNN
    runner.quiet_lightning()
    print(machine(), flush=True)
    if args.device != "cpu":
        print(f"device: {torch.cuda.get_device_name(torch.device(args.device))}, torch CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()}", flush=True)
    start, rows = time.perf_counter(), []
    for measure in measurements:
        if args.only and measure.__name__ not in args.only:
            continue
        t0 = time.perf_counter()
        try:
            measured = measure(args.quick) if args.device == "cpu" else measure(args.quick, args.device)
        except Exception as err:  # noqa: BLE001 - one broken measurement does not hide the others
            traceback.print_exc()
            measured = [Row(measure.__name__, f"{type(err).__name__}: {err}".splitlines()[0][:300], float("nan"),
                            "error")]
        rows += measured
        print(f"  {measure.__name__}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        for r in measured:  # as they come: a run cut short by a time limit keeps what it measured
            print(f"    {r.value:8.3f} {r.target:>8} {r.verdict:>5}  {r.name}  ({r.detail})", file=sys.stderr, flush=True)
    print()
    print_table(rows)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - start:.0f} s; load average at the end: {load}")
    return 0 if all(r.verdict != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
