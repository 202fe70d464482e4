"""`rnnbench run`: the suite's grid checked (overrides, shard, options that do not go together, each task's data),
then trained (bench.launch.run_grid) or listed (--dry-run), the failed runs summed up by error, the leaderboard
built."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rnnbench.bench.commands.output import log_leaderboard_to_wandb, writable_folder
from rnnbench.bench.devices import default_workers, resolve_devices
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.store import FINISHED, ResultStore, WriteFailed

# `rnnbench run --logger`: Lightning's loggers a run's metrics go to (bench.runner.FILE_LOGGERS, and W&B through
# bench.tracking); --csv-log and --wandb name csv and wandb (chosen_loggers)
LOGGERS = ("csv", "tensorboard", "wandb")
TENSORBOARD_MISSING = ("--logger tensorboard needs the tensorboard package: pip install 'rnnbench[tensorboard]' "
                       "(in a checkout: pip install -e '.[tensorboard]')")


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
    from rnnbench.bench.grid import GRID_LIMIT, expand, swept_fields
    from rnnbench.bench.launch import LaunchOptions, parse_shard, run_grid, shard
    from rnnbench.bench.suite import load_suite

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
    writable_folder(args.out, "--out")  # before any training: a file of that name, a read-only or full disk
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


def dry_run(suite: str, runs, out: Path, sharded: bool = False) -> int:
    """Print the grid, each run with its state in `out` (what a real run would do with it: keep `ok` and `diverged`,
    retry `failed` and `stale`, train `todo`: ResultStore.state), its size, a note for kept records made by another
    rnnbench or torch version or in a dirty checkout (bench.store.provenance) and the counts of those states;
    train nothing."""
    from collections import Counter

    from rnnbench.bench.grid import swept_fields

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
