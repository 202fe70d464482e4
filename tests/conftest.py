import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # GPU rows where a GPU is (bench/speed/gpu_check.sh)
SHARED_DATA = Path(os.environ.get("RNNBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))

CONTRACT_FIELDS = {
    "run_id", "config", "status", "error", "metrics", "baseline", "normalized_score", "steps_trained",
    "wall_seconds", "grad", "versions", "git_commit", "device", "best_step", "history", "task_label", "combo",
    "remedies", "primary_metric", "diverged_at_step", "created", "suite", "seeds", "last", "record_version",
    "length_param",
}

TINY_SUITE = """
# tiny: a grid small enough for tests
name: tiny
tasks:
  adding: {seq_len: 8, train_size: 64, val_size: 32, test_size: 32}
  copy: {delay: 3, train_size: 64, val_size: 32, test_size: 32}
axes:
  - {cell: [rnn, lstm]}
  - {cell: [rnn], clip: [norm]}
seeds: 1
model: {hidden_size: 8}
budget: {max_steps: 4, batch_size: 16, eval_every: 2, probe_batch: 4}
"""


@pytest.fixture
def tiny_suite(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SUITE)
    return path


def cli(*args: str) -> list[str]:
    """The rnnbench command line as a subprocess runs it (the same entry point as the console script)."""
    return [sys.executable, "-m", "rnnbench.bench", *args]
