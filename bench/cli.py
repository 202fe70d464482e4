"""The `rnnbench` command: run a suite, build the leaderboard, list what exists, and every tool a user runs
(the literature's claims, sizing, README section, speed benchmarks) as a subcommand of its own (TOOLS)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rnnbench.bench.registry import ConfigError, one_line_warnings
from rnnbench.bench.store import FINISHED, PUBLISHED, ResultStore, WriteFailed

# Tools with parsers of their own: `rnnbench NAME ARGS...` runs module.main(ARGS) (imported only when asked for).
TOOLS = {
    "known": ("rnnbench.leaderboard.known", "check the literature's known results on result folders"),
    "size": ("rnnbench.bench.speed.size", "time a sample of a suite here and project the whole suite's duration"),
    "readme": ("rnnbench.leaderboard.readme", "write a leaderboard into a README's marked section"),
    "perf": ("rnnbench.bench.speed.perf", "the suite's own speed, as ratios against references (a benchmark)"),
    "speed-fused": ("rnnbench.bench.speed.fused", "throughput of horizontally fused runs (a benchmark)"),
    "speed-models": ("rnnbench.bench.speed.models", "every remedy path against its cell's fused kernel (a benchmark)"),
}

# `rnnbench run --logger`: Lightning's loggers a run's metrics go to (bench.runner.FILE_LOGGERS, and W&B through
# bench.tracking); --csv-log and --wandb name csv and wandb (chosen_loggers)
LOGGERS = ("csv", "tensorboard", "wandb")
TENSORBOARD_MISSING = ("--logger tensorboard needs the tensorboard package: pip install 'rnnbench[tensorboard]' "
                       "(in a checkout: pip install -e '.[tensorboard]')")

EPILOG = """examples:
  rnnbench list
  rnnbench run --suite quick --dry-run
  rnnbench run --suite quick --out results          # trains, then writes results/leaderboard/
  rnnbench run --suite standard --shard 0/4         # one of four SLURM array jobs
  rnnbench leaderboard --results results other_machine/results --out site
  rnnbench run --suite known --out known && rnnbench run --suite known_sgd --out known_sgd
  rnnbench known known known_sgd                   # the literature's claims, checked
  rnnbench size --suite reference                  # how long a suite would take here
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rnnbench",
        description="Benchmark the remedies for vanishing/exploding gradients in recurrent networks "
        "(gradient clipping, learning-rate schedules, gated cells, non-saturating activations, "
        "orthogonal/identity initialisation, skip connections) on long-range dependency tasks, "
        "and publish the results as a leaderboard.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    include = argparse.ArgumentParser(add_help=False)  # every command that reads configs or records takes it
    include.add_argument("--include", nargs="+", default=[], metavar="FILE",
                         help="Python files of your own to load first: the cells, tasks, init levels and lr "
                         "schedules they register become levels and tasks of the grid (README: Extending rnnbench); "
                         "each file's source joins its runs' ids. Also read from RNNBENCH_INCLUDE")

    run = sub.add_parser("run", parents=[include], help="train every run of a suite's grid (finished runs are skipped)",
                         description="Train every run of a suite's grid in long-lived worker processes, write one "
                         "result.json per run under OUT/runs/, then build the leaderboard in OUT/leaderboard/. "
                         "Runs whose result is ok or diverged are skipped, so a killed sweep resumes. Exit status 1 "
                         "where a run failed (its error is in its result.json; the same command retries it), else 0.")
    run.add_argument("--suite", default="quick", help="a shipped suite name (see `rnnbench list`) or a YAML file (default: quick)")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="suite settings to override, the value read as "
                     "YAML: model.hidden_size=16 budget.max_steps=100 tasks.adding.seq_len=50 seeds=3 "
                     "'tune={learning_rate: [0.001, 0.01]}' (they enter the run ids; `rnnbench show` prints the result); "
                     "after --tasks, which takes a list, put them after --")
    run.add_argument("--tasks", nargs="+", metavar="TASK", help="only these tasks of the suite")
    run.add_argument("--seeds", type=int, metavar="N", help="seeds per grid cell (default: the suite's)")
    run.add_argument("--out", default="results", type=Path, help="result folder (default: results); with "
                     "--launcher ray on several machines, a path every Ray node sees (a shared file system)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="worker processes, each with 1 intra-op thread (default: one per CPU core; with GPUs "
                     f"also one per core, at most {WORKERS_PER_GPU} per GPU and one per {GIB_PER_GPU_WORKER} GiB of its "
                     "memory, spread over them: one small run leaves most of a GPU idle); 0 runs in this process")
    run.add_argument("--devices", metavar="IDS",
                     help="GPUs to use: a count (2) or ids (0,1,3); default: every visible GPU, else CPU; 'cpu' forces CPU")
    run.add_argument("--strategy", choices=("auto", "ddp"), default="auto",
                     help="ddp: each run spans all --devices through Lightning's DDP (GPUs; on a machine without "
                     "GPUs, --devices N CPU processes with gloo), runs going one after another (default: auto, "
                     "one device per run, each worker pinned to one device)")
    run.add_argument("--launcher", choices=("local", "ray"), default="local",
                     help="local: worker processes on this machine (default); ray: one Ray task per run (one GPU "
                     "each where the cluster has GPUs, --devices cpu forces CPU), scheduled as resources free up; "
                     "needs the extra rnnbench[ray], and rnnbench's dependencies on every node")
    run.add_argument("--ray-address", default=os.environ.get("RAY_ADDRESS"), metavar="ADDRESS",
                     help="Ray cluster to join, e.g. auto or HEAD_IP:6379 (default: $RAY_ADDRESS, else a local "
                     "instance with --workers CPUs, shut down at the end)")
    run.add_argument("--fuse", action="store_true",
                     help="train groups of up to 8 runs that share a cell and shape as one stacked model where that "
                     "measured faster (models.fused.FUSION_PAYS: vanilla RNNs up to H=64, B=32 on GPUs; vanilla RNNs up "
                     "to H=128 and GRUs up to H=64, B=32 on CPUs); each run keeps its own result.json, with fused_k (default: off)")
    run.add_argument("--run-timeout", type=float, metavar="SECONDS",
                     help="a run (or fused group) still training after SECONDS is killed with its worker process and "
                     "recorded failed (a hung run cannot hold the sweep; the runs beside it start again, and the same "
                     "command retries it); default: no limit")
    run.add_argument("--shard", metavar="I/N", help="run only shard I of N of the grid (e.g. a SLURM array task)")
    run.add_argument("--allow-large", action="store_true", help="accept a grid larger than the limit on runs (a "
                     "larger one is refused before it is built, in one line naming the limit: most likely a typo, "
                     "e.g. seeds: 100000000)")
    run.add_argument("--logger", action="append", metavar="NAME[,NAME]", help="also log each run's training and "
                     "validation metrics through Lightning's loggers (repeatable, or a comma list): csv "
                     "(OUT/runs/<run_id>/csv/metrics.csv), tensorboard (OUT/runs/<run_id>/tensorboard/: `tensorboard "
                     "--logdir OUT/runs`; needs rnnbench[tensorboard]), wandb (as --wandb)")
    run.add_argument("--wandb", action="store_true", help="--logger wandb: also log every run to Weights & Biases "
                     "(offline unless logged in; upload later with `wandb sync OUT/wandb/offline-run-*`), and the "
                     "closing leaderboard as `rnnbench leaderboard --wandb` does")
    run.add_argument("--wandb-project", default="rnnbench", help="W&B project (default: rnnbench)")
    run.add_argument("--dry-run", action="store_true", help="print the grid, each run's state in OUT (ok, diverged: "
                     "kept; failed, stale (its corpus files changed since): retried; todo) and the counts, train nothing")
    run.add_argument("--no-leaderboard", action="store_true", help="do not build the leaderboard at the end")
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    run.add_argument("--csv-log", action="store_true", help="--logger csv: Lightning's CSVLogger per run, "
                     "OUT/runs/<run_id>/csv/metrics.csv (train/loss, train/grad_norm, val/<metric> by optimizer step)")
    run.add_argument("--save-checkpoints", action="store_true", help="keep each run's best weights in "
                     "OUT/runs/<run_id>/best.pt (a state dict: torch.load(path, weights_only=True), then "
                     "SequenceModel(spec, model_config).load_state_dict); the record's `checkpoint` names it")

    lb = sub.add_parser("leaderboard", parents=[include], help="build tables, plots and index.html from result folders",
                        description="Read every results/runs/*/result.json and records.jsonl.gz (never W&B), merge "
                        "folders (one record per run id) and write Markdown/CSV/LaTeX/HTML tables, plots and a "
                        "self-contained index.html. With --publish, first copy every record (diverged and failed "
                        "ones too) into OUT/records.jsonl.gz, one JSON line a run, gzipped, and build the page from "
                        "that file alone: a folder to commit, which `rnnbench leaderboard --results OUT` rebuilds.")
    lb.add_argument("--results", nargs="+", default=[Path("results")], type=Path, metavar="DIR",
                    help="result folders to merge, or published records.jsonl.gz files read alone (default: "
                    "results)")
    lb.add_argument("--out", type=Path, help="output folder (default: RESULTS/leaderboard of the first folder)")
    lb.add_argument("--claims", nargs="+", type=Path, default=[], metavar="DIR",
                    help="folders (or records.jsonl.gz files) of runs trained for the known results alone (e.g. the "
                    "known, known_sgd and known_copy suites): the claims are checked on them too, the tables and "
                    "effects leave them out")
    lb.add_argument("--threshold", type=float, default=0.9, help="normalized score that counts as solved (default: 0.9)")
    lb.add_argument("--publish", action="store_true", help="also write OUT/records.jsonl.gz (every record, compact) "
                    "and build the page from it: e.g. --out leaderboard/published/reference")
    lb.add_argument("--wandb", action="store_true", help="also log the tables as wandb.Tables and the page as an "
                    "artifact, in a W&B run of job_type leaderboard (offline unless logged in, in RESULTS/wandb)")
    lb.add_argument("--wandb-project", default="rnnbench", help="W&B project (default: rnnbench)")

    sub.add_parser("list", parents=[include], help="list tasks (with parameters), remedy axes and levels, and suites")
    show = sub.add_parser("show", parents=[include], help="print a suite as it resolves (with overrides) and its grid's size",
                          description="Print a suite resolved: every task setting, sub-grid, tuning setting, seeds, "
                          "model and budget field (defaults filled in), and the size of its grid; trains nothing.")
    show.add_argument("suite", help="a shipped suite name or a YAML file")
    show.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="as `rnnbench run`")
    for name, (_, text) in TOOLS.items():
        sub.add_parser(name, help=text, add_help=False)  # listed here; its own parser reads its arguments (main)
    return p


# Worker processes per GPU by default. One run keeps an H200 busy 4-5% (rnn B=32 H=64 T=50) to 39-65%
# (2-layer LSTM B=64 H=128 T=200) of its time (rnnbench perf --device cuda), and the standard suite's hand-written
# loops and temporal skips are bound by kernel launches, so several runs share a GPU well: the leaky_relu loop's
# forward + backward takes ~29 ms a layer alone, and with 8 workers side by side its 2-layer runs still trained
# at ~65 ms a step (bench.speed.size).
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


def chosen_loggers(args) -> tuple[str, ...]:
    """The loggers `rnnbench run` logs each run to: --logger's names (repeated or comma-separated) and the aliases
    --csv-log (csv) and --wandb (wandb), each once, in LOGGERS' order; an unknown name is refused, and tensorboard
    without its package (TENSORBOARD_MISSING)."""
    import importlib.util

    from rnnbench.bench.registry import choice

    names = {name.strip() for given in args.logger or () for name in given.split(",") if name.strip()}
    for name in sorted(names):
        choice("logger (--logger)", name, LOGGERS)
    names |= {"csv"} if args.csv_log else set()
    names |= {"wandb"} if args.wandb else set()
    if "tensorboard" in names and not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise ConfigError(TENSORBOARD_MISSING)  # Lightning's TensorBoardLogger writes with either
    return tuple(name for name in LOGGERS if name in names)


def cmd_run(args) -> int:
    from rnnbench.bench.config import GRID_LIMIT, expand, load_suite, swept_fields
    from rnnbench.bench.launch import LaunchOptions, parse_shard, run_grid, shard

    suite = load_suite(args.suite, args.overrides)
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    runs = expand(suite, args.tasks, args.seeds, limit=None if args.allow_large else GRID_LIMIT)
    swept = tuple(swept_fields(runs))  # of the whole grid: every shard names its runs alike
    loggers = chosen_loggers(args)
    if args.shard:
        runs = shard(runs, *parse_shard(args.shard))
    if args.run_timeout is not None:
        if not args.run_timeout > 0:  # also NaN
            raise ConfigError(f"--run-timeout must be > 0 seconds, got {args.run_timeout:g}")
        if args.launcher != "local" or args.strategy == "ddp" or args.workers == 0:
            raise ConfigError("--run-timeout works with the local launcher's worker processes (not --launcher ray, "
                              "--workers 0 or --strategy ddp, whose collectives end at torch's process-group timeout)")
    if args.launcher == "ray" and args.devices not in (None, "cpu"):  # checked before a dry run too
        raise ConfigError(f"--devices {args.devices} with --launcher ray: Ray gives each run one of the cluster's "
                          "GPUs itself; limit them with CUDA_VISIBLE_DEVICES on its nodes, or use --devices cpu")
    if args.fuse and (args.launcher != "local" or args.strategy == "ddp" or loggers):  # before a dry run too: a
        # fused group logs no per-run metrics
        raise ConfigError("--fuse works with the local launcher, without --strategy ddp or loggers (--logger, "
                          "--wandb, --csv-log)")
    if args.dry_run:
        return dry_run(suite.name, runs, args.out, sharded=bool(args.shard))
    if args.launcher == "ray":  # Ray places the runs: GPUs where the cluster has them ("auto")
        accelerator, devices = ("cpu" if args.devices == "cpu" else "auto"), ()
    else:
        accelerator, devices = resolve_devices(args.devices, args.strategy)
    workers = args.workers
    if workers is None:
        workers = default_workers(devices if accelerator == "gpu" else ())  # CPU ddp: devices are processes
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    workers = min(workers, max(1, len(runs)))
    if args.strategy == "ddp":
        workers = 0  # Lightning starts the other DDP processes from this one; runs go one after another
    rank = int(os.environ.get("LOCAL_RANK", 0))  # > 0 in the DDP processes Lightning started
    opts = LaunchOptions(out_dir=args.out, suite=suite.name, workers=workers, accelerator=accelerator,
                         devices=devices, strategy=args.strategy, launcher=args.launcher, ray_address=args.ray_address,
                         wandb_project=args.wandb_project if "wandb" in loggers else None,
                         quiet=args.quiet or rank > 0, fuse=args.fuse, run_timeout=args.run_timeout,
                         save_checkpoints=args.save_checkpoints, loggers=tuple(n for n in loggers if n != "wandb"),
                         swept=swept)
    if opts.launcher == "ray":
        from rnnbench.bench.ray_launch import check_ray

        check_ray(opts)  # before anything is printed: exit 2 with one line
    if opts.wandb_project:
        from rnnbench.bench.tracking import choose_mode

        choose_mode()  # here, not in each worker: they inherit it, and the hint below knows it
    _writable_folder(args.out, "--out")  # before any training: a file of that name, a read-only or full disk
    check_task_data(runs)
    try:
        counts = run_grid(runs, opts)
    except WriteFailed as err:  # a full disk mid-sweep: what was written stays, whole
        written = sum(1 for _ in args.out.glob("runs/*/result.json"))
        print(f"rnnbench: error: {err}: the sweep stopped; the {written} records in {args.out}/runs/ are kept as "
              "they were; free some space and run the same command again to resume", file=sys.stderr)
        return 1
    if rank > 0:
        return 0
    elsewhere = f", {counts['elsewhere']} trained by another sweep sharing --out" if counts.get("elsewhere") else ""
    if counts.get("recovered"):
        elsewhere += f", {counts['recovered']} trained after a worker process died (each rerun alone)"
    print(f"done: {counts.get('ok', 0)} ok, {counts.get('diverged', 0)} diverged, {counts.get('failed', 0)} failed, "
          f"{counts['skipped']} skipped (already finished){elsewhere}; results in {args.out}/runs/")
    if counts.get("failed"):
        for line in failure_summary(args.out, runs):
            print(line)
    if opts.wandb_project and os.environ.get("WANDB_MODE") == "offline":
        print(f"W&B ran offline: upload with `wandb sync {args.out}/wandb/offline-run-*`")
    if not args.no_leaderboard and not ResultStore(args.out).has_records():  # e.g. a shard of fewer runs than shards
        print(f"no result records under {args.out}/runs/ yet: no leaderboard built")
    elif not args.no_leaderboard:
        from rnnbench.leaderboard import build

        paths = build([args.out], args.out / "leaderboard")
        print(f"leaderboard: {paths['index.html']} (and leaderboard.md, tables/, plots/ beside it)")
        if opts.wandb_project:  # the runs' exit status stays theirs: a W&B outage fails no run
            log_leaderboard_to_wandb(paths, args.out / "leaderboard", [args.out], opts.wandb_project)
    return 1 if counts.get("failed", 0) else 0  # a script or a job array sees it; the leaderboard counts them too


def log_leaderboard_to_wandb(paths: dict[str, Path], out: Path, results: list[Path], project: str) -> bool:
    """The built leaderboard mirrored to W&B (bench.tracking.log_leaderboard), after its files: W&B never decides
    the page. Prints where it went, or one line on stderr saying why it did not; returns whether it did."""
    from rnnbench.bench.tracking import log_leaderboard

    try:
        print(log_leaderboard(paths, out, results, project))
        return True
    except Exception as err:  # noqa: BLE001 - the page is written; say in one line why W&B has no copy
        print(f"W&B: the leaderboard was not logged ({type(err).__name__}: {err})".splitlines()[0], file=sys.stderr)
        return False


def dry_run(suite: str, runs, out: Path, sharded: bool = False) -> int:
    """Print the grid, each run with its state in `out` (what a real run would do with it: keep `ok` and `diverged`,
    retry `failed` and `stale`, train `todo`: ResultStore.state), its size, a note for kept records made by another
    rnnbench or torch version or in a dirty checkout (bench.store.provenance) and the counts of those states;
    train nothing."""
    from collections import Counter

    from rnnbench.bench.config import swept_fields

    store, states, swept = ResultStore(out), Counter(), swept_fields(runs)
    for cfg in runs:  # a swept field's value is part of the task setting, as on the leaderboard
        state = store.state(cfg)
        states[state] += 1
        print(f"{cfg.run_id}  {state:<8}  {cfg.setting_label(swept):<32} {cfg.combo}  {cfg.tuning}  seed={cfg.seed}")
    combos, tunings = {c.combo for c in runs}, {c.tuning for c in runs}
    tuned = f"{len(tunings)} tuning settings x " if len(tunings) > 1 else ""
    sweep = f" ({', '.join(name.split('.', 1)[1] for name in swept)} swept)" if swept else ""
    settings = (f"{len({c.setting_label(swept) for c in runs})} task settings{sweep} x {len(combos)} remedy "
                f"combinations x {tuned}{len({c.seed for c in runs})} seeds")
    print(f"suite {suite}: {len(runs)} runs of this shard, across {settings}" if sharded else
          f"suite {suite}: {len(runs)} runs = {settings}")
    finished = sum(states[s] for s in FINISHED)
    kept = ", ".join(f"{states[s]} {s}" for s in FINISHED)
    stale = f", {states['stale']} trained on data changed since" if states["stale"] else ""
    if finished:  # where the kept records come from, before the last line (the counts)
        from rnnbench.bench.launch import provenance_notes

        for line in provenance_notes([r for cfg in runs if (r := store.read(cfg.run_id)) and r.get("status") in
                                      FINISHED]):
            print(line)
    print(f"in {out}/runs/: {finished} finished ({kept}: kept), {len(runs) - finished} to train ({states['todo']} "
          f"todo, {states['failed']} failed before{stale}: retried)")
    return 0


def check_task_data(runs) -> None:
    """Each task setting of the grid built once, its data read (a corpus: its files, decoded, split), before any
    training: a missing, unreadable or too short corpus fails here in one line naming the task setting and its file,
    not in every run."""
    seen = set()
    for cfg in runs:
        if cfg.task_label in seen:
            continue
        seen.add(cfg.task_label)
        try:
            cfg.build_task().spec()
        except ConfigError as err:
            raise ConfigError(f"task {cfg.task_label}: {err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(f"task {cfg.task_label}: its data is not UTF-8 text (byte {err.object[err.start]:#04x} "
                              f"at offset {err.start})") from None
        except OSError as err:
            where = f" {err.filename}" if err.filename else ""
            raise ConfigError(f"task {cfg.task_label}: cannot read its data{where} ({err.strerror or err})") from None


def failure_summary(out: Path, runs, shown: int = 5) -> list[str]:
    """The grid's failed runs grouped by error, most frequent first (the end of a long sweep's output, instead of
    scrolling back through it): one line per error with its count and one run it hit."""
    from collections import Counter

    store, errors, example = ResultStore(out), Counter(), {}
    for cfg in runs:
        record = store.read(cfg.run_id)
        if record and record.get("status") == "failed":
            error = record.get("error") or "(no error recorded)"
            errors[error] += 1
            example.setdefault(error, f"{cfg.task_label} {cfg.combo} seed={cfg.seed}")
    lines = [f"failed runs by error ({sum(errors.values())}; each record's `error` has it; the same command retries "
             "them):"]
    for error, n in errors.most_common(shown):
        lines.append(f"  {n} x {error}\n      e.g. {example[error]}")
    if len(errors) > shown:
        lines.append(f"  and {len(errors) - shown} other errors")
    return lines


def cmd_leaderboard(args) -> int:
    from rnnbench.leaderboard import build

    for option, folders in (("--results", args.results), ("--claims", args.claims)):
        for folder in folders:
            if not (folder.is_dir() or folder.name == PUBLISHED and folder.is_file()):
                raise ConfigError(f"{option} {folder}: no such folder (or {PUBLISHED} file)")
    out = args.out or args.results[0] / "leaderboard"
    _writable_folder(out, "--out")
    results = args.results
    if args.publish:
        from rnnbench.leaderboard.collect import publish

        path, n = publish(results, out)
        print(f"published {n} records to {path}")
        results = [path]  # the page comes from the published records alone, not from runs/ beside them
    paths = build(results, out, threshold=args.threshold, claims_dirs=args.claims)
    claims = f" --claims {' '.join(map(str, args.claims))}" if args.claims else ""
    print(f"wrote {len(paths)} files to {out}: open {paths['index.html']}; for a README, `rnnbench readme "
          f"{' '.join(map(str, results))}{claims}` rewrites its marked section (or paste {paths['leaderboard.md']})")
    if args.wandb and not log_leaderboard_to_wandb(paths, out, args.results, args.wandb_project):
        return 1
    return 0


def cmd_list(args) -> int:
    import dataclasses

    from rnnbench.bench.config import AXES, BASELINE_LEVELS, SUITES_DIR
    from rnnbench.tasks import TASKS

    print("tasks (parameters with defaults):")
    for name, cls in TASKS.items():
        params = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(cls))
        print(f"  {name:<16} {params}")
    print("remedy axes (levels; * = the baseline level effects are measured against):")
    for axis, levels in AXES.items():
        shown = " ".join(f"{lv}*" if lv == BASELINE_LEVELS[axis] else lv for lv in levels)
        print(f"  {axis:<12} {shown}")
    print("suites:")
    for path in sorted(SUITES_DIR.glob("*.yaml")):
        first = next((ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")
        print(f"  {path.stem:<10} {first}")
    return 0


def cmd_show(args) -> int:
    import dataclasses

    import yaml

    from rnnbench.bench.axes import AXIS_NAMES, TUNABLE
    from rnnbench.bench.config import GRID_LIMIT, expand, grid_size, load_suite
    from rnnbench.models import ModelConfig

    suite = load_suite(args.suite, args.overrides)
    swept = {where: {k.split(".", 1)[1]: v for k, v in suite.sweep.items() if k.startswith(f"{where}.")}
             for where in ("model", "budget")}  # a size sweep's fields with their lists of values
    model = {k: v for k, v in {**dataclasses.asdict(ModelConfig()), **suite.model, **swept["model"]}.items()
             if k not in AXIS_NAMES}
    tune = [{k: getattr(b, k) for k in TUNABLE} for b in suite.budgets()]  # every setting, the budget's one included
    budget = {k: v for k, v in {**dataclasses.asdict(suite.budget), **swept["budget"]}.items() if k not in TUNABLE}
    resolved = {"name": suite.name, "tasks": suite.tasks, "axes": suite.grids, "tune": tune, "seeds": suite.seeds,
                "model": model, "budget": budget}
    print(yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None).rstrip())
    size = grid_size(suite)
    runs = len(expand(suite)) if size <= GRID_LIMIT else size
    print(f"# {runs} runs")
    return 0


COMMANDS = {"run": cmd_run, "leaderboard": cmd_leaderboard, "list": cmd_list, "show": cmd_show}


def _make_folder(path: Path, flag: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file of that name, no permission, ...
        raise ConfigError(f"{flag} {path}: cannot make that folder ({err.strerror or err})") from None


PROBE_BYTES = 1 << 16  # written and removed at start: room for a few records (a result.json is ~10-30 KB)


def _writable_folder(path: Path, flag: str) -> None:
    """Make the folder and write a probe file of PROBE_BYTES into it (synced, then removed): a read-only or full file
    system fails here in one line, before any training, not when the first run's record is written."""
    _make_folder(path, flag)
    probe = path / f".write-probe-{os.getpid()}.tmp"
    try:
        with open(probe, "wb") as f:
            f.write(bytes(PROBE_BYTES))
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        raise ConfigError(f"{flag} {path}: cannot write there ({err.strerror or err}); free some space or choose "
                          "a writable folder") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


def run_tool(name: str, argv: list[str]) -> int:
    import importlib

    return importlib.import_module(TOOLS[name][0]).main(argv) or 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        from rnnbench.bench.plugins import include, load_all

        load_all()  # installed plugins and RNNBENCH_INCLUDE's files (the tools read them there)
        if argv and argv[0] in TOOLS:
            return run_tool(argv[0], argv[1:])
        args = _parser().parse_args(argv)
        include(args.include)
        with one_line_warnings("rnnbench"):
            return COMMANDS[args.command](args)
    except ConfigError as err:
        print(f"rnnbench: error: {err}", file=sys.stderr)
        return 2
    except WriteFailed as err:  # a leaderboard's file on a disk that filled: the files it replaced are whole
        print(f"rnnbench: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rnnbench: interrupted; finished runs are kept, run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
