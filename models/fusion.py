"""Which runs train as one fused model (models.fused) and where fusing pays: `fusion_key` (what RunConfigs must
share), `fusable`, the measured limits (`FUSION_PAYS`), `fusion_kernel`, and `group_runs`, which partitions a
sweep's runs into fused groups (bench.launch with --fuse)."""

from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple, Sequence

from rnnbench.bench.registry import ConfigError
from rnnbench.models.fused import check_fusable_config, fused_kernels


FUSED_LR_SCHEDULES = ("constant", "warmup_cosine")  # a shared factor; plateau needs each run's own val loss


def fusion_key(cfg) -> str | None:
    """What RunConfigs must share to be fused (None where fusion does not support the run): the task with
    its parameters, the model config except the init, the lr schedule and the budget except
    learning_rate and clip_value. Seed, init, learning rate, clip kind and clip threshold may differ."""
    try:
        check_fusable_config(cfg.model)
    except ConfigError:
        return None
    if cfg.lr not in FUSED_LR_SCHEDULES:
        return None
    budget = dataclasses.replace(cfg.budget, learning_rate=1.0, clip_value=1.0)
    blob = {
        "task": cfg.task,
        "task_params": cfg.build_task().params(),
        "model": dataclasses.asdict(dataclasses.replace(cfg.model, init="*")),
        "lr": cfg.lr,
        "budget": dataclasses.asdict(budget),
    }
    return json.dumps(blob, sort_keys=True, default=str)


def fusable(configs: Sequence) -> bool:
    """Whether these RunConfigs can train as one FusedSequenceModel."""
    keys = {fusion_key(c) for c in configs}
    return len(configs) >= 1 and None not in keys and len(keys) == 1


# where fusing K=8 runs measured faster than running them one after another (rnnbench speed-fused, training
# step of 8 sequential runs / the fused step): cell -> FusionLimit (largest hidden size, largest batch, kernel).
# CPU (AMD EPYC, 1 thread), since unfused vanilla RNNs and GRUs run their own recurrence there
# (models.layer.RECURRENCE_PAYS):
#   rnn B=32 H=64 T=50 1.44-1.67x, B=32 H=128 T=50 1.57-1.68x, B=64 H=64 T=100 1.58x, B=64 H=128 T=200 0.89-0.94x
#   (2.1-2.7x and 1.0-1.1x against torch's CPU kernel); gru B=32 H=64 1.37-1.61x (2.2-2.5x against torch's CPU
#   GRU kernel, whose B=64 H=128 row is 0.96x); lstm 0.55-1.05x; rnn leaky_relu 1.98-2.4x and 0.94-0.97x.
# CUDA (H200): rnn B=32 H=64 T=50 2.0x, rnn B=64 H=128 T=200 0.71x, lstm B=32 H=64 0.87x, gru 0.63x, and at the
#   standard suite's B=64 H=128 T=200 lstm 0.26x, gru 0.19x: the stacked model steps in Python, once per time
#   step, where each unfused run makes one cuDNN call. Not yet measured there: leaky_relu, whose unfused runs
#   step in Python too (K loops become one; the rnn/leaky_relu rows of speed-fused's CUDA table measure it).
# These are the "stepped" kernel's numbers (each entry names its kernel). The "blockdiag" kernel (K-fold FLOPs in one
# kernel call) measured slower on the CPU (0.21-0.83x the sequential runs, against stepped's 0.89-2.51x on the
# same rows); on a GPU, where one run leaves most of it idle, it is not measured yet (speed-fused's CUDA table).
class FusionLimit(NamedTuple):
    hidden: int  # the largest hidden size where fusing measured faster
    batch: int  # the largest batch size
    kernel: str = "stepped"  # the fused kernel it was measured with (FUSED_KERNELS)


FUSION_PAYS: dict[str, dict[str, FusionLimit]] = {
    "cpu": {"rnn": FusionLimit(128, 32), "gru": FusionLimit(64, 32)},
    "cuda": {"rnn": FusionLimit(64, 32)},
}


def _limit(cfg, device) -> FusionLimit | None:
    return FUSION_PAYS["cuda" if str(device).startswith("cuda") else "cpu"].get(cfg.model.cell)


def fusion_pays(cfg, device: str = "cpu") -> bool:
    """Whether fusing pays for this run on this device (FUSION_PAYS) and fusion supports it."""
    if fusion_key(cfg) is None:
        return False
    limit = _limit(cfg, device)
    return limit is not None and cfg.model.hidden_size <= limit.hidden and cfg.budget.batch_size <= limit.batch


def fusion_kernel(cfg, device: str = "cpu") -> str:
    """The fused kernel to train this run's group with on this device: the one FUSION_PAYS measured, where the
    run's activation has a fused kernel (blockdiag needs one), else "stepped"."""
    limit = _limit(cfg, device)
    return limit.kernel if limit is not None and limit.kernel in fused_kernels(cfg.model.activation) else "stepped"


def group_runs(configs: Sequence, max_k: int = 8, device: str = "cpu") -> list[list]:
    """Partition RunConfigs into groups of at most max_k that can share a fused model, in first-seen order;
    a run that cannot be fused (or where fusing does not pay on `device`) is a group of one."""
    groups: dict[str, list[list]] = {}
    out: list[list] = []
    for cfg in configs:
        key = fusion_key(cfg) if fusion_pays(cfg, device) else None
        if key is None:
            out.append([cfg])
            continue
        open_groups = groups.setdefault(key, [])
        if not open_groups or len(open_groups[-1]) >= max_k:
            open_groups.append([])
            out.append(open_groups[-1])
        open_groups[-1].append(cfg)
    return out
