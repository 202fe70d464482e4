"""What the speed benchmarks time with and print: a table row with its verdict, alternated timing of two sides
and its medians, one forward + backward timed on its device."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from rnnbench.models import SequenceModel


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
def sync(device) -> None:
    """Wait for the device's queued kernels (CUDA runs asynchronously; a CPU needs nothing)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def fwd_bwd(model: SequenceModel, x, loop: bool, y) -> float:
    """Seconds for one forward + backward (on the device of x, synchronised on both ends)."""
    sync(x.device)
    start = time.perf_counter()
    loss = ((model(x, loop=loop) - y) ** 2).mean()
    loss.backward()
    sync(x.device)
    return time.perf_counter() - start


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
