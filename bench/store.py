"""The result store: results/runs/<run_id>/result.json, one per run, written atomically."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

FINISHED = ("ok", "diverged")  # a run with one of these is never trained again; `failed` is retried
STATUSES = ("ok", "diverged", "failed")
UMASK = os.umask(0o022)  # the process's umask, read (it can only be read by setting it) and put back at once
os.umask(UMASK)
STALE_SECONDS = 3600.0  # a temp file this old is a killed writer's, not a write in progress (clean)


def _mtime(path: Path) -> float:
    """Modification time, or +inf for a file gone meanwhile (renamed into place by its writer)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return math.inf


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every reader can parse the file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def atomic_write(target: Path, content: str | bytes, prefix: str = ".") -> Path:
    """Write a file atomically: a temp file in the same folder (named prefix...tmp), flushed, then renamed over the
    target, so a reader (another shard, a browser) sees the old file or the new one, never a part. Its mode is a
    plain new file's (mkstemp's own is 0600: a web server could not read a published leaderboard)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / "runs"

    def path(self, run_id: str) -> Path:
        return self.runs / run_id / "result.json"

    def read(self, run_id: str) -> dict | None:
        """The run's record, or None when it is missing, unreadable or not a JSON object."""
        try:
            record = json.loads(self.path(run_id).read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def state(self, cfg) -> str:
        """What a sweep does with this run (a RunConfig): 'todo' (no readable record: trained), its record's status
        where that is 'ok' or 'diverged' (kept), 'failed' (any other status, or none: retried), or 'stale'
        (retried): finished on files that hold other data now (a corpus given as a path and rewritten since: the
        record's `task_data`)."""
        record = self.read(cfg.run_id)
        if record is None:
            return "todo"
        status = record.get("status")
        if status not in FINISHED:
            return "failed"
        now = cfg.build_task().data_identity()
        return "stale" if now is not None and record.get("task_data") != now else status

    def finished(self, cfg) -> bool:
        return self.state(cfg) in FINISHED

    def write(self, record: dict) -> Path:
        """Write atomically (atomic_write), the folder made where missing."""
        target = self.path(record["run_id"])
        target.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(target, json.dumps(_finite(record), indent=1, allow_nan=False), prefix=".result.")

    def has_records(self) -> bool:
        return self.runs.exists() and any(self.runs.glob("*/result.json"))

    def clean(self, older_than: float = STALE_SECONDS) -> int:
        """Remove temp files left by a killed writer; returns how many. Only those older than `older_than` seconds:
        a write takes milliseconds, and a younger one may be another sweep's (shards sharing --out) about to be
        renamed into place."""
        cutoff = time.time() - older_than
        stale = [p for p in self.runs.glob("*/.result.*.tmp") if _mtime(p) < cutoff] if self.runs.exists() else []
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)

    def records(self) -> list[dict]:
        if not self.runs.exists():
            return []
        return [r for p in sorted(self.runs.glob("*/result.json")) if (r := self.read(p.parent.name)) is not None]
