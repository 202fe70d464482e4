"""The test suite's own guard: a test that hangs fails with its name (pytest-timeout, pyproject's `timeout`) instead
of eating CI's time."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_a_hanging_test_fails_with_its_name_within_the_limit(tmp_path):
    hang = tmp_path / "test_hangs.py"
    hang.write_text("import time\n\n\ndef test_waits_forever():\n    time.sleep(600)\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "2",
                           "--rootdir", str(tmp_path), str(hang)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Timeout" in proc.stdout and "test_waits_forever" in proc.stdout


def test_the_suite_sets_a_per_test_limit():
    import tomllib

    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < settings["timeout"] <= 900
