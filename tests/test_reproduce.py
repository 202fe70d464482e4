"""`rnnbench reproduce`: published records retrained from their configs give the same numbers, exactly; an edited
number is caught; bad input fails in one line (exit 2) before any training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnbench.bench.cli import main
from rnnbench.bench.store import PUBLISHED, read_published, write_published
from rnnbench.leaderboard.collect import publish

TWO_RUNS = """
name: two
tasks:
  adding: {seq_len: 8, train_size: 64, val_size: 32, test_size: 32}
axes:
  - {cell: [rnn, lstm]}
seeds: 1
model: {hidden_size: 8}
budget: {max_steps: 4, batch_size: 16, eval_every: 2, probe_batch: 4}
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """Two tiny runs trained for real, then published: the records file."""
    root = tmp_path_factory.mktemp("reproduce")
    (root / "two.yaml").write_text(TWO_RUNS)
    results = root / "results"
    assert main(["run", "--suite", str(root / "two.yaml"), "--out", str(results), "--workers", "0", "--quiet",
                 "--no-leaderboard"]) == 0
    (root / "published").mkdir()
    path, n = publish([results], root / "published")
    assert n == 2
    return path


def _records(path: Path) -> list[dict]:
    return [record for _, record in read_published(path)]


def _edited(published: Path, folder: Path, edit) -> tuple[Path, str]:
    """A copy of the records file with edit(record) applied to its first record; returns the copy and that run id."""
    records = _records(published)
    edit(records[0])
    folder.mkdir()
    return write_published(folder / PUBLISHED, records), records[0]["run_id"]


def test_published_runs_reproduce_exactly(published, capsys):
    """Without ids the sample takes both finished runs (fewer than --sample), each retrained to the same numbers;
    a results folder is read as well as a records file."""
    assert main(["reproduce", str(published), "--sample", "5"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.endswith("same")]
    assert len(lines) == 2, out
    for record in _records(published):
        line = next(line for line in lines if line.startswith(record["run_id"]))
        assert record["task_label"] in line and record["combo"] in line and record["tuning"] in line
        assert line.count(f"score={record['normalized_score']:.6g}") == 2, line  # published and retrained
    assert "2 of 2 run(s) gave their published numbers exactly" in out
    run_id = _records(published)[1]["run_id"]
    assert main(["reproduce", str(published.parent), run_id]) == 0
    assert capsys.readouterr().out.count(" same\n") == 1


def test_an_edited_number_differs(published, tmp_path, capsys):
    edited, run_id = _edited(published, tmp_path / "edited",
                             lambda r: r.update(normalized_score=r["normalized_score"] + 0.5))
    out_dir = tmp_path / "retrained"
    assert main(["reproduce", str(edited), run_id, "--out", str(out_dir)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS (normalized_score by 0.5)" in out, out
    assert (out_dir / "runs" / run_id / "result.json").is_file()  # --out keeps the retrained record
    assert main(["reproduce", str(edited), run_id, "--out", str(out_dir)]) == 2  # not over a kept result
    assert "already holds" in capsys.readouterr().err


def test_bad_input_fails_in_one_line_before_training(published, tmp_path, capsys):
    assert main(["reproduce", str(published), "0123456789abcdef"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0123456789abcdef" in err and "--list" in err, err
    assert _records(published)[0]["run_id"] in err or _records(published)[1]["run_id"] in err
    assert main(["reproduce", str(published), "--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    # a config that no longer makes its run id (another rnnbench's fields or defaults): refused, not retrained
    edited, run_id = _edited(published, tmp_path / "other", lambda r: r["config"]["model"].update(hidden_size=9))
    assert main(["reproduce", str(edited), run_id]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"run {run_id}: its config makes run" in err, err
    assert main(["reproduce", str(tmp_path / "missing")]) == 2
    assert "no such results folder" in capsys.readouterr().err


def test_records_are_retrained_with_the_cpu_kernels_they_name(published, tmp_path, capfd):
    """Each record names the CPU kernels torch trained it with (versions.cpu_kernels: torch's capability in the
    worker); a record naming other kernels than this process's is retrained in a process started with them, as its
    retrained record shows. A record naming none is retrained with this machine's kernels and, where it differs,
    with the other x86 kernels in turn, with a warning that says so."""
    import torch

    here = torch.backends.cpu.get_cpu_capability().lower()
    assert {r["versions"]["cpu_kernels"].lower() for r in _records(published)} == {here}
    other = "default" if here != "default" else "avx2"  # every x86 machine has the default kernels
    edited, run_id = _edited(published, tmp_path / "named", lambda r: r["versions"].update(cpu_kernels=other.upper()))
    out_dir = tmp_path / "retrained"
    assert main(["reproduce", str(edited), run_id, "--out", str(out_dir)]) in (0, 1)  # float32 may round otherwise
    out = capfd.readouterr().out
    assert f"retrained ({other} kernels)" in out and run_id in out, out
    assert _records_in(out_dir)[run_id]["versions"]["cpu_kernels"].lower() == other

    unnamed, run_id = _edited(published, tmp_path / "unnamed", lambda r: r["versions"].pop("cpu_kernels"))
    assert main(["reproduce", str(unnamed), run_id]) == 0  # the same with this machine's kernels: tried once
    captured = capfd.readouterr()
    assert "do not name the CPU kernels" in captured.err and "--cpu-kernels" in captured.err, captured.err
    assert captured.out.count(f"retrained ({here} kernels)") == 1 and "that differ" not in captured.out

    def unnamed_and_edited(record):
        record["versions"].pop("cpu_kernels")
        record["normalized_score"] += 0.5

    differing, run_id = _edited(published, tmp_path / "differing", unnamed_and_edited)
    assert main(["reproduce", str(differing), run_id]) == 1
    captured = capfd.readouterr()
    tried = [k for k in ("avx512", "avx2") if k != here]
    assert captured.out.count("DIFFERS (normalized_score by 0.5") == 1 + (here == "avx512"), captured.out
    assert f"retraining the 1 that differ with torch's {tried[0]} CPU kernels" in captured.out, captured.out
    assert "0 of 1 run(s) gave their published numbers exactly" in captured.out


def _records_in(results: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (results / "runs").glob("*/result.json")}
