"""Where a sweep trains: the devices `--devices` names (GPUs, or the CPU) and how many worker processes share them
by default (`rnnbench run`, `rnnbench size`)."""

from __future__ import annotations

import os

from rnnbench.bench.registry import ConfigError


# Worker processes per GPU by default. One run keeps an H200 busy 4-5% (rnn B=32 H=64 T=50) to 39-65%
# (2-layer LSTM B=64 H=128 T=200) of its time (rnnbench perf --device cuda), and the standard suite's hand-written
# loops and temporal skips are bound by kernel launches, so several runs share a GPU well: the leaky_relu loop's
# forward + backward takes ~29 ms a layer alone, and with 8 workers side by side its 2-layer runs still trained
# at ~65 ms a step (rnnbench size).
# On one H200 with 16 cores, 16 workers projected the standard suite 13% faster than 8 (both with --fuse).
WORKERS_PER_GPU = 16
GIB_PER_GPU_WORKER = 2  # a conservative allowance per worker (CUDA context, cuDNN workspace, a run's data)


def default_workers(gpus: tuple[int, ...], gpu_gib: float | None = None) -> int:
    """One worker per CPU core; with GPUs at most WORKERS_PER_GPU per GPU and GIB_PER_GPU_WORKER of the
    smallest GPU's memory (`gpu_gib`, read from the GPUs `gpus` names where None) each, and at least one per GPU."""
    cores = os.cpu_count() or 1
    if not gpus:
        return cores
    if gpu_gib is None:
        import torch

        gpu_gib = min(torch.cuda.get_device_properties(i).total_memory for i in gpus) / 2**30
    per_gpu = max(1, min(WORKERS_PER_GPU, int(gpu_gib // GIB_PER_GPU_WORKER)))
    return max(len(gpus), min(cores, per_gpu * len(gpus)))


def resolve_devices(text: str | None, strategy: str = "auto") -> tuple[str, tuple[int, ...]]:
    """--devices TEXT as (accelerator, device ids): "cpu" and (), or "gpu" and the GPU ids (default: every visible
    GPU, else the CPU); with --strategy ddp on a machine without GPUs, "cpu" and one id per DDP process."""
    import torch

    available = torch.cuda.device_count()
    if strategy == "ddp" and available == 0:  # DDP over CPU processes (gloo)
        if not (text and text.isdigit() and int(text) >= 1):
            raise ConfigError(f"bad --devices {text!r} for --strategy ddp without GPUs; expected a process count, e.g. 2")
        return "cpu", tuple(range(int(text)))
    if text == "cpu" or (text is None and available == 0):
        return "cpu", ()
    if text is None:
        return "gpu", tuple(range(available))
    try:
        ids = tuple(range(int(text))) if text.isdigit() else tuple(int(i) for i in text.split(","))
    except ValueError:
        raise ConfigError(f"bad --devices {text!r}; expected a count (2), ids (0,1,3) or 'cpu'") from None
    if any(i >= available or i < 0 for i in ids) or not ids:
        raise ConfigError(f"bad --devices {text!r}: {available} GPU(s) visible (ids 0..{available - 1})"
                          if available else f"bad --devices {text!r}: no GPU is visible; use --devices cpu")
    return "gpu", ids
