"""`rnnbench leaderboard`: result folders (or published records files) into tables, plots and a page; with
--publish, every record copied into one records file first and the page built from it."""

from __future__ import annotations

from rnnbench.bench.commands.output import log_leaderboard_to_wandb, writable_folder
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.store import PUBLISHED


def cmd_leaderboard(args) -> int:
    from rnnbench.leaderboard import build

    for option, folders in (("--results", args.results), ("--claims", args.claims)):
        for folder in folders:
            if not (folder.is_dir() or folder.name == PUBLISHED and folder.is_file()):
                raise ConfigError(f"{option} {folder}: no such folder (or {PUBLISHED} file)")
    out = args.out or args.results[0] / "leaderboard"
    writable_folder(out, "--out")
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
