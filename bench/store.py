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


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / "runs"

    def path(self, run_id: str) -> Path:
        return self.runs / run_id / "result.json"

    def read(self, run_id: str) -> dict | None:
        """The run's record, or None when it is missing or unreadable."""
        try:
            return json.loads(self.path(run_id).read_text())
        except (OSError, ValueError):
            return None

    def finished(self, run_id: str) -> bool:
        record = self.read(run_id)
        return record is not None and record.get("status") in FINISHED

    def write(self, record: dict) -> Path:
        """Write atomically: a temp file in the same folder, flushed, then renamed over the target."""
        target = self.path(record["run_id"])
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".result.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(_finite(record), f, indent=1, allow_nan=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

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
