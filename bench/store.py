"""The result store: results/runs/<run_id>/result.json, one per run, written atomically; and its published copy,
results/records.jsonl.gz (every record, one JSON object a line, gzipped), which a store reads for a run without its
own file: a published folder resumes its sweep."""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import math
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rnnbench.bench.record import FINISHED, RunRecord

UMASK = os.umask(0o022)  # the process's umask, read (it can only be read by setting it) and put back at once
os.umask(UMASK)
STALE_SECONDS = 3600.0  # a temp file this old is a killed writer's, not a write in progress (clean)
PUBLISHED = "records.jsonl.gz"  # a results folder's published copy of its records


class WriteFailed(OSError):
    """A file under a results folder that could not be written (a full disk, a file-size or quota limit, a folder
    made read-only): the file is as it was, whole (atomic_write removed its temp file). Every later write would
    likely fail alike, so a sweep stops at the first. str(): "cannot write PATH (REASON)"."""

    def __str__(self) -> str:
        return f"cannot write {self.filename} ({self.strerror})"


def write_failed(err: OSError, path: Path) -> WriteFailed:
    """`err`, raised writing `path`, as a WriteFailed naming that path (the same errno)."""
    return err if isinstance(err, WriteFailed) else WriteFailed(err.errno, err.strerror or str(err), str(path))


def clean_temp_files(root: Path, older_than: float = STALE_SECONDS) -> int:
    """Remove atomic_write's temp files (".<name>.<random>.tmp") under `root` older than `older_than` seconds: a
    killed writer's. A write takes milliseconds, and a younger one may be another process's (shards sharing --out, a
    leaderboard built by each) about to be renamed into place. Returns how many."""
    cutoff = time.time() - older_than
    stale = [p for p in Path(root).rglob(".*.tmp") if p.is_file() and _mtime(p) < cutoff] if Path(root).exists() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def read_published(path: Path) -> list[tuple[int, Any]]:
    """(line number, the line's JSON value, or the ValueError that parsing it raised) for each line of a published
    records file. Raises OSError (and EOFError for a cut-off file) where the file cannot be read."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    out: list[tuple[int, Any]] = []
    for i, line in enumerate(lines, 1):
        try:
            out.append((i, json.loads(line)))
        except ValueError as err:
            out.append((i, err))
    return out


def write_published(path: Path, records: list[dict]) -> Path:
    """`records` into a published records file, one compact JSON object a line in the order given, gzipped without
    a timestamp (the same records, the same bytes), atomically."""
    text = "".join(json.dumps(_finite(r), sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
                   for r in records)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(text.encode("utf-8"))
    return atomic_write(path, buffer.getvalue())


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
    plain new file's (mkstemp's own is 0600: a web server could not read a published leaderboard). Raises
    WriteFailed where the file cannot be written (its temp file removed)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise write_failed(err, target) from err
    try:
        os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):  # a full disk, a file-size limit, ...: the target is untouched
            raise write_failed(err, target) from err
        raise
    return target


@functools.lru_cache(maxsize=4)
def _published_index(path: str, mtime_ns: int, size: int) -> dict[str, dict]:
    """A published records file's records by run id, parsed once per version of the file (its modification time and
    size are part of the key) in a process: a worker's stores, one per job, share it instead of each decompressing
    and parsing every record again."""
    try:
        lines = read_published(Path(path))
    except (OSError, EOFError):
        return {}
    return {r["run_id"]: r for _, r in lines if isinstance(r, dict) and isinstance(r.get("run_id"), str)}


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self._published: dict[str, dict] | None = None

    def path(self, run_id: str) -> Path:
        return self.runs / run_id / "result.json"

    def read(self, run_id: str) -> dict | None:
        """The run's record as its JSON object, or None when it is missing, unreadable or not a JSON object. A run
        without its own file reads its record in the folder's published copy (PUBLISHED), where there is one. Not
        checked (RunRecord.from_dict): resuming a sweep reads a record's status and task_data alone, so a record the
        leaderboard leaves out for a bad field is still not trained again."""
        try:
            record = json.loads(self.path(run_id).read_text())
        except FileNotFoundError:
            return self.published().get(run_id)
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def published(self) -> dict[str, dict]:
        """The records of the folder's published copy by run id (empty without one or where it cannot be read: its
        runs are then trained again, nothing is lost)."""
        if self._published is None:
            path = self.root / PUBLISHED
            try:
                stat = path.stat()
            except OSError:
                self._published = {}
            else:
                self._published = _published_index(str(path), stat.st_mtime_ns, stat.st_size)
        return self._published

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

    @contextlib.contextmanager
    def claim(self, run_ids: list[str]):
        """Claims on runs, held for the `with` block: yields the ids this process now holds; another process (a
        second sweep sharing this folder, on this machine or another over a shared file system) holds the others.
        A claim is an exclusive lock (flock) on runs/<run_id>/.claim, which the operating system drops when its
        holder exits, killed or not: a dead sweep's runs are free at once, nothing to clean. Where the file system
        has no locks, every run is held (no claims: as without this)."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows)
            yield set(run_ids)
            return
        with contextlib.ExitStack() as stack:
            held = set()
            for run_id in run_ids:
                path = self.runs / run_id / ".claim"
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    lock = stack.enter_context(open(path, "a"))
                except OSError as err:
                    raise write_failed(err, path) from err
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # held by another process
                except OSError:
                    pass  # a file system without locks
                held.add(run_id)
            yield held

    def write(self, record: RunRecord | dict) -> dict:
        """Write the record's JSON object (RunRecord.to_dict) atomically (atomic_write), the folder made where
        missing, and return the JSON object that stands: a `failed` record never replaces a finished one (`ok`,
        `diverged`: another sweep sharing this folder trained the run), which is returned instead. Raises
        WriteFailed where it cannot be written (the folder's records as they were)."""
        if isinstance(record, RunRecord):
            record = record.to_dict()
        if record.get("status") not in FINISHED:
            try:
                existing = json.loads(self.path(record["run_id"]).read_text())
            except (OSError, ValueError):
                existing = None
            if isinstance(existing, dict) and existing.get("status") in FINISHED:
                return existing
        target = self.path(record["run_id"])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_failed(err, target) from err
        atomic_write(target, json.dumps(_finite(record), indent=1, allow_nan=False), prefix=".result.")
        return record

    def has_records(self) -> bool:
        return (self.runs.exists() and any(self.runs.glob("*/result.json"))) or bool(self.published())

    def clean(self, older_than: float = STALE_SECONDS) -> int:
        """Remove temp files left by a killed writer anywhere under the folder (records, checkpoints, a leaderboard
        built into it); returns how many (clean_temp_files)."""
        return clean_temp_files(self.root, older_than)

    def records(self) -> list[dict]:
        if not self.runs.exists():
            return []
        return [r for p in sorted(self.runs.glob("*/result.json")) if (r := self.read(p.parent.name)) is not None]


PROVENANCE = ("rnnbench", "torch")  # the versions (a record's `versions`) whose change can change a run's numbers


def provenance(records: list[dict[str, Any]], here: dict[str, str] | None = None) -> list[str]:
    """One line for each way `records` may not be one code's results: made by another rnnbench or torch version than
    `here` (the running one's: bench.recorder.versions()), or, without `here`, by more than one; and made in a
    checkout with uncommitted changes (git_commit "...-dirty": its code is no commit's). Each with its counts."""
    lines, total = [], len(records)
    for package in PROVENANCE:
        counts = Counter(str((r.get("versions") or {}).get(package) or "(none recorded)") for r in records)
        shown = lambda found: ", ".join(f"{v} ({n})" for v, n in sorted(found.items()))  # noqa: E731
        if here is not None:
            other = {v: n for v, n in counts.items() if v != here.get(package)}
            if other:
                lines.append(f"{sum(other.values())} of the {total} records were made by another {package} version "
                             f"than this one ({here.get(package)}): {shown(other)}")
        elif len(counts) > 1:
            lines.append(f"the {total} records were made by {len(counts)} {package} versions: {shown(counts)}")
    dirty = sum(str(r.get("git_commit") or "").endswith("-dirty") for r in records)
    if dirty:
        lines.append(f"{dirty} of the {total} records were made in a checkout with uncommitted changes (git_commit "
                     "...-dirty): their code is no commit's")
    return lines
