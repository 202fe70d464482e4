"""Train runs through the one training path and write their result records: `execute` one RunConfig, a group of one;
`execute_fused` a fusable group (models.fusion.group_runs) as one stacked model (bench.group.StackedRuns), each run
prepared exactly as it would be alone (its own seeds, data module and initial weights) and written to its own
result.json with `fused_k` and `wall_seconds_shared` (wall_seconds is the group's wall time / K). Both go through
`train_group`: one BenchModule and Trainer for the group, then each run tested (the last weights, then the best
checkpoint), probed and recorded by the same code."""

from __future__ import annotations

import logging
import platform
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from rnnbench.bench.config import RunConfig
from rnnbench.bench.group import OneRun, RunGroup, StackedRuns
from rnnbench.bench.guard import Diverged, RunState
from rnnbench.bench.module import BenchModule
from rnnbench.bench.prepare import (FILE_LOGGERS, PreparedRun, grouped_trainer, prepare_run,
                                    probe_flow, save_best)
from rnnbench.bench.record import FINISHED, RunRecord
from rnnbench.bench.recorder import (close_record, finish_record, last_result, new_record, record_diverged, record_failed)
from rnnbench.bench.registry import check
from rnnbench.bench.steps import steps_for
from rnnbench.bench import tracking
from rnnbench.bench.store import ResultStore
from rnnbench.models.fused import FusedSequenceModel
from rnnbench.models.fusion import fusable, fusion_kernel


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
    `callbacks` are added to the Trainer (instrumentation, e.g. bench.speed's timers); `steps_per_batch`
    (a divisor of eval_every and max_steps) overrides bench.steps' choice of optimizer steps per Lightning batch;
    `save_checkpoint` keeps the best weights in runs/<run_id>/best.pt (save_best); `loggers` names Lightning's file
    loggers (FILE_LOGGERS: csv, tensorboard) that log the training and validation metrics under runs/<run_id>/, beside
    W&B (`wandb_project`) where both; `swept`: the fields of RunConfig.setting its grid sweeps, which W&B's run name
    and group show (RunConfig.setting_label)."""
    quiet_lightning()
    out_dir = Path(out_dir)
    record = new_record(cfg, suite)
    record.device = device_name(accelerator)
    if strategy == "ddp":
        n = devices if isinstance(devices, int) else len(devices)
        record.device += f" x{n} processes (ddp)"
    wandb = None
    if wandb_project:
        record.wandb_error = "W&B not started: the run failed before"  # replaced once W&B starts

    def run_loggers() -> list:  # once the run is prepared: W&B's config shows its task's fields
        nonlocal wandb
        if wandb_project:
            wandb, record.wandb_error = tracking.start(cfg, out_dir, wandb_project, record.to_dict(), swept)
        return [lg for lg in (wandb, *(FILE_LOGGERS[name](out_dir, cfg.run_id) for name in loggers)) if lg]

    # under DDP the data module deals its training batches out to the processes (tasks.data): one step each
    train_group([cfg], [record], lambda prepared: OneRun(prepared[0].model, prepared[0].spec, cfg.clip,
                                                         cfg.budget.clip_value),
                out_dir, accelerator, devices, strategy=strategy, callbacks=callbacks, run_loggers=run_loggers,
                steps_per_batch=1 if strategy == "ddp" else steps_per_batch, save_checkpoints=save_checkpoint)
    if wandb:
        record.wandb_error = tracking.finish(wandb, record.to_dict())
    if rank_zero_only.rank == 0:  # under DDP every process trains the run; one writes it
        return ResultStore(out_dir).write(record)  # another sweep's finished record stands over this run's failure
    return record.to_dict()


def execute_fused(
    configs: Sequence[RunConfig],
    out_dir: str | Path,
    suite: str = "custom",
    accelerator: str = "cpu",
    devices: int | list[int] = 1,
    save_checkpoints: bool = False,
) -> list[dict]:
    """Train a fusable group of runs as one stacked model and write each run's result.json; returns the K records'
    JSON objects that stand (ResultStore.write). Like execute(), never raises for the runs' own failures: a run that
    diverges is recorded `diverged` while its group mates train on; an error of the group is every run's `failed`."""
    quiet_lightning()
    configs, out_dir = list(configs), Path(out_dir)
    kernel = fusion_kernel(configs[0], device_type(accelerator))
    records = [new_record(cfg, suite) for cfg in configs]
    for record in records:
        record.device = device_name(accelerator)
        record.fused_k, record.fused_kernel, record.wall_seconds_shared = len(configs), kernel, True

    def stacked(prepared: list[PreparedRun]) -> StackedRuns:
        check(fusable(configs), "execute_fused: these runs cannot share a fused model (models.fusion.fusable)")
        return StackedRuns(FusedSequenceModel([p.model for p in prepared], kernel), configs)

    train_group(configs, records, stacked, out_dir, accelerator, devices, save_checkpoints=save_checkpoints)
    store = ResultStore(out_dir)
    return [store.write(record) for record in records]


def train_group(configs: Sequence[RunConfig], records: Sequence[RunRecord],
                make_group: Callable[[list[PreparedRun]], RunGroup], out_dir: Path, accelerator: str, devices,
                strategy: str = "auto", callbacks: Sequence[L.Callback] = (), run_loggers: Callable[[], list] = list,
                steps_per_batch: int | None = None, save_checkpoints: bool = False) -> None:
    """Train `configs` (runs sharing a budget's steps and schedule) as one group and fill their records: each run
    prepared (prepare_run), the group's model made from theirs (`make_group`), one BenchModule and Trainer (its
    loggers from `run_loggers`, called once the runs are prepared), then each run tested, probed and recorded
    (test_run). A run's own failure is its record's; the group's is every unfinished run's `failed`."""
    start, module = time.perf_counter(), None
    try:
        prepared = [prepare_run(cfg, record) for cfg, record in zip(configs, records)]
        first, spec = configs[0], prepared[0].spec
        group = make_group(prepared)
        module = BenchModule(group, spec, first.lr, first.budget)
        data = group.data([p.data for p in prepared])
        used = run_loggers()
        trainer, grouped = grouped_trainer(accelerator, devices, first.budget, out_dir / "runs" / first.run_id, data,
                                           steps_per_batch or steps_for(first.budget), strategy=strategy,
                                           logger=used or False, callbacks=list(callbacks))
        for record in records:
            record.world_size = trainer.world_size
        try:
            trainer.fit(module, datamodule=grouped)
            if any(run.diverged is None and run.best_state is None for run in module.runs):  # fewer steps than one
                trainer.validate(module, datamodule=data, verbose=False)                     # evaluation interval
        except Diverged:  # every run diverged (each run's is in module.runs)
            pass
        models = group.run_models()  # holding the last weights
        for k, (cfg, record, prep, model) in enumerate(zip(configs, records, prepared, models)):
            try:
                test_run(k, module, trainer, model, cfg, record, prep, out_dir, save_checkpoints)
            except Diverged as err:  # training's, or its best weights' test outputs are not finite (finish_record)
                record_diverged(record, err)
            except Exception as err:  # noqa: BLE001 - this run's failure; its group mates are recorded on
                record_failed(record, err)
    except Exception as err:  # noqa: BLE001 - the group's failure is each run's, the sweep goes on
        for record in records:
            if record.status not in FINISHED:
                record_failed(record, err)
    wall = (time.perf_counter() - start) / len(records)
    for k, record in enumerate(records):
        run = module.runs[k] if module is not None else RunState("none", 0.0)  # the group failed before training
        close_record(record, run.steps, run.history, run.stats(), wall)


def test_run(k: int, module: BenchModule, trainer: L.Trainer, model: torch.nn.Module, cfg: RunConfig,
             record: RunRecord, prep: PreparedRun, out_dir: Path, save_checkpoint: bool) -> None:
    """Run k of a trained group: its last weights (`model`) tested unless it diverged, then its best checkpoint's
    loaded into `model`, tested, probed and kept (save_checkpoint); the record filled (raises Diverged for a run that
    diverged: the caller records it)."""
    run, spec = module.runs[k], prep.spec

    def test() -> dict:  # a single run in the module it trained in; a run of a stacked group in a module of its own
        tester = module if model is module.model else BenchModule(model, spec, cfg.lr, cfg.budget)
        trainer.test(tester, datamodule=prep.data, verbose=False)
        return tester.test_results[0]

    if run.diverged is None:
        record.last = last_result(spec, test(), run.steps)
    if run.best_state is not None:
        model.load_state_dict({**model.state_dict(), **run.best_state})
        finish_record(record, spec, test(), run.best_step, run.diverged, run.best_values)
        record.grad["probe"]["end"] = probe_flow(model, spec, prep.probe)
        if save_checkpoint and rank_zero_only.rank == 0:
            save_best(record, model, out_dir)
    if run.diverged is not None:
        raise run.diverged
