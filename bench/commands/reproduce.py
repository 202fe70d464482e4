"""`rnnbench reproduce`: retrain published records from their configs and check they give the same numbers (issue
21: re-training a committed row, its config and seed, with the same torch version and CPU kernels gives the same
score).

Each record is read by the leaderboard's reader (leaderboard.collect.read_records), its config rebuilt
(RunConfig.from_dict: its run id must be the record's), trained alone by the one training path (bench.runner.execute)
into a fresh folder under a sweep worker's numerics (bench.worker.setup_worker_numerics: one intra-op thread,
flush-to-zero) and with the CPU kernels the records name (versions.cpu_kernels, or --cpu-kernels), and its new
record compared with the published one field by field, exactly: every MEASURED field (what the run measured), never
those that say when, where and by what code it ran (created, wall_seconds, git_commit, versions, device, ...: two
trainings of one run differ there, bit for bit reproducible or not)."""

from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
import os
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
# torch's vectorized CPU kernels: chosen once per process, when it starts (ATEN_CPU_CAPABILITY, else the machine's
# best); float32 rounds differently in each, so a run trained with AVX2 kernels and retrained with AVX512 ones can
# agree for a while and then drift as training amplifies the difference
KERNELS_ENV = "ATEN_CPU_CAPABILITY"
CPU_KERNELS = ("default", "avx2", "avx512")
TRIED_KERNELS = ("avx512", "avx2")  # the best kernels of x86 machines: where torch takes its kernels by default


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
    for record in chosen:  # every config checked before any training
        rebuilt_config(record)
    if args.out is not None:
        writable_folder(args.out, "--out")
        taken = [r.run_id for r in chosen if ResultStore(args.out).path(r.run_id).exists()]
        if taken:
            raise ConfigError(f"--out {args.out} already holds a result of run {taken[0]}: choose a fresh folder")
    return retrain(chosen, args)


def cpu_kernels() -> str:
    """The CPU kernels torch computes with in this process ("avx2", "avx512", "default", ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability().lower()


def wanted_kernels(chosen: list[RunRecord], asked: str | None) -> str | None:
    """The CPU kernels to retrain with: `asked` (--cpu-kernels), else the one set the records trained on a CPU name
    (versions.cpu_kernels), else None (each of TRIED_KERNELS in turn), with a warning for records that name none or
    several."""
    if asked:
        return asked
    on_cpu = [(r.versions or {}).get("cpu_kernels") for r in chosen if not str(r.device).startswith("cuda")]
    named = sorted({str(k).lower() for k in on_cpu if k})
    unnamed = sum(not k for k in on_cpu)
    if len(named) > 1 or unnamed and named:
        warnings.warn(f"the records name several CPU kernels ({', '.join(named + ['none'] * bool(unnamed))}): "
                      f"retrained with each of {', '.join(TRIED_KERNELS)} in turn; --cpu-kernels picks one")
    elif unnamed:
        warnings.warn(f"{unnamed} of the {len(chosen)} records do not name the CPU kernels that trained them "
                      "(versions.cpu_kernels, recorded by newer rnnbench): retrained with this machine's and, where "
                      f"they differ, with each of {', '.join(TRIED_KERNELS)} in turn; --cpu-kernels picks one")
    return named[0] if len(named) == 1 and not unnamed else None


def retrain(chosen: list[RunRecord], args) -> int:
    """Retrain the chosen records into --out (or a temporary folder), one line a run, and a summary; 0 where every
    run gives its published numbers, else 1. With the kernels wanted_kernels picks, else with this machine's first
    and, for the runs that differ, with each other of TRIED_KERNELS (the records made before rnnbench named them
    came from machines with either: rnnbench's published records do); a run's last retraining stays in --out."""
    import torch

    from rnnbench.bench.runner import device_name

    accelerator = "gpu" if all(str(r.device).startswith("cuda") for r in chosen) and torch.cuda.is_available() \
        else "cpu"
    warn_provenance(chosen, device_name(accelerator))
    kernels = wanted_kernels(chosen, args.cpu_kernels)
    tries = [kernels] if kernels else [cpu_kernels(), *(k for k in TRIED_KERNELS if k != cpu_kernels())]
    published_time = sum(r.wall_seconds or 0 for r in chosen)
    with tempfile.TemporaryDirectory(prefix="rnnbench-reproduce-") as tmp:
        out = args.out if args.out is not None else Path(tmp)
        print(f"retraining {len(chosen)} run(s) into {out if args.out is not None else 'a temporary folder'} "
              f"(published training time {published_time:.0f} s in all)", flush=True)
        left = chosen
        for attempt, kernels in enumerate(tries):
            if attempt:
                print(f"retraining the {len(left)} that differ with torch's {kernels} CPU kernels", flush=True)
            left = retrain_with(kernels, left, out, accelerator)
            if not left:
                break
    print(f"{len(chosen) - len(left)} of {len(chosen)} run(s) gave their published numbers exactly (every measured "
          f"field: {', '.join(MEASURED[:6])}, ...; not the wall or creation time, commit, versions or device)")
    return 0 if not left else 1


def retrain_with(kernels: str, records: list[RunRecord], out: Path, accelerator: str) -> list[RunRecord]:
    """retrain_here, in this process where it computes with `kernels`, else in a fresh process started with them
    (torch reads ATEN_CPU_CAPABILITY once, as it starts): the records that differ."""
    if kernels == cpu_kernels():
        return retrain_here(records, out, accelerator)
    before = os.environ.get(KERNELS_ENV)
    os.environ[KERNELS_ENV] = kernels  # a spawned process inherits the environment as it is when it starts
    try:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(_retrain_in_child, kernels, records, out, accelerator).result()
    finally:
        if before is None:
            del os.environ[KERNELS_ENV]
        else:
            os.environ[KERNELS_ENV] = before


def _retrain_in_child(kernels: str, records: list[RunRecord], out: Path, accelerator: str) -> list[RunRecord]:
    from rnnbench.bench.plugins import load_all

    load_all()  # the user's cells and tasks (RNNBENCH_INCLUDE, inherited)
    if cpu_kernels() != kernels:
        warnings.warn(f"this machine has no {kernels} CPU kernels (torch chose {cpu_kernels()}): not retrained with "
                      "them")
        return records
    return retrain_here(records, out, accelerator)


def retrain_here(records: list[RunRecord], out: Path, accelerator: str) -> list[RunRecord]:
    """Train each record's config into `out` under a sweep worker's numerics and print one line a run, with the CPU
    kernels of this process; the records whose retrained numbers differ."""
    from rnnbench.bench.runner import execute
    from rnnbench.bench.worker import setup_worker_numerics

    setup_worker_numerics(1)  # as a sweep worker trains (and the device name says "1 thread")
    differing = []
    for record in records:
        published = record.to_dict()
        execute(rebuilt_config(record), out, suite=record.suite or "custom", accelerator=accelerator)
        retrained = json.loads(ResultStore(out).path(record.run_id).read_text())  # as written: NaN as null
        diffs = differences(published, retrained)
        if diffs:
            differing.append(record)
        print(f"{record.run_id}  {record.task_label}  {record.combo}  {record.tuning or ''}  "
              f"published: {outcome(published)}  retrained ({cpu_kernels()} kernels): {outcome(retrained)}  "
              f"{verdict(diffs)}", flush=True)
    return differing
