"""`rnnbench reproduce`: retrain published records from their configs and check they give the same numbers (issue
21: re-training a committed row, its config and seed, on the same machine and torch version gives the same score).

Each record is read by the leaderboard's reader (leaderboard.collect.read_records), its config rebuilt
(RunConfig.from_dict: its run id must be the record's), trained alone by the one training path (bench.runner.execute)
into a fresh folder under a sweep worker's numerics (bench.worker.setup_worker_numerics: one intra-op thread,
flush-to-zero), and its new record compared with the published one field by field, exactly: every MEASURED field
(what the run measured), never those that say when, where and by what code it ran (created, wall_seconds,
git_commit, versions, device, ...: two trainings of one run differ there, bit for bit reproducible or not)."""

from __future__ import annotations

import json
import math
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

from rnnbench.bench.commands.output import writable_folder
from rnnbench.bench.record import FINISHED, RunRecord
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.store import PUBLISHED, ResultStore, provenance

# The fields a retrained record must hold exactly as published: the outcome and every number the run measured (its
# metrics and scores, the checkpoint it chose, its validation history, gradient statistics and probe, its model's
# size, the task's baseline and reference and the digest of its data files). The six first decide the leaderboard.
MEASURED = ("status", "metrics", "normalized_score", "val_score", "best_step", "diverged_at_step", "val_metrics",
            "last", "steps_trained", "history", "grad", "model_size", "baseline", "reference", "task_data")
SHOWN_IDS = 3  # run ids an error names as examples


def load_records(results: Path) -> dict[str, RunRecord]:
    """The records in RESULTS (a results folder or a published records file), one per run id (newest_records), by
    run id. Raises ConfigError where there is no such folder or file, or no record in it."""
    from rnnbench.leaderboard.collect import newest_records, read_records

    if not (results.is_dir() or results.name == PUBLISHED and results.is_file()):
        raise ConfigError(f"{results}: no such results folder (or {PUBLISHED} file)")
    records = {r.run_id: r for _, r in newest_records(read_records([results]))}
    if not records:
        raise ConfigError(f"{results}: no records there")
    return records


def choose(records: dict[str, RunRecord], run_ids: list[str], sample: int, seed: int, results: Path) -> list[RunRecord]:
    """The records named by `run_ids`, or without ids `sample` finished (ok or diverged) ones drawn at random with
    `seed`. Raises ConfigError for an unknown id or a failed record (nothing to reproduce)."""
    finished = sorted(i for i, r in records.items() if r.status in FINISHED)
    if not run_ids:
        if sample < 1:
            raise ConfigError(f"--sample must be >= 1, got {sample}")
        if not finished:
            raise ConfigError(f"{results}: no ok or diverged record to reproduce (a failed run measured nothing)")
        return [records[i] for i in sorted(random.Random(seed).sample(finished, min(sample, len(finished))))]
    for run_id in run_ids:
        if run_id not in records:
            raise ConfigError(f"unknown run id {run_id!r} in {results} ({len(records)} records, e.g. "
                              f"{', '.join(finished[:SHOWN_IDS] or sorted(records)[:SHOWN_IDS])}; "
                              f"`rnnbench reproduce {results} --list` lists them)")
        if records[run_id].status not in FINISHED:
            raise ConfigError(f"run {run_id} is {records[run_id].status}: nothing to reproduce (a failed run "
                              "measured nothing; `rnnbench run` retries it)")
    return [records[i] for i in dict.fromkeys(run_ids)]


def rebuilt_config(record: RunRecord):
    """The RunConfig of `record`'s config, whose run id must be the record's. Raises ConfigError where this rnnbench
    cannot rebuild it (another version's config fields, a task or level it lacks) or it gives another run id."""
    from rnnbench.bench.config import RunConfig

    made = f"made by rnnbench {(record.versions or {}).get('rnnbench', '?')} at commit {record.git_commit or '?'}"
    plugin = " (a run of a user's file: pass it with --include)" if (record.config or {}).get("plugins") else ""
    try:
        cfg = RunConfig.from_dict(record.config)
        run_id = cfg.run_id
    except (ConfigError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(f"run {record.run_id}: this rnnbench cannot rebuild its config ({type(err).__name__}: "
                          f"{err}; {made}){plugin}".splitlines()[0]) from None
    if run_id != record.run_id:
        raise ConfigError(f"run {record.run_id}: its config makes run {run_id} here, not it ({made}, whose config "
                          f"fields or defaults differ from this one's){plugin}: cannot retrain it here")
    return cfg


def differences(published: dict[str, Any], retrained: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted path, published value, retrained value) for every MEASURED leaf that is not exactly equal, MEASURED's
    order. A field the published record lacks (written before it existed) is not compared."""
    out: list[tuple[str, Any, Any]] = []

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                walk(f"{path}.{key}", a.get(key), b.get(key))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(f"{path}[{i}]", x, y)
        elif not (a == b and isinstance(a, bool) == isinstance(b, bool) or _both_nan(a, b)):
            out.append((path, a, b))

    for name in MEASURED:
        if name in published:
            walk(name, published[name], retrained.get(name))
    return out


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def verdict(diffs: list[tuple[str, Any, Any]]) -> str:
    """ "same", or "DIFFERS (FIELD by X[, N fields])" naming the first field that differs and by how much."""
    if not diffs:
        return "same"
    path, a, b = diffs[0]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    by = f"{path} by {abs(b - a):.3g}" if numbers else f"{path}: {_short(a)} -> {_short(b)}"
    return f"DIFFERS ({by}{f'; {len(diffs)} fields differ' if len(diffs) > 1 else ''})"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def outcome(record: dict[str, Any]) -> str:
    """ "ok mse=0.0123 score=0.987": the status, primary metric and normalized score of a record's JSON object."""
    metric = record.get("primary_metric")
    value = (record.get("metrics") or {}).get(metric)
    shown = f" {metric}={value:.6g}" if isinstance(value, (int, float)) else ""
    score = record.get("normalized_score")
    status = record.get("status")
    if status == "failed":
        return f"failed ({record.get('error')})"
    return f"{status}{shown} score={score:.6g}" if isinstance(score, (int, float)) else f"{status}{shown} score=-"


def warn_provenance(chosen: list[RunRecord], here: str) -> None:
    """A warning for each way the chosen records were made elsewhere: another rnnbench or torch version, another
    device, fused or under DDP. Bit-for-bit equality is promised on the same machine and torch version alone."""
    from rnnbench.bench.recorder import versions

    dicts = [r.to_dict() for r in chosen]
    for line in provenance(dicts, versions()):  # equality is promised for the same torch version and machine only
        warnings.warn(line)
    other = sorted({str(r.device) for r in chosen if r.device != here})
    if other:
        warnings.warn(f"{sum(r.device != here for r in chosen)} of the {len(chosen)} records were trained on another "
                      f"device ({', '.join(other)}) than this one ({here}): their numbers may differ")
    fused = [r.run_id for r in chosen if r.fused_k]
    if fused:
        warnings.warn(f"{len(fused)} of the records were trained fused ({', '.join(fused[:SHOWN_IDS])}): retrained "
                      "alone; a fused run's numbers depend on its group (README: Horizontal fusion)")


def cmd_reproduce(args) -> int:
    records = load_records(args.results)
    if args.list:
        for run_id, r in sorted(records.items()):
            print(f"{run_id}  {r.status:<8}  {r.task_label}  {r.combo}  {r.tuning or ''}  "
                  f"{r.wall_seconds or 0:.0f}s")
        return 0
    chosen = choose(records, args.run_ids, args.sample, args.seed, args.results)
    configs = [rebuilt_config(r) for r in chosen]  # every one checked before any training
    if args.out is not None:
        writable_folder(args.out, "--out")
        taken = [r.run_id for r in chosen if ResultStore(args.out).path(r.run_id).exists()]
        if taken:
            raise ConfigError(f"--out {args.out} already holds a result of run {taken[0]}: choose a fresh folder")
    return retrain(chosen, configs, args)


def retrain(chosen: list[RunRecord], configs: list, args) -> int:
    """Train each chosen record's config into the output folder and print one line a run; 0 where every run gives
    its published numbers, else 1."""
    import torch

    from rnnbench.bench.runner import device_name, execute
    from rnnbench.bench.worker import setup_worker_numerics

    setup_worker_numerics(1)  # as a sweep worker trains (and the device name says "1 thread")
    gpu = all(str(r.device).startswith("cuda") for r in chosen) and torch.cuda.is_available()
    accelerator = "gpu" if gpu else "cpu"
    warn_provenance(chosen, device_name(accelerator))
    published_time = sum(r.wall_seconds or 0 for r in chosen)
    with tempfile.TemporaryDirectory(prefix="rnnbench-reproduce-") as tmp:
        out = args.out if args.out is not None else Path(tmp)
        print(f"retraining {len(chosen)} run(s) into {out if args.out is not None else 'a temporary folder'} "
              f"(published training time {published_time:.0f} s in all)", flush=True)
        differing = 0
        for record, cfg in zip(chosen, configs):
            published = record.to_dict()
            execute(cfg, out, suite=record.suite or "custom", accelerator=accelerator)
            retrained = json.loads(ResultStore(out).path(cfg.run_id).read_text())  # as written: NaN as null
            diffs = differences(published, retrained)
            differing += bool(diffs)
            print(f"{record.run_id}  {record.task_label}  {record.combo}  {record.tuning or ''}  "
                  f"published: {outcome(published)}  retrained: {outcome(retrained)}  {verdict(diffs)}", flush=True)
    same = len(chosen) - differing
    print(f"{same} of {len(chosen)} run(s) gave their published numbers exactly (every measured field: "
          f"{', '.join(MEASURED[:6])}, ...; not the wall or creation time, commit, versions or device)")
    return 0 if differing == 0 else 1
