"""The package's layout as its users meet it: one import root (rnnbench.*), so nothing a user keeps beside their
suite file (their own models.py, tasks/ or bench.py) can shadow the suite's code, and every tool is a subcommand."""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
from pathlib import Path

from rnnbench.bench.cli import TOOLS
from tests.conftest import REPO, cli

GENERIC = ("bench", "tasks", "models", "leaderboard")


def test_a_users_own_generic_modules_do_not_shadow_the_suite(tmp_path):
    """A project folder with its own models.py, tasks/ and bench.py that raise on import: rnnbench's commands run
    from there as from anywhere, and no generic top-level name is imported."""
    (tmp_path / "models.py").write_text("raise ImportError('the user models.py was imported')\n")
    (tmp_path / "bench.py").write_text("raise ImportError('the user bench.py was imported')\n")
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "__init__.py").write_text("raise ImportError('the user tasks/ was imported')\n")
    dry = subprocess.run(cli("run", "--suite", "quick", "--tasks", "adding", "--dry-run", "--out", str(tmp_path / "r")),
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0 and "to train" in dry.stdout, dry.stderr
    code = ("import sys, rnnbench.bench.cli, rnnbench.bench.launch, rnnbench.tasks, rnnbench.models, "
            "rnnbench.leaderboard.known; print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % (GENERIC,))
    imported = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0 and imported.stdout.split() == ["[]"], imported.stderr + imported.stdout


def test_every_tool_is_a_subcommand_with_its_own_help(tmp_path):
    """`rnnbench NAME --help` reaches each tool's own parser (its usage names the subcommand), and `rnnbench --help`
    lists every tool."""
    listed = subprocess.run(cli("--help"), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    for name in TOOLS:
        assert f"\n    {name}" in listed.stdout, (name, listed.stdout)
        proc = subprocess.run(cli(name, "--help"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.startswith(f"usage: rnnbench {name} "), (name, proc.stdout[:200],
                                                                                           proc.stderr[-500:])


# The flow, from the core up: each module may import modules of its own stage or of a stage before it, never one
# after it, and no two modules import each other, directly or round a circle (imports under TYPE_CHECKING, which
# never run, excepted). A module of the package that is in no stage fails the test: place it.
FLOW = (
    ("core", ("bench", "bench.registry", "bench.record", "bench.store")),
    ("definitions", ("tasks", "tasks.*", "models", "models.*")),
    ("grid", ("bench.axes", "bench.optim", "bench.config", "bench.grid", "bench.suite", "bench.plugins")),
    ("training", ("bench.steps", "bench.metrics", "bench.guard", "bench.group", "bench.module", "bench.tracking",
                  "bench.recorder", "bench.prepare", "bench.runner", "bench.worker")),
    ("launching", ("bench.devices", "bench.progress", "bench.launch", "bench.ray_launch")),
    ("leaderboard", ("leaderboard", "leaderboard.*")),
    ("command line", ("bench.commands", "bench.commands.*", "bench.cli", "bench.__main__")),
    ("benchmarks", ("bench.speed", "bench.speed.*")),
)


def _modules() -> dict[str, Path]:
    """Every module of the package (sub-packages' too) by its name without 'rnnbench.'."""
    found = {}
    for package in ("bench", "tasks", "models", "leaderboard"):
        for file in (REPO / package).rglob("*.py"):
            parts = (package, *file.relative_to(REPO / package).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def _imports(file: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules `file` imports (at the top or inside a function), by their names without 'rnnbench.'."""
    tree = ast.parse(file.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for child in node.body for n in ast.walk(child)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnnbench."):
            base = node.module.removeprefix("rnnbench.")
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix("rnnbench.") for a in node.names if a.name.startswith("rnnbench.")}
    return out


def _stage(module: str) -> int | None:
    for i, (_, patterns) in enumerate(FLOW):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return i
    return None


def test_imports_run_one_way_along_the_flow_without_circles():
    modules = _modules()
    unplaced = [m for m in modules if _stage(m) is None]
    assert not unplaced, f"modules in no stage of FLOW: {unplaced}"
    graph = {m: {t for t in _imports(f, modules) if t in modules and t != m} for m, f in modules.items()}
    package_of = lambda m: m.split(".")[0]  # noqa: E731
    against = [f"{a} ({FLOW[_stage(a)][0]}) -> {b} ({FLOW[_stage(b)][0]})" for a, targets in graph.items()
               for b in targets if _stage(b) > _stage(a)]
    assert not against, "imports against the flow: " + "; ".join(sorted(against))
    # a package's __init__ gathering its own modules is no circle
    edges = {a: {b for b in targets if not (a == package_of(b) and "." in b)} for a, targets in graph.items()}
    circles = sorted({" -> ".join(c) for c in _circles(edges)})
    assert not circles, f"import circles: {circles}"


def _circles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Every module that reaches itself, with one such path (depth-first)."""
    found = []
    for start in edges:
        stack = [(start, (start,))]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    found.append(path + (start,))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + (nxt,)))
    return found


def test_no_private_name_is_imported_from_another_module():
    """A name starting with _ is its module's own: no module of the package imports one from another."""
    modules = _modules()
    private = [f"{name}: {node.module}.{a.name}" for name, file in modules.items()
               for node in ast.walk(ast.parse(file.read_text()))
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnnbench.")
               for a in node.names if a.name.startswith("_")]
    assert not private, private
