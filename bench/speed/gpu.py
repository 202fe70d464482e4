"""`rnnbench perf --device cuda`: the fraction of the GPU's time one run keeps it busy."""

from __future__ import annotations

import time

from rnnbench.bench.config import Budget
from rnnbench.bench.metrics import task_loss
from rnnbench.bench.optim import make_optimizer
from rnnbench.bench.speed.timing import Row, sync
from rnnbench.models import ModelConfig, SequenceModel
from rnnbench.tasks import TASKS


def gpu_busy(quick: bool, device: str = "cuda") -> list[Row]:
    """Kernel time (torch.profiler's CUDA activity, in a second pass) / wall time (a pass without the profiler) of
    hand-written training steps (no Lightning, guard or validation: a run's floor): the fraction of the GPU's
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
