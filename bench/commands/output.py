"""What the commands write besides the records: the output folder, checked writable before any training, and the
built leaderboard mirrored to W&B."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rnnbench.bench.registry import ConfigError


def _make_folder(path: Path, flag: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file of that name, no permission, ...
        raise ConfigError(f"{flag} {path}: cannot make that folder ({err.strerror or err})") from None


PROBE_BYTES = 1 << 16  # written and removed at start: room for a few records (a result.json is ~10-30 KB)


def writable_folder(path: Path, flag: str) -> None:
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
