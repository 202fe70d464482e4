"""Run one RunConfig through one Lightning Trainer and write its result record."""

from __future__ import annotations

import logging
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from rnnbench.bench.callbacks import Diverged, TrainingMonitor
from rnnbench.bench.config import RunConfig
from rnnbench.bench.module import BenchModule, task_loss
from rnnbench.bench.record import RunRecord
from rnnbench.bench.recorder import (close_record, finish_record, last_result, new_record, record_diverged, record_failed,
                                     record_task)
from rnnbench.bench.registry import check
from rnnbench.bench.steps import steps_for, with_steps
from rnnbench.bench import tracking
from rnnbench.bench.store import ResultStore, atomic_write
from rnnbench.models import SKIPS, SequenceModel, gradient_flow
from rnnbench.tasks import TaskSpec
from rnnbench.tasks.data import TaskDataModule


def quiet_lightning() -> None:
    """Keep a sweep's log to the runner's own lines: no per-run banners or data-loader advice."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*val_check_interval.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="lightning")


def device_type(accelerator: str) -> str:
    """The torch device type a Lightning accelerator name trains on: "cuda" for gpu (or cuda), else "cpu"."""
    return "cuda" if accelerator in ("gpu", "cuda") else "cpu"


def device_name(accelerator: str) -> str:
    if device_type(accelerator) == "cuda" and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(torch.cuda.current_device())})"
    return f"cpu ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}, {platform.machine()})"


def execute(
    cfg: RunConfig,
    out_dir: str | Path,
    suite: str = "custom",
    wandb_project: str | None = None,
    accelerator: str = "cpu",
    devices: int | list[int] = 1,
    strategy: str = "auto",
    callbacks: tuple[L.Callback, ...] = (),
    steps_per_batch: int | None = None,
    save_checkpoint: bool = False,
    loggers: tuple[str, ...] = (),
    swept: tuple[str, ...] = (),
) -> dict:
    """Train one run, evaluate the best checkpoint on test (and the last weights: `last`), and write result.json;
    returns the JSON object of the record that stands (ResultStore.write). Never raises for a run's own failure: the
    record says `ok`, `diverged` (with the step, and the test metrics of the best checkpoint validated before it,
    where there is one) or `failed` (with the error).
    `callbacks` are added to the Trainer (instrumentation, e.g. bench.perf's timers); `steps_per_batch`
    (a divisor of eval_every and max_steps) overrides bench.steps' choice of optimizer steps per Lightning batch;
    `save_checkpoint` keeps the best weights in runs/<run_id>/best.pt (save_best); `loggers` names Lightning's file
    loggers (FILE_LOGGERS: csv, tensorboard) that log the training and validation metrics under runs/<run_id>/, beside
    W&B (`wandb_project`) where both; `swept`: the fields of RunConfig.setting its grid sweeps, which W&B's run name
    and group show (RunConfig.setting_label)."""
    quiet_lightning()
    out_dir = Path(out_dir)
    store = ResultStore(out_dir)
    record = new_record(cfg, suite)
    record.device = device_name(accelerator)
    if strategy == "ddp":
        n = devices if isinstance(devices, int) else len(devices)
        record.device += f" x{n} processes (ddp)"
    start = time.perf_counter()
    monitor = TrainingMonitor(cfg.clip, cfg.budget.clip_value)
    module, logger = None, False
    if wandb_project:
        record.wandb_error = "W&B not started: the run failed before"  # replaced once W&B starts
    try:
        run = prepare_run(cfg, record)
        spec, data, model, (px, py) = run.spec, run.data, run.model, run.probe
        module = BenchModule(model, spec, cfg.lr, cfg.budget, cfg.clip)
        if wandb_project:
            logger, record.wandb_error = tracking.start(cfg, out_dir, wandb_project, record.to_dict(), swept)
        used = [lg for lg in (logger, *(FILE_LOGGERS[name](out_dir, cfg.run_id) for name in loggers)) if lg]
        # under DDP the data module deals its training batches out to the processes (tasks.data): one step each
        n = 1 if strategy == "ddp" else steps_per_batch or steps_for(cfg.budget)
        trainer, grouped = grouped_trainer(accelerator, devices, cfg.budget, out_dir / "runs" / cfg.run_id, data, n,
                                           strategy=strategy, logger=used or False,
                                           callbacks=[monitor, *callbacks])
        record.world_size = trainer.world_size
        diverged = None
        try:
            trainer.fit(module, datamodule=grouped)
            if monitor.best_state is None:  # fewer steps than one evaluation interval
                trainer.validate(module, datamodule=data, verbose=False)
            trainer.test(module, datamodule=data, verbose=False)
            record.last = last_result(spec, module.test_results, monitor.steps)
        except Diverged as err:  # the best checkpoint before it is still tested
            diverged = err
        if monitor.best_state is not None:
            module.model.load_state_dict(monitor.best_state)
            trainer.test(module, datamodule=data, verbose=False)
            finish_record(record, spec, module.test_results, monitor.best_step, diverged, monitor.best_values)
            record.grad["probe"]["end"] = probe_flow(module.model, spec, (px, py))
            if save_checkpoint and rank_zero_only.rank == 0:
                save_best(record, module.model, out_dir)
        if diverged is not None:
            raise diverged
    except Diverged as err:
        record_diverged(record, err)
    except Exception as err:  # noqa: BLE001 - a run's failure is recorded, the sweep goes on
        record_failed(record, err)
    close_record(record, monitor.steps, module.history if module is not None else [], monitor.stats(),
                 time.perf_counter() - start)
    if logger:
        record.wandb_error = tracking.finish(logger, record.to_dict())
    if rank_zero_only.rank == 0:  # under DDP every process trains the run; one writes it
        return store.write(record)  # another sweep's finished record stands over this run's failure
    return record.to_dict()


# ------------------------------------------------------------------- pieces shared with bench.fused_module


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
    check(not SKIPS[cfg.model.skip].temporal or k < spec.seq_len,
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
