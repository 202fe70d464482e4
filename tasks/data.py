"""A task's splits served to Lightning: seeded, deterministic, whole-batch gathers (TaskDataModule(task, batch_size,
seed)).

Apart from tasks.base so that reading tasks and configs (the sweep's parent process, `rnnbench run --dry-run`,
`rnnbench list`) does not import Lightning (~5 s here); the worker processes that train import it.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from rnnbench.bench.registry import check
from rnnbench.tasks.base import EVAL_SEED, SPLITS, Task, positive_int


class _Batches(Dataset):
    """A dataset whose items are whole batches: indexing with a tensor of indices is one gather."""

    def __init__(self, *tensors: torch.Tensor):
        self.tensors = tensors

    def __len__(self):
        return len(self.tensors[0])

    def __getitem__(self, idx):
        return tuple(t[idx] for t in self.tensors)


class _BatchIndices(Sampler):
    """Yields index tensors of one batch each, on `device`; reshuffled each epoch by one generator seeded once
    (the same order on every device: drawn on the CPU, copied once per epoch). Not reseeded per epoch with
    seed + epoch: seed s's second epoch would repeat seed s + 1's first order.

    Under DDP (`world` processes, this one `rank`) the training split (`pad`) is dealt out by batches: each process
    takes every world-th batch from its rank on, after batches from the epoch's start are repeated until every
    process has as many (they step in lockstep). Validation and test are dealt out by samples (every world-th
    from the rank on, then batched), unpadded: each sample is scored exactly once over the processes (their
    metrics are summed over them: a repeated batch would count twice, as under Lightning's own distributed
    sampler), and every process has some as long as the split has `world` samples (a process without a batch
    would leave the others waiting for it at the metrics' sync)."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, device: torch.device | str = "cpu",
                 rank: int = 0, world: int = 1, pad: bool = False):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.device, self.rank, self.world, self.pad = device, rank, world, pad

    def __len__(self):
        if self.pad:
            return math.ceil(math.ceil(self.n / self.batch_size) / self.world)
        return math.ceil(len(range(self.rank, self.n, self.world)) / self.batch_size)

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator)
        else:
            order = torch.arange(self.n)
        if not self.pad:
            yield from order[self.rank :: self.world].to(self.device).split(self.batch_size)
            return
        batches = list(order.to(self.device).split(self.batch_size))
        batches += (batches * self.world)[: -len(batches) % self.world]
        yield from batches[self.rank :: self.world]


class TaskDataModule(L.LightningDataModule):
    """Seeded, deterministic train/val/test splits of any task, served as whole-batch gathers: the training split
    from `seed`, validation and test from EVAL_SEED (the same samples whatever the run's seed), the training
    order from `order_seed` (default `seed`)."""

    def __init__(self, task: Task, batch_size: int, seed: int, order_seed: int | None = None):
        super().__init__()
        positive_int(task.name, "batch_size", batch_size)
        self.task, self.batch_size, self.seed = task, batch_size, seed
        self.order_seed = seed if order_seed is None else order_seed
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in SPLITS:
            if split not in self.splits:
                self.splits[split] = self.task.make_split(split, self.seed if split == "train" else EVAL_SEED)

    def shard(self) -> tuple[int, int]:
        """(this process's rank, the number of processes) of the attached trainer: (0, 1) but under DDP."""
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def serving_device(self) -> torch.device:
        """Where batches are served: the attached trainer's device, else the CPU. On a GPU the split stays
        resident there, so a step neither copies its batch from host memory nor waits for the GPU to
        finish the previous step (a copy from pageable memory waits for the stream)."""
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _loader(self, split: str) -> DataLoader:
        self.setup()
        device = self.serving_device()
        x, y = (t.to(device) for t in self.splits[split])  # self.splits stay on the CPU (probe, other runs)
        rank, world = self.shard()
        check(len(x) >= world, f"the {split} split has {len(x)} samples: fewer than the {world} DDP processes")
        sampler = _BatchIndices(len(x), self.batch_size, shuffle=split == "train", seed=self.order_seed, device=device,
                                rank=rank, world=world, pad=split == "train")
        return DataLoader(_Batches(x, y), sampler=sampler, batch_size=None)

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")
