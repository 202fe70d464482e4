"""Speed of every remedy path against the fused kernel of the same cell (a script, not a test).

    rnnbench speed-models [--quick]

Part 1: forward + backward of one batch (adding task, T=200, B=64, H=128, one thread, flush-to-zero),
median over repeats after a warm-up. Each row is timed in alternation with its baseline (the fused
kernel of the same cell, same number of layers), so drift on a shared machine cancels in the ratio.
Part 2: per-step time at the end of a tanh-RNN training run (adding T=150, Adam) against its first
steps, with flush-to-zero on and off: vanishing gradients reach denormal range in float32, and
denormal arithmetic is slow on x86 unless flushed to zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from rnnbench.bench.registry import ConfigError
from rnnbench.bench.speed.timing import fwd_bwd
from rnnbench.bench.worker import setup_worker_numerics
from rnnbench.models import ACTIVATIONS, CELLS, INITS, ModelConfig, SequenceModel
from rnnbench.tasks import TASKS

T, B, H = 200, 64, 128


def paired(row, base, y, repeats: int) -> tuple[float, float, float, float]:
    """`row` and `base` (each a (model, x, loop) triple) timed alternately after a warm-up: their median ms,
    the median of the per-round ratios, and the ratio of the fastest rounds (the least disturbed by
    other load on the machine)."""
    times = [[fwd_bwd(*run, y) for run in (row, base)] for _ in range(repeats + 2)][2:]
    row_ms, base_ms = (1e3 * statistics.median(t[j] for t in times) for j in (0, 1))
    fastest = [min(t[j] for t in times) for j in (0, 1)]
    return row_ms, base_ms, statistics.median(t[0] / t[1] for t in times), fastest[0] / fastest[1]


def rows(forced_loops: bool):
    """(label, config, loop, baseline config, extra inputs): every remedy path (loop=None: the path the
    model picks on the device) next to the fused kernel of its cell, and with `forced_loops` the
    hand-written path (loop=True) beside it. The reference row per cell is the fused kernel in one call
    with H extra input columns: the work a temporal skip adds (W_s h_{t-k}), so the floor for that row's
    ratio."""
    for cell in CELLS:
        base = ModelConfig(cell=cell, hidden_size=H)
        options = [dict(activation=a, skip=s) for s in ("none", "temporal") for a in ACTIVATIONS]
        options += [dict(init=i) for i in INITS if i != base.init] + [dict(num_layers=2, skip="residual")]
        for opts in options:
            config = dataclasses.replace(base, **opts)
            try:
                config.validate()
            except ConfigError:
                continue
            label = f"{cell} " + " ".join(f"{k}={v}" for k, v in opts.items() if (k, v) != ("skip", "none"))
            baseline = dataclasses.replace(base, num_layers=config.num_layers)
            yield label, config, None, baseline, 0
            if forced_loops and "activation" in opts:
                yield f"{label} loop=True", config, True, baseline, 0
        yield f"{cell} reference: input width +H, no skip", base, False, base, H


def speed_table(repeats: int, forced_loops: bool) -> None:
    task = TASKS.get("adding")(seq_len=T, train_size=B, val_size=1, test_size=1)
    spec = task.spec()
    x, y = task.make_split("train", 0)
    print(f"forward+backward, adding T={T}, B={B}, H={H}, 1 thread, median of {repeats} (ms per batch)")
    print("base: the fused kernel of the same cell, default options, same number of layers; ratio: median of"
          " per-round ratios; min ratio: fastest round over fastest round")
    print(f"{'remedies':48s} {'path':>10s} {'ms':>7s} {'base ms':>7s} {'ratio':>6s} {'min ratio':>9s}")
    for label, config, loop, base_config, extra in rows(forced_loops):
        torch.manual_seed(0)
        wide = dataclasses.replace(spec, input_dim=spec.input_dim + extra)
        x_wide = torch.cat([x, torch.rand(B, T, extra)], 2)  # (B, T, 2 + extra)
        model, base = SequenceModel(wide, config), SequenceModel(spec, base_config)
        ms, base_ms, ratio, min_ratio = paired((model, x_wide, loop), (base, x, False), y, repeats)
        path = model.path(x.device, loop)
        print(f"{label:48s} {path:>10s} {ms:7.1f} {base_ms:7.1f} {ratio:6.2f} {min_ratio:9.2f}", flush=True)


def training_drift(steps: int, flush_modes=(True, False), window: int = 20) -> None:
    seq_len = 150
    task = TASKS.get("adding")(seq_len=seq_len, train_size=B * 50, val_size=1, test_size=1)
    x, y = task.make_split("train", 0)
    print(f"\ntanh RNN training, adding T={seq_len}, B={B}, H={H}, Adam lr 1e-3, {steps} steps (ms per step)")
    for ftz in flush_modes:
        torch.set_flush_denormal(ftz)
        torch.manual_seed(0)
        model = SequenceModel(task.spec(), ModelConfig(cell="rnn", hidden_size=H))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        times = []
        for step in range(steps):
            i = step % 50 * B
            start = time.perf_counter()
            loss = ((model(x[i : i + B]) - y[i : i + B]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
        first = 1e3 * statistics.median(times[3 : 3 + window])
        last = 1e3 * statistics.median(times[-window:])
        print(f"flush-to-zero {'on ' if ftz else 'off'}: first steps {first:6.1f}, last steps {last:6.1f}, "
              f"ratio {last / first:5.2f}, final loss {loss.item():.4f}", flush=True)
    torch.set_flush_denormal(True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="rnnbench speed-models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="remedy paths only (no forced loops), 100 training steps with flush-to-zero on only")
    args = parser.parse_args(argv)
    setup_worker_numerics(1)  # as the sweep's workers train
    start = time.perf_counter()
    speed_table(repeats=5, forced_loops=not args.quick)
    training_drift(steps=100 if args.quick else 300, flush_modes=(True,) if args.quick else (True, False))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
