"""The Weights & Biases mirror of a run (`rnnbench run --wandb`).

The result files are the source of truth; W&B is a copy for browsing. So a W&B failure (no network, a bad
API key, a full disk) never costs a run: the run trains without its mirror and its record says why
(`wandb_error`). This module imports neither Lightning nor wandb until a run asks for its mirror, so the
sweep's parent can call `choose_mode` before it starts its workers.
"""

from __future__ import annotations

import os
from pathlib import Path

_DOWN: dict[str, str] = {}  # W&B's first failure in this process: later runs here skip it at once (no init waits)


def choose_mode() -> str:
    """Online when the user is logged in (WANDB_API_KEY, or a W&B entry in ~/.netrc), offline otherwise; an
    explicit WANDB_MODE stays. Sets WANDB_MODE, which the workers inherit; returns it."""
    if "WANDB_MODE" not in os.environ and not os.environ.get("WANDB_API_KEY"):
        netrc = Path.home() / ".netrc"
        if not (netrc.exists() and "api.wandb.ai" in netrc.read_text()):
            os.environ["WANDB_MODE"] = "offline"
    return os.environ.get("WANDB_MODE", "online")


def start(cfg, out_dir: Path, project: str):
    """(Lightning's WandbLogger with its W&B run started, None), or (False, the error) where W&B fails now or
    failed for an earlier run in this process: the run then trains without a logger."""
    if "error" in _DOWN:
        return False, f"W&B skipped: it failed earlier in this worker ({_DOWN['error']})"
    from lightning.pytorch.loggers import WandbLogger

    choose_mode()
    (out_dir / "wandb").mkdir(parents=True, exist_ok=True)
    try:
        logger = WandbLogger(project=project, group=f"{cfg.task_label}|{cfg.combo}", name=cfg.run_id, id=cfg.run_id,
                             config=cfg.to_dict(), save_dir=str(out_dir), reinit=True)
        logger.experiment  # wandb.init: a failure shows here, not in the middle of training
        return logger, None
    except Exception as err:  # noqa: BLE001 - the mirror is optional, the run is not
        _DOWN["error"] = f"{type(err).__name__}: {err}".splitlines()[0]
        return False, _DOWN["error"]


SUMMARY = ("status", "normalized_score", "metrics", "best_step", "steps_trained", "diverged_at_step", "error")


def finish(logger, record: dict) -> str | None:
    """Put the run's outcome (status, score, test metrics of the best checkpoint, ...) in its W&B summary and
    close the W&B run; returns the error where W&B fails."""
    try:
        logger.experiment.summary.update({key: record[key] for key in SUMMARY})
        logger.experiment.finish()
        return None
    except Exception as err:  # noqa: BLE001 - the record is written either way
        return f"{type(err).__name__}: {err}".splitlines()[0]
