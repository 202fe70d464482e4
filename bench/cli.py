"""The `rnnbench` command: run a suite, build the leaderboard, list what exists, and every tool a user runs
(the literature's claims, sizing, README section, speed benchmarks) as a subcommand of its own (TOOLS). Here: the
command line's parser and the dispatch, to each command's module (bench.commands) or to a tool's own main."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rnnbench.bench.commands.describe import cmd_list, cmd_show
from rnnbench.bench.commands.leaderboard import cmd_leaderboard
from rnnbench.bench.commands.reproduce import CPU_KERNELS, cmd_reproduce
from rnnbench.bench.commands.run import cmd_run
from rnnbench.bench.devices import GIB_PER_GPU_WORKER, WORKERS_PER_GPU
from rnnbench.bench.registry import ConfigError, one_line_warnings
from rnnbench.bench.store import WriteFailed

# Tools with parsers of their own: `rnnbench NAME ARGS...` runs module.main(ARGS) (imported only when asked for).
TOOLS = {
    "known": ("rnnbench.leaderboard.known", "check the literature's known results on result folders"),
    "size": ("rnnbench.bench.speed.size", "time a sample of a suite here and project the whole suite's duration"),
    "readme": ("rnnbench.leaderboard.readme", "write a leaderboard into a README's marked section"),
    "perf": ("rnnbench.bench.speed.perf", "the suite's own speed, as ratios against references (a benchmark)"),
    "speed-fused": ("rnnbench.bench.speed.fused", "throughput of horizontally fused runs (a benchmark)"),
    "speed-models": ("rnnbench.bench.speed.models", "every remedy path against its cell's fused kernel (a benchmark)"),
}

EPILOG = """examples:
  rnnbench list
  rnnbench run --suite quick --dry-run
  rnnbench run --suite quick --out results          # trains, then writes results/leaderboard/
  rnnbench run --suite standard --shard 0/4         # one of four SLURM array jobs
  rnnbench leaderboard --results results other_machine/results --out site
  rnnbench run --suite known --out known && rnnbench run --suite known_sgd --out known_sgd
  rnnbench known known known_sgd                   # the literature's claims, checked
  rnnbench reproduce leaderboard/published/reference/records.jsonl.gz --sample 3   # retrained: same numbers?
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
                         help="Python files of your own to load first: the tasks, cells and activation, init, skip "
                         "and lr levels they register become tasks and levels of the grid, the leaderboard sections "
                         "and table formats parts of the leaderboard (README: Extending rnnbench); each file's source "
                         "joins its runs' ids. Also read from RNNBENCH_INCLUDE")

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
                     "measured faster (models.fusion.FUSION_PAYS: vanilla RNNs up to H=64, B=32 on GPUs; vanilla RNNs up "
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

    rep = sub.add_parser("reproduce", parents=[include], help="retrain published records and check they give the "
                         "same numbers", description="Retrain records of a results folder or records.jsonl.gz from "
                         "their configs (each alone, as a sweep worker trains: one thread, flush-to-zero) into a "
                         "fresh folder and compare each new record with the published one exactly: status, metrics, "
                         "scores, best step, history, gradient statistics (not the wall or creation time, commit, "
                         "versions or device). Same numbers are promised for the same torch version and CPU kernels "
                         "(--cpu-kernels), for unfused runs. Exit 0 where every run gives its numbers, 1 where one "
                         "differs, 2 on bad input.")
    rep.add_argument("results", type=Path, metavar="RESULTS", help="a results folder or a records.jsonl.gz file")
    rep.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="the runs to retrain (default: --sample of the "
                     "ok and diverged ones)")
    rep.add_argument("--sample", type=int, default=3, metavar="N", help="without run ids, retrain N ok or diverged "
                     "records drawn at random (default: 3)")
    rep.add_argument("--seed", type=int, default=0, help="the sample's random seed (default: 0)")
    rep.add_argument("--out", type=Path, help="keep the retrained records in this folder (default: a temporary one)")
    rep.add_argument("--list", action="store_true", help="list the records (run id, status, task, combination, "
                     "tuning, wall time) and train nothing")
    rep.add_argument("--cpu-kernels", choices=CPU_KERNELS, help="the vectorized CPU kernels torch retrains with "
                     "(its ATEN_CPU_CAPABILITY; float32 rounds differently in each and training amplifies it). "
                     "Default: the ones the records name (versions.cpu_kernels); for records that name none, this "
                     "machine's, then, for the runs that differ, the other x86 kernels (rnnbench's published records "
                     "were trained on machines of both kinds)")

    sub.add_parser("list", parents=[include], help="list tasks (with parameters), remedy axes and levels, and suites")
    show = sub.add_parser("show", parents=[include], help="print a suite as it resolves (with overrides) and its grid's size",
                          description="Print a suite resolved: every task setting, sub-grid, tuning setting, seeds, "
                          "model and budget field (defaults filled in), and the size of its grid; trains nothing.")
    show.add_argument("suite", help="a shipped suite name or a YAML file")
    show.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="as `rnnbench run`")
    for name, (_, text) in TOOLS.items():
        sub.add_parser(name, help=text, add_help=False)  # listed here; its own parser reads its arguments (main)
    return p


COMMANDS = {"run": cmd_run, "leaderboard": cmd_leaderboard, "reproduce": cmd_reproduce, "list": cmd_list,
            "show": cmd_show}


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
