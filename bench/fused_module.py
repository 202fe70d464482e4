"""Horizontal fusion in the runner: K runs that share a cell and shape trained as one stacked model.

`execute_fused(configs, ...)` is `bench.runner.execute` for a group from `models.fused.group_runs`: each run
is prepared exactly as execute() prepares it (its own seed, data module and initial weights), the K models
become one `FusedSequenceModel`, and one Lightning Trainer trains `FusedModule` on the K runs' batches
stacked in lockstep. Everything that execute() leaves to Lightning or to TrainingMonitor happens here per
run: gradient clipping (`per_run_clip_`, each run's own kind and threshold), the divergence guard (a run
with a non-finite loss or gradient is frozen - learning rate 0, gradients zeroed - and recorded diverged
while the others go on), gradient statistics and the best weights. Each run is then tested and probed as
an ordinary SequenceModel (`unfuse()`) and written to its own result.json by the runner's record code,
with `fused_k` and `wall_seconds_shared` (wall_seconds is the group's wall time / K).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Sequence

import lightning as L
import torch

from rnnbench.bench.callbacks import Diverged, GradStats
from rnnbench.bench.config import RunConfig
from rnnbench.bench.module import BenchModule, TaskMetrics
from rnnbench.bench.optim import LR_SCHEDULES
from rnnbench.bench.record import FINISHED
from rnnbench.bench.registry import check
from rnnbench.bench.recorder import (close_record, finish_record, last_result, new_record, record_diverged,
                                     record_failed)
from rnnbench.bench.runner import (device_name, device_type, grouped_trainer, make_trainer, prepare_run, probe_flow,
                                   quiet_lightning, save_best)
from rnnbench.bench.steps import steps_for, train_steps
from rnnbench.bench.store import ResultStore
from rnnbench.models.fused import FusedSequenceModel, fusable, fused_loss, fusion_kernel, per_run_clip_, stacked_optimizer


class StackedLoader:
    """K data loaders iterated in lockstep: yields (x [K, B, ...], y [K, B, ...]), one batch of each run."""

    def __init__(self, loaders: Sequence):
        self.loaders = list(loaders)

    def __len__(self) -> int:
        return min(len(loader) for loader in self.loaders)

    def __iter__(self):
        for batches in zip(*self.loaders):
            xs, ys = zip(*batches)
            yield torch.stack(xs), torch.stack(ys)


class StackedDataModule(L.LightningDataModule):
    """The K runs' data modules (each with its own seed) served as stacked batches."""

    def __init__(self, datas: Sequence[L.LightningDataModule]):
        super().__init__()
        self.datas = list(datas)

    def setup(self, stage: str | None = None) -> None:
        for d in self.datas:  # each serves its batches on this trainer's device
            d.trainer = self.trainer

    def train_dataloader(self):
        return StackedLoader([d.train_dataloader() for d in self.datas])

    def val_dataloader(self):
        return StackedLoader([d.val_dataloader() for d in self.datas])

    def test_dataloader(self):
        return StackedLoader([d.test_dataloader() for d in self.datas])


class RunStats(GradStats):
    """One run's share of TrainingMonitor: its gradient statistics, best weights, divergence and history."""

    def __init__(self, clip: str, clip_value: float):
        super().__init__(clip, clip_value)
        self.diverged: Diverged | None = None
        self.history: list[dict[str, float]] = []


class FusedModule(L.LightningModule):
    """Trains a FusedSequenceModel: K runs, one optimizer step for all, per-run clipping and divergence."""

    def __init__(self, fused: FusedSequenceModel, configs: Sequence[RunConfig]):
        super().__init__()
        check(fusable(configs) and len(configs) == fused.K, "FusedModule: the configs must be one fusable group of K runs")
        self.fused, self.configs, self.K = fused, list(configs), fused.K
        first = configs[0]
        self.spec, self.lr_schedule, self.budget = fused.spec, first.lr, first.budget
        self.automatic_optimization = False  # Lightning's clipping would take one norm over all K runs
        self.loss_fn = fused_loss(self.spec)
        self.val_metrics = torch.nn.ModuleList(TaskMetrics(self.spec) for _ in configs)
        self.runs = [RunStats(c.clip, c.budget.clip_value) for c in configs]
        self.clip_kinds = [c.clip for c in configs]
        self.clip_values = [float(c.budget.clip_value) for c in configs]

    def forward(self, x):
        return self.fused(x)

    @property
    def active(self) -> list[bool]:
        return [run.diverged is None for run in self.runs]

    def _freeze(self, k: int, step: int, what: str) -> None:
        """Run k diverged: record it and stop its training (learning rate 0) while the others go on. Its weights
        are zeroed (its best ones are kept apart, in best_state): under a mixing kernel (FusedSequenceModel.mixes_runs)
        their overflow would reach the other runs at every later step, each then taken twice (see fused_step)."""
        self.runs[k].diverged = Diverged(step, what)
        for group in self.trainer.optimizers[0].param_groups:
            group["run_lr"][k] = 0.0
        with torch.no_grad():
            for param, _ in self.fused.stacked_pairs():
                param[k] = 0.0
        if not any(self.active):
            self.trainer.should_stop = True

    def training_step(self, batch, batch_idx):
        train_steps(self, batch, self.fused_step)

    def _backward(self, opt, x, y, path, kernel: str | None = None):
        """The K runs' forward and backward on x, y: (params with a gradient, the per-run losses [K], the per-run
        gradient norms [K] and largest absolute gradients [K], before clipping)."""
        opt.zero_grad()
        loss, losses = self.loss_fn(self.fused(x, kernel), y)
        path.backward(loss)
        params = [p for p in self.fused.parameters() if p.grad is not None]
        K = self.K
        with torch.no_grad():
            norms = torch.stack([p.grad.reshape(K, -1).norm(2, dim=1) for p in params]).norm(2, dim=0)
            max_abs = torch.stack([p.grad.reshape(K, -1).abs().amax(1) for p in params]).amax(0)
        return params, losses, norms, max_abs

    def fused_step(self, opt, x, y, path) -> None:
        """One optimizer step of the K runs on their stacked batches x, y ([K, B, ...]) (path: bench.steps.step_path)."""
        params, losses, norms, max_abs = self._backward(opt, x, y, path)
        loss_ok, norm_ok = torch.isfinite(losses).tolist(), torch.isfinite(norms).tolist()
        if self.fused.mixes_runs and not all(loss_ok + norm_ok):  # which run it was: the step again, runs kept apart
            params, losses, norms, max_abs = self._backward(opt, x, y, path, "stepped")
            loss_ok, norm_ok = torch.isfinite(losses).tolist(), torch.isfinite(norms).tolist()
        step = self.global_step + 1
        grads = [p.grad for p in params]
        with torch.no_grad():
            for k in range(self.K):
                if self.runs[k].diverged is None and not (loss_ok[k] and norm_ok[k]):
                    self._freeze(k, step, "training loss" if not loss_ok[k] else "gradient")
            frozen = [k for k, a in enumerate(self.active) if not a]
            for g in grads:
                g[frozen] = 0.0
            per_run_clip_(params, self.clip_values, self.clip_kinds)
            norms, max_abs = norms.tolist(), max_abs.tolist()
            for k, run in enumerate(self.runs):
                if run.diverged is None:
                    run.record_step(norms[k], max_abs[k])
        path.step(opt)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self.fused(x)
        if self.fused.mixes_runs and not bool(torch.isfinite(out).all()):  # one run's overflow: keep the runs apart
            out = self.fused(x, "stepped")
        for k, active in enumerate(self.active):
            if active:
                self.val_metrics[k].update(out[k], y[k])

    def on_validation_epoch_end(self):
        if self.trainer.sanity_checking:
            return
        step = int(self.global_step)
        group = self.trainer.optimizers[0].param_groups[0] if self.trainer.optimizers else None
        for k, run in enumerate(self.runs):
            if run.diverged is not None:
                continue
            values = self.val_metrics[k].compute()
            lr = float(group["lr"] * float(group["run_lr"][k])) if group is not None else None
            run.history.append({"step": step, "lr": lr, **{f"val_{n}": v for n, v in values.items()}})
            loss = values["loss"]
            if not math.isfinite(loss):
                self._freeze(k, step, "validation loss")
            elif run.is_best(key := self.spec.checkpoint_key(values)):
                run.best_key, run.best_step, run.best_values = key, step, values
                run.best_state = [p[k].detach().clone() for p, _ in self.fused.stacked_pairs()]

    def best_models(self) -> list:
        """The K runs as SequenceModels, each holding its best weights (None for a run without any)."""
        models = self.fused.unfuse()
        for k, (model, run) in enumerate(zip(models, self.runs)):
            if run.best_state is None:
                models[k] = None
                continue
            state = model.state_dict()
            for (_, name), value in zip(self.fused.stacked_pairs(), run.best_state):
                state[name] = value
            model.load_state_dict(state)
        return models

    def configure_optimizers(self):
        optimizer = stacked_optimizer(self.budget.optimizer, self.fused.parameters(),
                                      [float(c.budget.learning_rate) for c in self.configs])
        config = LR_SCHEDULES.get(self.lr_schedule)(optimizer, self.budget)
        check(not (isinstance(config, dict) and "plateau" in config), "horizontal fusion does not support lr=plateau")
        return config


def execute_fused(
    configs: Sequence[RunConfig],
    out_dir: str | Path,
    suite: str = "custom",
    accelerator: str = "cpu",
    devices: int | list[int] = 1,
    save_checkpoints: bool = False,
) -> list[dict]:
    """Train a fusable group of runs as one stacked model and write each run's result.json; returns the
    K records' JSON objects that stand (ResultStore.write). Like execute(), never raises for the runs' own failures: a run that diverges is recorded
    `diverged` while its group mates train on; an error of the group is every run's `failed`."""
    quiet_lightning()
    configs = list(configs)
    out_dir = Path(out_dir)
    store = ResultStore(out_dir)
    K = len(configs)
    kernel = fusion_kernel(configs[0], device_type(accelerator))
    records = [new_record(cfg, suite) for cfg in configs]
    for record in records:
        record.device = device_name(accelerator)
        record.fused_k, record.fused_kernel, record.wall_seconds_shared = K, kernel, True
    start = time.perf_counter()
    module = None
    try:
        check(fusable(configs), "execute_fused: these runs cannot share a fused model (models.fused.fusable)")
        prepared = [prepare_run(cfg, record) for cfg, record in zip(configs, records)]
        spec = prepared[0].spec
        module = FusedModule(FusedSequenceModel([p.model for p in prepared], kernel), configs)
        data = StackedDataModule([p.data for p in prepared])
        root = out_dir / "runs" / configs[0].run_id
        trainer, grouped = grouped_trainer(accelerator, devices, configs[0].budget, root, data,
                                           steps_for(configs[0].budget))
        for record in records:
            record.world_size = trainer.world_size
        trainer.fit(module, datamodule=grouped)
        if any(r.diverged is None and r.best_state is None for r in module.runs):  # fewer steps than one interval
            trainer.validate(module, datamodule=data, verbose=False)
        def test(model, cfg, prep) -> dict:  # the normal test path: BenchModule on the run's own data module
            bench = BenchModule(model, spec, cfg.lr, cfg.budget)
            make_trainer(accelerator, devices, cfg.budget, root).test(bench, datamodule=prep.data, verbose=False)
            return bench.test_results

        last_models = module.fused.unfuse()  # the last weights (a diverged run's are zeroed: not tested)
        for cfg, record, run, model, last, prep in zip(configs, records, module.runs, module.best_models(),
                                                       last_models, prepared):
            if model is None:  # diverged before its first validation
                record_diverged(record, run.diverged)
                continue
            try:
                if run.diverged is None:
                    record.last = last_result(spec, test(last, cfg, prep), run.steps)
                finish_record(record, spec, test(model, cfg, prep), run.best_step, run.diverged, run.best_values)
                record.grad["probe"]["end"] = probe_flow(model, spec, prep.probe)
                if save_checkpoints:
                    save_best(record, model, out_dir)
                if run.diverged is not None:
                    record_diverged(record, run.diverged)
            except Diverged as err:  # its best weights' test outputs are not finite (finish_record)
                record_diverged(record, err)
            except Exception as err:  # noqa: BLE001 - this run's failure; its group mates are recorded on
                record_failed(record, err)
    except Exception as err:  # noqa: BLE001 - the group's failure is each run's, the sweep goes on
        for record in records:
            if record.status not in FINISHED:
                record_failed(record, err)
    wall = (time.perf_counter() - start) / K
    written = []
    for k, record in enumerate(records):
        run = module.runs[k] if module is not None else None
        close_record(record, run.steps if run else 0, run.history if run else [],
                     run.stats() if run else {}, wall)
        written.append(store.write(record))
    return written
