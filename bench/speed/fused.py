"""Throughput of horizontal fusion (a script, not a test).

    rnnbench speed-fused [--k 8] [--repeats 7] [--threads 1] [--quick]

One training step of K runs (forward + backward + per-run norm clipping + Adam with a learning rate
per run) as one FusedSequenceModel, with each of its kernels (models.fused.FUSED_KERNELS: "stepped",
the time loop in Python; "blockdiag", one fused-kernel call of a K*H-wide block-diagonal layer, where
the activation has a fused kernel), against K sequential steps of K unfused SequenceModels (their own
path, models.layer.route: cuDNN on GPU; clip_grad_norm_; the runner's Adam, bench.optim.make_optimizer). Adding task,
float32, flush-to-zero on CPU. They are timed in alternation after a warm-up, so drift on a shared
machine cancels in the ratios; the table shows median ms per K-run step and the ratios
(sequential / fused, > 1: fusion pays). CUDA rows too where torch.cuda.is_available().
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from rnnbench.bench.config import Budget
from rnnbench.bench.metrics import task_loss
from rnnbench.bench.optim import make_optimizer
from rnnbench.bench.speed.timing import sync
from rnnbench.bench.worker import setup_worker_numerics
from rnnbench.models import ModelConfig, SequenceModel
from rnnbench.models.fused import FUSED_KERNELS, FusedSequenceModel, fused_kernels, fused_loss
from rnnbench.models.stacked import StackedAdam, per_run_clip_
from rnnbench.tasks import TASKS

ROWS = [  # (cell, B, H, T)
    ("rnn", 32, 64, 50),
    ("rnn", 64, 128, 200),
    ("lstm", 32, 64, 50),
    ("gru", 32, 64, 50),
    ("rnn/leaky_relu", 32, 64, 50),  # no fused kernel: the unfused runs take the hand-written loop too
    ("rnn/leaky_relu", 64, 128, 200),
]
CUDA_ROWS = ROWS + [(cell, 64, 128, 200) for cell in ("lstm", "gru")]  # + the standard suite's sizes
LRS = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 3e-3, 7e-4, 4e-3)


def build(cell: str, B: int, H: int, T: int, K: int, device: str):
    """cell: a cell name, or cell/activation."""
    cell, _, activation = cell.partition("/")
    spec = TASKS.get("adding").from_params({"seq_len": T}).spec()
    inits = ("default", "orthogonal", "identity") if cell == "rnn" else ("default", "orthogonal", "chrono")
    models = []
    for k in range(K):
        torch.manual_seed(k)
        models.append(SequenceModel(spec, ModelConfig(cell=cell, activation=activation or "tanh", hidden_size=H,
                                                      init=inits[k % 3])).to(device))
    fused = {kernel: FusedSequenceModel(models, kernel).to(device) for kernel in fused_kernels(activation or "tanh")}
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(K, B, T, spec.input_dim, generator=gen).to(device)
    y = torch.rand(K, B, len(spec.scored_steps), generator=gen).to(device)
    lrs = [LRS[k % len(LRS)] for k in range(K)]
    opts = [make_optimizer(m.parameters(), Budget(learning_rate=lr)) for m, lr in zip(models, lrs)]
    stacked_opts = {kernel: StackedAdam(model.parameters(), lrs) for kernel, model in fused.items()}
    loss_fn, fused_fn = task_loss(spec), fused_loss(spec)
    clip = torch.ones(K, device=device)

    def sequential():
        for k, (m, opt) in enumerate(zip(models, opts)):
            opt.zero_grad(set_to_none=True)
            loss_fn(m(x[k]), y[k]).backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()

    def fused_step(kernel):
        model, opt = fused[kernel], stacked_opts[kernel]
        opt.zero_grad(set_to_none=True)
        fused_fn(model(x), y)[0].backward()
        per_run_clip_(model.parameters(), clip, "norm")
        opt.step()

    return sequential, {kernel: partial(fused_step, kernel) for kernel in fused}


def timed(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def measure(row, K: int, device: str, repeats: int, warmup: int = 2) -> tuple[float, dict[str, tuple[float, float]]]:
    """Median ms of K sequential steps, and per fused kernel: median ms of one fused step and the median
    per-round ratio sequential / fused."""
    sequential, fused_steps = build(*row, K, device)
    for _ in range(warmup):
        sequential()
        for step in fused_steps.values():
            step()
    seq_t, times = [], {kernel: [] for kernel in fused_steps}
    for _ in range(repeats):
        seq_t.append(timed(sequential, device))
        for kernel, step in fused_steps.items():
            times[kernel].append(timed(step, device))
    return 1e3 * statistics.median(seq_t), {
        kernel: (1e3 * statistics.median(t), statistics.median(s / f for s, f in zip(seq_t, t)))
        for kernel, t in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="rnnbench speed-fused", description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=8, help="runs per fused model")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per row (after 2 warm-up rounds)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--quick", action="store_true", help="first row only, 3 rounds")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all",
                        help="all: the CPU, then CUDA where available (default)")
    args = parser.parse_args(argv)
    setup_worker_numerics(args.threads)  # as the sweep's workers train
    repeats = 3 if args.quick else args.repeats
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible here; choices: all, cpu")
    devices = [d for d in ("cpu", "cuda") if args.device in ("all", d) and (d == "cpu" or torch.cuda.is_available())]
    print(f"K={args.k}, Adam + per-run norm clipping, float32, {args.threads} CPU thread(s), torch {torch.__version__}")
    print(f"{'device':<7}{'cell':<16}{'B':>4}{'H':>5}{'T':>5}  {'sequential ms':>14}" +
          "".join(f"{kernel + ' ms':>15}{'speed-up':>10}" for kernel in FUSED_KERNELS))
    for device in devices:
        name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
        rows = CUDA_ROWS if device == "cuda" else ROWS
        for row in rows[:1] if args.quick else rows:
            seq_ms, fused = measure(row, args.k, device, repeats)
            cell, B, H, T = row
            cols = "".join(f"{fused[k][0]:>15.1f}{fused[k][1]:>9.2f}x" if k in fused else f"{'-':>15}{'-':>10}"
                           for k in FUSED_KERNELS)
            print(f"{device:<7}{cell:<16}{B:>4}{H:>5}{T:>5}  {seq_ms:>14.1f}{cols}", flush=True)
        if device == "cuda":
            print(f"(cuda: {name})")


if __name__ == "__main__":
    main()
