"""`rnnbench perf` part 1, Lightning overhead: a run's steady-state training step through runner.execute() (its
Trainer settings, BenchModule and its guard, bench.guard) against a hand-written loop of the same model, batches,
optimizer and loss, timed in interleaved blocks; and Lightning's floor, a minimal LightningModule through the same
Trainer."""

from __future__ import annotations

import copy
import math
import tempfile
import time
from pathlib import Path

import lightning as L

import rnnbench.bench.runner as runner
from rnnbench.bench.config import Budget, RunConfig
from rnnbench.bench.metrics import task_loss
from rnnbench.bench.optim import make_optimizer
from rnnbench.bench.recorder import new_record
from rnnbench.bench.prepare import make_trainer
from rnnbench.bench.speed.timing import Row, execute_device, on, summarize, sync
from rnnbench.bench.steps import StepGroups, steps_for
from rnnbench.models import ModelConfig


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
        if device != "cpu":  # the guard reads the GPU every 25 steps: every block holds two such waits, so a
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
                        "guard or schedule; automatic optimization"))
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
    """cfg's run as MinimalModule through the Trainer execute() builds (bench.prepare.make_trainer), timed like
    execute() is above: what any Lightning training loop costs over a hand-written one here."""
    run = runner.prepare_run(cfg, new_record(cfg, "perf"))
    timer = InterleavedLoop(k)
    settings = execute_device(device) or {"accelerator": "cpu", "devices": 1}
    with tempfile.TemporaryDirectory() as out:
        trainer = make_trainer(settings["accelerator"], settings["devices"], cfg.budget, Path(out),
                                      callbacks=[timer])
        trainer.fit(MinimalModule(run.model, task_loss(run.spec), cfg.budget), datamodule=run.data)
    return timer
