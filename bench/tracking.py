"""The Weights & Biases mirror of the runs (`rnnbench run --wandb`) and the leaderboard (`leaderboard --wandb`).

The result files are the source of truth; W&B is a copy for browsing. So a W&B failure (no network, a bad
API key, a full disk) never costs a run: the run trains without its mirror and its record says why
(`wandb_error`). This module imports neither Lightning nor wandb until a run asks for its mirror, so the
sweep's parent can call `choose_mode` before it starts its workers.

What a W&B user finds (conventions):
- a run per attempt: its W&B id is the rnnbench run id plus a random suffix (a retried run is a new W&B run, never
  written over the earlier attempt); the rnnbench run id (the config hash) is the config field `run_id`;
- its name reads "task label · combination · tuning · seed" (`run_name`), `job_type` "train", its group the task
  setting and combination, tags `suite=…`, `task=…`, `cell=…` and `axis=level` for every remedy level other than
  the baseline (`run_tags`); the config holds the full run config, `remedies` (one field per axis, to group and
  filter by), `suite`, `git_commit`, `tuning`, `combo`;
- metrics in sections: `train/` (loss, gradient norm before clipping, its window maximum, the clipped fraction,
  every few optimizer steps: bench.guard; the learning rate at each validation), `val/` (each
  validation; its summary is the best value in the metric's own direction, not the last), `test/` (the best
  checkpoint's test metrics and normalized score), and `gradient_flow/` (the probe's ||dL/dh_t|| at the start and
  the end of training as a table and a line plot of log10 norms);
- the outcome (status, error, scores, steps, gradient statistics) in the run's summary.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from rnnbench.bench.axes import BASELINE_LEVELS, remedy_label

_DOWN: dict[str, str] = {}  # W&B's first failure in this process: later runs here skip it at once (no init waits)
STEP = "trainer/global_step"  # Lightning's WandbLogger's x-axis: the optimizer step


def choose_mode() -> str:
    """Online when the user is logged in (WANDB_API_KEY, or a W&B entry in ~/.netrc), offline otherwise; an
    explicit WANDB_MODE stays. Sets WANDB_MODE, which the workers inherit; returns it."""
    if "WANDB_MODE" not in os.environ and not os.environ.get("WANDB_API_KEY"):
        netrc = Path.home() / ".netrc"
        if not (netrc.exists() and "api.wandb.ai" in netrc.read_text()):
            os.environ["WANDB_MODE"] = "offline"
    return os.environ.get("WANDB_MODE", "online")


def quiet_settings():
    """W&B's settings for a run started by rnnbench: no banner, warnings or sync hints (WANDB_SILENT, which W&B reads
    once per process, before its first run: set unless the user set it), no capture of the worker's output: the
    sweep's progress lines are the only lines a sweep prints."""
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    wandb.setup()  # reads WANDB_SILENT now: init's own warnings (e.g. on Lightning's arguments) come before its setup
    return wandb.Settings(silent=os.environ["WANDB_SILENT"].lower() in ("true", "1", "yes"), console="off")


def run_name(cfg, swept=()) -> str:
    """"adding(seq_len=100) · gru + chrono · adam lr=0.001 · seed 0"; with a size sweep its fields' values after the
    task ("adding(seq_len=100) [hidden_size=32] · ...": RunConfig.setting_label)."""
    return f"{cfg.setting_label(swept)} · {remedy_label(cfg.remedies)} · {cfg.tuning} · seed {cfg.seed}"


def run_tags(cfg, suite: str) -> list[str]:
    """suite, task, cell, and every remedy level other than its axis's baseline, each as `name=value`."""
    remedies = cfg.remedies
    return [f"suite={suite}", f"task={cfg.task}", f"cell={remedies['cell']}",
            *(f"{axis}={level}" for axis, level in remedies.items()
              if axis != "cell" and level != BASELINE_LEVELS[axis])]


def run_config(cfg, record: dict) -> dict:
    """The W&B config: the run's full config plus what a workspace groups and filters by."""
    return {**cfg.to_dict(), "run_id": cfg.run_id, "suite": record["suite"], "git_commit": record["git_commit"],
            "task_label": cfg.task_label, "combo": remedy_label(cfg.remedies), "remedies": cfg.remedies,
            "tuning": cfg.tuning, "model_size": record.get("model_size"), "versions": record["versions"]}


def attempt_id(run_id: str) -> str:
    """The W&B id of one attempt at a run: its run id and 8 random characters (W&B's own id alphabet)."""
    from wandb.sdk.lib.runid import generate_id

    return f"{run_id}-{generate_id(8)}"


def start(cfg, out_dir: Path, project: str, record: dict, swept=()):
    """(Lightning's WandbLogger with its W&B run started, None), or (False, the error) where W&B fails now or
    failed for an earlier run in this process: the run then trains without a logger. `record`: the run's record
    so far (its suite, git commit, versions, and the task's metrics and their directions); `swept`: the fields its
    grid sweeps, whose values name and group it with its task setting (runs of other sizes are not one group)."""
    if "error" in _DOWN:
        return False, f"W&B skipped: it failed earlier in this worker ({_DOWN['error']})"
    choose_mode()
    settings = quiet_settings()
    from lightning.pytorch.loggers import WandbLogger

    (out_dir / "wandb").mkdir(parents=True, exist_ok=True)
    try:
        logger = WandbLogger(project=project, group=f"{cfg.setting_label(swept)} · {remedy_label(cfg.remedies)}",
                             name=run_name(cfg, swept), id=attempt_id(cfg.run_id), job_type="train",
                             tags=run_tags(cfg, record["suite"]), config=run_config(cfg, record),
                             save_dir=str(out_dir), reinit="finish_previous", settings=settings)
        define_summaries(logger.experiment, record)  # wandb.init: a failure shows here, not in the middle of training
        return logger, None
    except Exception as err:  # noqa: BLE001 - the mirror is optional, the run is not
        _DOWN["error"] = f"{type(err).__name__}: {err}".splitlines()[0]
        return False, _DOWN["error"]


def define_summaries(run, record: dict) -> None:
    """Each validation metric's summary is its best value (by the metric's direction, tasks.METRICS: every metric a
    task may log, its loss among them; the primary metric's is record["higher_is_better"]), the largest gradient
    norm's the largest; every one against the optimizer step."""
    from rnnbench.tasks import METRICS

    up = {name: info.higher_is_better for name, info in METRICS.items()}
    if "primary_metric" in record:
        up[record["primary_metric"]] = record["higher_is_better"]
    for name, higher in {**up, "loss": False}.items():
        run.define_metric(f"val/{name}", step_metric=STEP, summary="max" if higher else "min")
    run.define_metric("train/grad_norm_max", step_metric=STEP, summary="max")


SUMMARY = ("status", "error", "normalized_score", "val_score", "best_step", "steps_trained", "diverged_at_step",
           "wall_seconds")


def outcome(record: dict) -> dict:
    """The run's summary: its outcome, test metrics (`test/…`), gradient statistics (`grad/…`) and the probe's
    log10 ratios (`gradient_flow/…`), flat, so each is a column of the runs table."""
    grad = record.get("grad") or {}
    summary = {key: record.get(key) for key in SUMMARY}
    summary.update({f"test/{name}": value for name, value in (record.get("metrics") or {}).items()})
    summary["test/normalized_score"] = record.get("normalized_score")
    summary.update({f"grad/{k}": v for k, v in grad.items() if k != "probe"})
    for phase, probe in (grad.get("probe") or {}).items():
        summary[f"gradient_flow/log10_ratio_{phase}"] = probe.get("log10_ratio")
        summary[f"gradient_flow/log_slope_{phase}"] = probe.get("log_slope")
    return summary


def flow_table(probe: dict):
    """The gradient-flow probe as a wandb.Table: a row per position t = 1..L with ||dL/dh_t|| at the start and the
    end of training and their log10 (None where the norm is 0 or the phase missing: a run that failed has no end)."""
    import wandb

    start, end = (probe.get(phase, {}).get("norms") or [] for phase in ("start", "end"))

    def log10(values, t):
        return math.log10(values[t]) if t < len(values) and values[t] > 0 else None

    rows = [[t + 1, start[t] if t < len(start) else None, end[t] if t < len(end) else None,
             log10(start, t), log10(end, t)] for t in range(max(len(start), len(end)))]
    return wandb.Table(columns=["t", "norm_start", "norm_end", "log10_norm_start", "log10_norm_end"], data=rows)


def flow_plot(table):
    """flow_table's log10 norms against t as a W&B line plot, a line per phase (start, end), each over the positions
    with a nonzero norm."""
    import wandb

    lines = {phase: [(row[0], row[col]) for row in table.data if row[col] is not None]
             for phase, col in (("start", 3), ("end", 4))}
    lines = {phase: points for phase, points in lines.items() if points}
    return wandb.plot.line_series(xs=[[t for t, _ in p] for p in lines.values()],
                                  ys=[[y for _, y in p] for p in lines.values()], keys=list(lines),
                                  title="gradient flow: log10 ||dL/dh_t||", xname="t")


def finish(logger, record: dict) -> str | None:
    """Log the test metrics and the gradient-flow probe, put the run's outcome in its W&B summary and close the W&B
    run; returns the error where W&B fails."""
    try:
        run = logger.experiment
        step = record["best_step"] if record.get("best_step") is not None else record.get("steps_trained", 0)
        test = {f"test/{name}": value for name, value in (record.get("metrics") or {}).items()}
        if test:
            logger.log_metrics({**test, "test/normalized_score": record["normalized_score"]}, step=step)
        probe = (record.get("grad") or {}).get("probe") or {}
        if probe:
            table = flow_table(probe)
            run.log({"gradient_flow/table": table, "gradient_flow/plot": flow_plot(table)})
        run.summary.update(outcome(record))
        run.finish()
        return None
    except Exception as err:  # noqa: BLE001 - the record is written either way
        return f"{type(err).__name__}: {err}".splitlines()[0]


def log_leaderboard(written: dict[str, Path], out: Path, results: list[Path], project: str) -> str:
    """The leaderboard in W&B: a `job_type="leaderboard"` run (offline unless logged in, in RESULTS/wandb beside the
    runs' mirrors) that logs every table of `written` (leaderboard.build's files) as a wandb.Table under
    `leaderboard/<table>` and every file as the artifact `leaderboard` (type "leaderboard"). Returns a line to print;
    raises where W&B fails."""
    import pandas as pd
    import wandb

    mode = choose_mode()
    save_dir = results[0] / "wandb"
    save_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=project, job_type="leaderboard", name=f"leaderboard · {out.name}", dir=str(results[0]),
                     config={"results": [str(r) for r in results], "out": str(out)}, tags=["leaderboard"],
                     settings=quiet_settings(), reinit="finish_previous")
    try:
        tables = {}
        for rel, path in sorted(written.items()):
            if rel.startswith("tables/") and rel.endswith(".csv"):
                frame = pd.read_csv(path)
                tables[f"leaderboard/{rel[len('tables/'):-len('.csv')]}"] = wandb.Table(dataframe=frame)
        run.log(tables)
        artifact = wandb.Artifact("leaderboard", type="leaderboard", description=f"rnnbench leaderboard of "
                                  f"{', '.join(map(str, results))}: index.html, leaderboard.md, tables and plots")
        for rel, path in sorted(written.items()):
            artifact.add_file(str(path), name=rel)
        run.log_artifact(artifact)
    finally:
        run.finish()
    where = f"{save_dir}/offline-run-*{run.id}" if mode == "offline" else run.url
    return f"W&B: {len(tables)} leaderboard tables and the page as an artifact in run {run.id} ({where})"
