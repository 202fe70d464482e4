"""Speed benchmark of the suite itself (a benchmark, not a test).

    rnnbench perf [--quick] [--only PART ...] [--device cuda]

Prints one table. Every row is a ratio against a reference measured in the same process, side by
side (alternating rounds, so load from other processes on the machine cancels in the ratio), median
over >= 5 rounds unless the row says otherwise:

1. Lightning overhead: ms per steady-state training step through execute() itself (BenchModule, the
   Trainer settings execute() uses, its guard: bench.guard) vs a hand-written loop (same model, same
   batches from the same data module, same optimizer and loss). Blocks of K steps are timed by a
   callback; between two blocks the callback runs K hand-written steps (untimed by Lightning). The
   runner gives Lightning several optimizer steps per training batch (bench.steps).
2. Remedy paths vs the fused kernel of the same cell, forward + backward (rows from bench.speed.models).
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

Each part is a module of bench.speed (overhead, remedies, sweep, generation, memory, gpu); this one runs them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import lightning as L
import torch

import rnnbench.bench.runner as runner
from rnnbench.bench.speed.generation import data_generation
from rnnbench.bench.speed.gpu import gpu_busy
from rnnbench.bench.speed.memory import memory_growth
from rnnbench.bench.speed.overhead import lightning_overhead
from rnnbench.bench.speed.remedies import graphed_recurrence, remedy_paths
from rnnbench.bench.speed.sweep import sweep_efficiency
from rnnbench.bench.speed.timing import Row, print_table
from rnnbench.bench.worker import setup_worker_numerics

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
