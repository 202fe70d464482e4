"""The Ray launcher against a real local Ray instance (started and shut down by the code under test)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rnnbench.bench.cli import main
from rnnbench.bench.config import RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.launch import LaunchOptions, run_grid
from rnnbench.bench.suite import load_suite
from tests.conftest import TINY_SUITE


@pytest.fixture
def ray(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance, never a cluster the CI host may know
    return pytest.importorskip("ray")


def results(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")}


def test_ray_sweep_records_every_run_then_resumes_with_nothing_to_train(ray, tmp_path, capsys):
    """A sub-grid whose runs fail in their worker (a temporal skip as long as the sequences: each run recorded failed
    with the reason), the rest finish; a second sweep keeps the finished runs and retries only the failed ones."""
    suite = tmp_path / "tiny_failing.yaml"
    suite.write_text(TINY_SUITE.replace("seeds: 1", "  - {cell: [rnn], skip: [temporal]}\nseeds: 1", 1)
                     .replace("model: {hidden_size: 8}", "model: {hidden_size: 8, skip_k: 50}", 1))
    grid = expand(load_suite(str(suite)))
    out = tmp_path / "res"
    args = ["run", "--suite", str(suite), "--out", str(out), "--launcher", "ray", "--workers", "2", "--no-leaderboard"]
    assert main([*args, "--quiet"]) == 1  # the temporal-skip runs failed
    assert not ray.is_initialized()  # the instance it started is shut down
    records = results(out)
    assert set(records) == {r.run_id for r in grid}  # one result.json per grid cell
    for cfg in grid:
        rec = records[cfg.run_id]
        assert rec["run_id"] == cfg.run_id and rec["config"] == cfg.to_dict()
        if cfg.model.skip == "temporal":
            assert rec["status"] == "failed" and "skip 'temporal' with skip_k 50" in rec["error"]
        else:
            assert rec["status"] == "ok", rec["error"]
            assert rec["steps_trained"] == 4 and rec["device"].startswith("cpu (1 thread")
    assert capsys.readouterr().out.startswith("done: 6 ok, 0 diverged, 2 failed, 0 skipped")
    # finished runs are kept; only the failed ones are trained again (and fail again)
    assert main(args) == 1
    assert "8 runs in the grid, 6 already finished, 2 to train" in capsys.readouterr().out
    again = results(out)
    assert {k: v for k, v in again.items() if v["status"] == "ok"} == {k: v for k, v in records.items()
                                                                       if v["status"] == "ok"}


class _Raises(RunConfig):
    """A run whose task raises in the worker before the runner's own error handling: its config has a model
    field that RunConfig.from_dict rejects."""

    def to_dict(self):
        d = super().to_dict()
        return {**d, "model": {**d["model"], "no_such_field": 1}}


def test_a_task_that_raises_is_recorded_failed_and_the_rest_finish(ray, tiny_suite, tmp_path):
    good = expand(load_suite(str(tiny_suite)), ["adding"])[0]
    bad = _Raises(**{f: getattr(good, f) for f in good.__dataclass_fields__})
    out = tmp_path / "res"
    counts = run_grid([bad, good], LaunchOptions(out_dir=out, suite="tiny", workers=1, launcher="ray", quiet=True))
    assert counts == {"ok": 1, "diverged": 0, "failed": 1, "skipped": 0}
    records = results(out)
    assert records[good.run_id]["status"] == "ok"
    assert records[bad.run_id]["status"] == "failed"
    assert records[bad.run_id]["error"].startswith("TypeError:") and "no_such_field" in records[bad.run_id]["error"]
    assert not ray.is_initialized()


def test_missing_extra_is_one_line_and_exit_2(tiny_suite, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the extra
    assert main(["run", "--suite", str(tiny_suite), "--out", str(tmp_path / "res"), "--launcher", "ray"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "rnnbench: error: --launcher ray needs the optional extra: pip install 'rnnbench[ray]'\n"
    assert captured.out == "" and not (tmp_path / "res").exists()
