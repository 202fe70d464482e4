"""A run's parts around its training, the same for a single run and a fused group (bench.runner): the task, data and
model prepared from its config (prepare_run), the Trainer (make_trainer, grouped_trainer), the gradient-flow probe,
Lightning's file loggers and the best checkpoint's file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from rnnbench.bench.config import RunConfig
from rnnbench.bench.metrics import task_loss
from rnnbench.bench.record import RunRecord
from rnnbench.bench.recorder import record_task
from rnnbench.bench.registry import check
from rnnbench.bench.steps import with_steps
from rnnbench.bench.store import atomic_write
from rnnbench.models import SKIPS, SequenceModel, gradient_flow
from rnnbench.tasks import TaskSpec
from rnnbench.tasks.data import TaskDataModule


def make_trainer(accelerator: str, devices, budget, root: Path, steps: int = 1, **settings) -> L.Trainer:
    """The one Trainer set-up of every run: max_steps, validation every eval_every optimizer steps (every
    eval_every / `steps` batches of `steps` optimizer steps each), no checkpoint files, bars or summaries
    (the runner keeps the best weights itself); `settings` add to it."""
    check(budget.eval_every % steps == 0 and budget.max_steps % steps == 0,
          f"steps per batch {steps} must divide eval_every {budget.eval_every} and max_steps {budget.max_steps}")
    return L.Trainer(**{
        "accelerator": accelerator,
        "devices": devices,
        "max_steps": budget.max_steps,
        "max_epochs": -1,
        "val_check_interval": budget.eval_every // steps,
        "check_val_every_n_epoch": None,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "use_distributed_sampler": False,  # under DDP the data module shards its batches itself (tasks.data)
        "default_root_dir": str(root),
        **settings,
    })


def grouped_trainer(accelerator: str, devices, budget, root: Path, data: L.LightningDataModule, steps: int,
                    **settings) -> tuple[L.Trainer, L.LightningDataModule]:
    """make_trainer for `steps` optimizer steps per Lightning batch and `data` served so (bench.steps): the two
    must agree, so they are made together. Fit with the second; validate and test with `data` itself."""
    return make_trainer(accelerator, devices, budget, root, steps=steps, **settings), with_steps(data, steps)


@dataclass
class PreparedRun:
    """A run ready to train: its task's spec, set-up data module, freshly initialised model and probe batch."""

    spec: TaskSpec
    data: L.LightningDataModule
    model: SequenceModel
    probe: tuple[torch.Tensor, torch.Tensor]


def prepare_run(cfg: RunConfig, record: RunRecord) -> PreparedRun:
    """Build the task, its data (the training split from the run's data seed, its order from the order seed) and
    the model (its initial weights drawn from the global generator, seeded with the init seed: RunConfig.seeds),
    fill the task's fields of `record` and probe the gradient flow at the start."""
    seeds = cfg.seeds
    task = cfg.build_task()
    spec = task.spec()
    k = cfg.model.skip_k  # the model computes k >= T (no skip at all); as a run's remedy it would report a no-op
    check(not SKIPS.get(cfg.model.skip).temporal or k < spec.seq_len,
          f"skip 'temporal' with skip_k {k} on sequences of {spec.seq_len} steps would add nothing (h_(t-k) is 0 at "
          f"every step t < k); use skip_k < {spec.seq_len}")
    record_task(record, task, spec)
    data = TaskDataModule(task, cfg.budget.batch_size, seeds["data"], order_seed=seeds["order"])
    data.setup()
    L.seed_everything(seeds["init"], verbose=False)
    model = SequenceModel(spec, cfg.model)
    record.model_size = model.sizes()
    px, py = (t[: cfg.budget.probe_batch] for t in data.splits["val"])
    record.grad["probe"]["start"] = probe_flow(model, spec, (px, py))
    return PreparedRun(spec, data, model, (px, py))


def probe_flow(model: SequenceModel, spec: TaskSpec, batch: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """The gradient-flow probe (models.probe.gradient_flow) of the task's dependency steps' loss on `batch`: from
    the last dependency step back to the step that holds the information (TaskSpec.probe_steps, source_step)."""
    return gradient_flow(model, *batch, task_loss(spec), steps=spec.probe_slice, source=spec.source_step,
                         target=spec.probe_steps.stop - 1)


def csv_logger(out_dir: Path, run_id: str):
    """Lightning's CSVLogger writing runs/<run_id>/csv/metrics.csv (train/, val/ columns by optimizer step)."""
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=str(Path(out_dir) / "runs" / run_id), name="", version="csv")


def tensorboard_logger(out_dir: Path, run_id: str):
    """Lightning's TensorBoardLogger writing runs/<run_id>/tensorboard/events.out.tfevents.* (train/, val/ scalars by
    optimizer step: `tensorboard --logdir OUT/runs`); no placeholder hp_metric."""
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(Path(out_dir) / "runs" / run_id), name="", version="tensorboard",
                             default_hp_metric=False)


# Lightning's loggers that write files beside a run's record, by their `rnnbench run --logger` name (W&B, the third,
# is bench.tracking's: it may fail without costing the run)
FILE_LOGGERS = {"csv": csv_logger, "tensorboard": tensorboard_logger}


CHECKPOINT = "best.pt"  # a run's best weights, where the sweep keeps them (--save-checkpoints)


def save_best(record: RunRecord, model: torch.nn.Module, out_dir: Path) -> None:
    """The model's weights (the best checkpoint's, loaded) as a state dict of tensors in runs/<run_id>/best.pt, which
    `torch.load(path, weights_only=True)` reads and `SequenceModel(spec, cfg.model).load_state_dict` takes; the
    record's `checkpoint` names the file. Written atomically, as the record."""
    import io

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    folder = Path(out_dir) / "runs" / record.run_id
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / CHECKPOINT, buffer.getvalue(), prefix=".best.")
    record.checkpoint = CHECKPOINT
