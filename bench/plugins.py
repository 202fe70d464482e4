"""A user's own cells, tasks and levels of the other remedy axes (activation, init, skip, lr schedule), from files of
their own: `rnnbench run --include FILE` (or RNNBENCH_INCLUDE, os.pathsep-separated), and installed packages that
declare an `rnnbench.plugins` entry point.

A file is executed once per process as a module of its own; what it registers (models.cells.register_cell,
tasks.TASKS.register, ...) records the hash of its source (bench.registry.ORIGIN), which joins the run id of every
run that uses it (bench.config.RunConfig.to_dict), so an edited cell never reuses results of its earlier source.
The CLI puts the resolved paths into RNNBENCH_INCLUDE, which worker processes and Ray tasks inherit and load in turn.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from importlib import metadata
from pathlib import Path

from rnnbench.bench.registry import ORIGIN, ConfigError

ENV = "RNNBENCH_INCLUDE"
ENTRY_POINTS = "rnnbench.plugins"
_LOADED: dict[str, str] = {}  # what this process loaded: a file's path or an entry point's name -> its source hash


def source_hash(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()[:16]


def include(paths: list[str | Path]) -> list[str]:
    """Load each file (once per process) and add it to RNNBENCH_INCLUDE for the processes this one starts.
    Returns the files' resolved paths. A missing file or one that fails to load is a one-line ConfigError."""
    resolved = []
    for path in paths:
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise ConfigError(f"--include {path}: no such file")
        resolved.append(str(file))
        if str(file) in _LOADED:
            continue
        source = file.read_bytes()
        digest = source_hash(source)
        spec = importlib.util.spec_from_file_location(f"rnnbench_include_{file.stem}_{digest[:8]}", file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pickling look their module up by name
        _run(lambda: spec.loader.exec_module(module), digest, f"--include {path}", str(file))
        _LOADED[str(file)] = digest
    os.environ[ENV] = os.pathsep.join(dict.fromkeys([*_env_paths(), *resolved]))
    return resolved


def load_entry_points() -> list[str]:
    """Import every installed `rnnbench.plugins` entry point (once per process); the hash of its module's source is
    its registrations' origin. Returns their names."""
    names = []
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        names.append(ep.name)
        if f"entry point {ep.name}" in _LOADED:
            continue
        spec = importlib.util.find_spec(ep.module)
        origin = spec.origin if spec and spec.origin and os.path.isfile(spec.origin) else None
        digest = source_hash(Path(origin).read_bytes() if origin else ep.value.encode())
        _run(ep.load, digest, f"plugin {ep.name} ({ep.value})")
        _LOADED[f"entry point {ep.name}"] = digest
    return names


def load_all() -> None:
    """What this process should have registered: installed plugins and the files in RNNBENCH_INCLUDE (a worker
    process, a Ray task, a tool run by the CLI)."""
    load_entry_points()
    include(_env_paths())


def _env_paths() -> list[str]:
    return [p for p in os.environ.get(ENV, "").split(os.pathsep) if p]


def _run(load, digest: str, what: str, file: str | None = None) -> None:
    import rnnbench.bench.optim  # noqa: F401  rnnbench's own levels and tasks, registered before the user's file
    import rnnbench.models  # noqa: F401  runs (whose imports would otherwise register them under its origin)
    import rnnbench.tasks  # noqa: F401

    ORIGIN.append(digest)
    try:
        load()
    except ConfigError:
        raise
    except Exception as err:  # the user's code: one line naming the file and its line, not rnnbench's traceback
        lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == file]
        where = f" (line {lines[-1]})" if lines else ""
        raise ConfigError(f"{what}{where}: {type(err).__name__}: {err}".splitlines()[0]) from None
    finally:
        ORIGIN.pop()
