"""The package's layout as its users meet it: one import root (rnnbench.*), so nothing a user keeps beside their
suite file (their own models.py, tasks/ or bench.py) can shadow the suite's code, and every tool is a subcommand."""

from __future__ import annotations

import subprocess
import sys

from rnnbench.bench.cli import TOOLS
from tests.conftest import cli

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
