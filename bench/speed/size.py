"""How long would a whole suite take here? Times a sample of it and projects (a benchmark, not a test).

    rnnbench size --suite standard [--jobs 24] [--steps 100 200] [--workers N] [--fuse] [--devices IDS]

The sample is a seeded random draw from the suite's own job list (a job is one run, or with --fuse a fused
group of runs, exactly as `rnnbench run` would make them), stratified by task setting (each gets its share
of the sample), so its mix of tasks, cells and remedy paths is the suite's in expectation (every n-th job
would alias with the grid's period: 24 jobs of the standard suite were 4 remedy combinations). It is
trained twice through the real sweep (run_grid: worker pool, records, everything) with max_steps cut
to each of --steps (eval_every and warmup_steps cut in proportion, so evaluations keep their share),
into a temporary folder. A run's time is linear in its step count, a + b * steps (a:
set-up, probes, test), so the sample's summed run times (each record's wall_seconds, measured with
the other workers busy beside it; a fused group's share its wall time) at the two step counts give the
sum at the suite's max_steps; the projection is that sum / workers * (suite jobs / sampled jobs), plus
the pool's start-up once, each term printed. Diverged runs stop early here as they would in the real
sweep.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rnnbench.bench.config import RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.launch import LaunchOptions, make_jobs, run_grid
from rnnbench.bench.suite import load_suite


def cut_steps(cfg: RunConfig, steps: int) -> RunConfig:
    """cfg with max_steps = steps and eval_every / warmup_steps scaled by the same factor."""
    b = cfg.budget
    f = steps / b.max_steps
    budget = dataclasses.replace(b, max_steps=steps, eval_every=max(1, round(b.eval_every * f)),
                                 warmup_steps=min(steps - 1, max(0, round(b.warmup_steps * f))))
    return dataclasses.replace(cfg, budget=budget)


def sample_jobs(jobs: list[list[RunConfig]], n: int, seed: int = 0) -> list[list[RunConfig]]:
    """n whole jobs, in the job list's order: each task setting (its first run's task label) gets its share of n
    (largest remainders), drawn at random (seeded) within it."""
    n = min(n, len(jobs))
    strata: dict[str, list[int]] = defaultdict(list)
    for i, job in enumerate(jobs):
        strata[job[0].task_label].append(i)
    shares = {label: n * len(members) / len(jobs) for label, members in strata.items()}
    take = {label: int(share) for label, share in shares.items()}
    for label in sorted(shares, key=lambda lb: shares[lb] - take[lb], reverse=True)[: n - sum(take.values())]:
        take[label] += 1
    rng = random.Random(seed)
    picked = sorted(i for label, members in strata.items() for i in rng.sample(members, take[label]))
    return [jobs[i] for i in picked]


def path_of(cfg: RunConfig, device) -> str:
    """The model path a run takes on `device` (what decides its speed): cell, path (models.layer.route), skip."""
    from rnnbench.models.layer import route

    m = cfg.model
    path = route(m.cell, m.activation, m.skip == "temporal", device)
    return f"{m.cell} {path}{' skip=' + m.skip if m.skip != 'none' else ''}"


def startup_seconds(wall_s1: float, work_s1: float, workers: int) -> float:
    """The pool's start-up: the first sweep's wall beyond its runs' share of the workers."""
    return max(0.0, wall_s1 - work_s1 / max(1, workers))


def projected_hours(full: float, wall_s1: float, work_s1: float, workers: int, n_jobs: int, n_sample: int) -> float:
    """The suite's wall hours: the sample's summed job time at max_steps (`full`; a fused group's is its wall time)
    spread over the workers and scaled from the `n_sample` sampled jobs to the suite's `n_jobs` (by jobs, not runs: a
    fused group of K runs is one job, and scaling by runs would count its time K-fold where the sample drew it), plus
    the pool's start-up."""
    return (full / max(1, workers) * n_jobs / n_sample + startup_seconds(wall_s1, work_s1, workers)) / 3600


def timed_sweep(runs: list[RunConfig], opts: LaunchOptions) -> tuple[float, dict, list[dict]]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        counts = run_grid(runs, dataclasses.replace(opts, out_dir=Path(out)))
        wall = time.perf_counter() - start
        records = [json.loads(p.read_text()) for p in Path(out).glob("runs/*/result.json")]
    return wall, counts, records


def main(argv=None) -> int:
    from rnnbench.bench.devices import default_workers, resolve_devices
    from rnnbench.bench.registry import ConfigError
    from rnnbench.bench.runner import device_type

    p = argparse.ArgumentParser(prog="rnnbench size", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="standard", help="suite name or YAML file (default: standard)")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="only these tasks of the suite")
    p.add_argument("--jobs", type=int, default=24, help="jobs in the sample (default: 24)")
    p.add_argument("--steps", type=int, nargs=2, default=(100, 200), metavar=("S1", "S2"),
                   help="the two cut step counts (default: 100 200)")
    p.add_argument("--workers", type=int, help="worker processes (default: as `rnnbench run`)")
    p.add_argument("--devices", help="as `rnnbench run --devices`")
    p.add_argument("--fuse", action="store_true", help="as `rnnbench run --fuse`")
    p.add_argument("--quiet", action="store_true", help="no progress line per sample run")
    args = p.parse_args(argv)
    try:
        suite = load_suite(args.suite)
        runs = expand(suite, args.tasks)
        accelerator, devices = resolve_devices(args.devices)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    s1, s2 = sorted(args.steps)
    if "budget.max_steps" in suite.sweep:  # the projection scales each run to one max_steps
        p.error(f"suite {suite.name} sweeps max_steps {suite.sweep['budget.max_steps']}: size it once per value "
                "(a suite file for each)")
    if not 0 < s1 < s2 <= suite.budget.max_steps:
        p.error(f"--steps {s1} {s2}: need 0 < S1 < S2 <= the suite's max_steps ({suite.budget.max_steps})")
    workers = args.workers if args.workers is not None else default_workers(devices)
    opts = LaunchOptions(out_dir=Path("."), suite=suite.name, workers=workers, accelerator=accelerator,
                         devices=devices, quiet=args.quiet, fuse=args.fuse)
    jobs = make_jobs(runs, opts)
    sampled = sample_jobs(jobs, args.jobs)
    sample = [cfg for job in sampled for cfg in job]
    where = f"{accelerator} {list(devices) if devices else ''}".strip()
    print(f"suite {suite.name}: {len(runs)} runs in {len(jobs)} jobs; sample: {len(sample)} runs in "
          f"{min(args.jobs, len(jobs))} jobs; {workers} workers on {where}{', fused' if args.fuse else ''}", flush=True)
    work, walls, per_path, device = {}, {}, defaultdict(list), device_type(accelerator)
    failed = []
    for steps in (s1, s2):
        walls[steps], counts, records = timed_sweep([cut_steps(c, steps) for c in sample], opts)
        failed += [r for r in records if r["status"] == "failed"]
        work[steps] = sum(r["wall_seconds"] or 0.0 for r in records)
        print(f"  {steps} steps: sweep wall {walls[steps]:.1f} s, summed run time {work[steps]:.1f} s, {counts}",
              flush=True)
        if steps == s1:  # printed now: a run cut short by a time limit still says something
            upper = projected_hours(work[s1] * suite.budget.max_steps / s1, walls[s1], work[s1], workers, len(jobs),
                                    len(sampled))
            print(f"  rough projection from {s1} steps alone (all of a run's time scaled by {suite.budget.max_steps}/"
                  f"{s1}, its fixed cost too: an upper bound): {upper:.2f} h", flush=True)
        if steps == s2:
            for r in records:
                per_path[path_of(RunConfig.from_dict(r["config"]), device)].append(r["wall_seconds"] or 0.0)
    slope = (work[s2] - work[s1]) / (s2 - s1)
    full = max(work[s2], work[s1] + slope * (suite.budget.max_steps - s1))  # summed run time at max_steps
    startup = startup_seconds(walls[s1], work[s1], workers)
    hours = projected_hours(full, walls[s1], work[s1], workers, len(jobs), len(sampled))
    print(f"sample at {suite.budget.max_steps} steps (projected): {full / len(sample):.2f} s per run "
          f"({max(0.0, work[s1] - slope * s1) / len(sample):.2f} s of it fixed), {workers} workers side by side; "
          f"pool start-up about {startup:.0f} s")
    print(f"projection: {full:.2f} s summed job time / {workers} workers x {len(jobs)} suite jobs / {len(sampled)} "
          f"sampled jobs + {startup:.2f} s pool start-up = {3600 * hours:.2f} s")
    print(f"suite {suite.name}, {len(runs)} runs: {hours:.2f} h projected on this machine "
          f"({3600 * hours / len(runs):.2f} s of wall per run)")
    print(f"per run wall seconds at {s2} steps, by model path (median, runs):")
    for path, secs in sorted(per_path.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {path:<28} {statistics.median(secs):7.2f} s  ({len(secs)})")
    if failed:  # a failed run costs next to nothing: the projection above is too low by its share
        print(f"error: {len(failed)} sampled runs failed, so the projection is too low (first: {failed[0]['task_label']}"
              f" {failed[0]['combo']}: {failed[0]['error']}); fix the cause and measure again", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
