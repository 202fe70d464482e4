"""What holds against hostile records, bad input, concurrent sweeps and faults, tried with real files, processes and
the real command line at tiny sizes (the README's section "Reliability" counts these tests' cases)."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, cli
from tests.test_leaderboard import LSTM, RNN, write_record

# Hostile or damaged records: valid JSON, each with one field of the wrong type or an absurd value, as a merged
# folder from another machine or a hand edit can hold them. Each is skipped with one warning naming its file and
# the field; none changes a number in a table.
HOSTILE = {
    "metrics": [0.01],
    "combo": 7,
    "remedies": {"cell": 3},
    "remedies ": "rnn",  # (a trailing space: a second case of one field)
    "normalized_score": True,
    "normalized_score ": 1e308,
    "normalized_score  ": "0.99",
    "val_score": 5e6,
    "metrics ": {"mse": 1e308},
    "metrics  ": {"mse": True},
    "wall_seconds": math.nan,
    "baseline": {"mse": math.inf},
    "higher_is_better": "no",
    "status": ["ok"],
    "config.seed": "zero",
    "config.task": [],
    "config.budget.learning_rate": "fast",
    "best_step": -3,
    "history": ["step 100"],
    "grad.probe.start.norms": ["a", "b"],
    "versions": "0.1.0",
    "created": 20261127,
    "last": {"metrics": {"mse": [1]}},
}


def _plant(root: Path, field: str, value) -> Path:
    """A finished lstm record on adding with a score of 1 (it would head every table), `field` set to `value`."""
    path = write_record(root, seed=7, value=0.0, remedy=LSTM, run_id=f"hostile-{len(list(root.glob('runs/*')))}")
    record = json.loads(path.read_text())
    *parents, name = field.strip().split(".")
    holder = record
    for parent in parents:
        holder = holder.setdefault(parent, {})
    holder[name] = value
    path.write_text(json.dumps(record))  # NaN and Infinity as Python's json writes them
    return path


def _folder(root: Path) -> Path:
    """Three seeds of two combos on adding, as the runner writes them."""
    for seed, (lstm, rnn) in enumerate([(0.01, 0.15), (0.02, 0.16), (0.04, 0.12)]):
        write_record(root, seed=seed, value=lstm, remedy=LSTM)
        write_record(root, seed=seed, value=rnn, remedy=RNN)
    return root


def test_hostile_records_are_skipped_by_name_and_change_no_table(tmp_path):
    """`rnnbench leaderboard` over a folder with one hostile record per case: exit 0, one warning per record naming
    its file and its field, and every table exactly as without them."""
    clean, hostile = _folder(tmp_path / "clean"), _folder(tmp_path / "hostile")
    planted = {field: _plant(hostile, field, value) for field, value in HOSTILE.items()}
    runs = {}
    for name, folder in (("clean", clean), ("hostile", hostile)):
        runs[name] = subprocess.run(cli("leaderboard", "--results", str(folder), "--out", str(tmp_path / f"{name}-site")),
                                    cwd=REPO, capture_output=True, text=True, timeout=300)
        assert runs[name].returncode == 0 and "Traceback" not in runs[name].stderr, runs[name].stderr
    warned = [line for line in runs["hostile"].stderr.splitlines() if line.startswith("rnnbench: warning: skipping")]
    assert len(warned) == len(HOSTILE), runs["hostile"].stderr
    for field, path in planted.items():
        lines = [line for line in warned if str(path) in line]
        assert len(lines) == 1, (field, warned)
        assert f"field {field.strip().split('.')[0]!r}" in lines[0] or f"field {field.strip()!r}" in lines[0] \
            or (field == "last" and "field 'last.metrics'" in lines[0]), lines[0]
    for table in ("leaderboard.md", "tables/overall.csv"):
        assert (tmp_path / "hostile-site" / table).read_text() == (tmp_path / "clean-site" / table).read_text()


def test_a_bool_or_absurd_score_is_refused_and_a_real_exploded_run_counts_zero(tmp_path):
    """true is not a score of 1, a score above 1e6 is refused; a score of -1.2e7 (an exploded Adam run's) is kept
    and counts as the baseline's 0 (the score rule)."""
    from leaderboard import load_results
    from leaderboard.tables import seed_score

    root = _folder(tmp_path)
    with pytest.warns(UserWarning, match=r"field 'normalized_score' must be a finite number <= 1e\+06, got True"):
        _plant(root, "normalized_score", True)
        n = len(load_results(root))
    assert n == 6
    exploded = write_record(root, seed=9, value=2e6, remedy=RNN)
    with pytest.warns(UserWarning, match="hostile"):
        df = load_results(root).set_index("source")
    assert df.loc[str(exploded), "normalized_score"] == pytest.approx(-1.2e7)
    assert seed_score(df).loc[str(exploded)] == 0.0


def test_the_leaderboard_step_of_a_sweep_and_the_known_results_survive_a_hostile_record(tiny_suite, tmp_path):
    """A sweep into a folder holding a hostile record trains, builds its leaderboard and exits 0; leaderboard.known
    over it states its verdicts (no traceback)."""
    out = tmp_path / "out"
    for field in ("metrics", "combo", "normalized_score"):
        _plant(out, field, HOSTILE[field])
    suite = tmp_path / "one.yaml"
    suite.write_text(tiny_suite.read_text().replace("axes:\n  - {cell: [rnn, lstm]}\n  - {cell: [rnn], clip: [norm]}\n",
                                                    "axes: {cell: [rnn]}\n"))
    proc = subprocess.run(cli("run", "--suite", str(suite), "--tasks", "adding", "--out", str(out), "--workers", "0",
                              "--quiet"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert (out / "leaderboard" / "index.html").exists()
    assert len(re.findall(r"rnnbench: warning: skipping result file .*hostile-\d/result.json: field", proc.stderr)) == 3
    known = subprocess.run([*cli()[:2], "leaderboard.known", str(out)], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert known.returncode in (0, 1) and "Traceback" not in known.stderr, known.stderr
