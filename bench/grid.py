"""The remedy grid: the union of a suite's sub-grids, each a cartesian product of axis levels; combinations that are
no-ops (an activation level on a gated cell) collapse into one and combinations that do not apply (chrono on a
vanilla RNN) are left out. Expanded with the task settings, the size sweep's points, the tuning settings and the
seeds into one RunConfig per run (expand)."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Iterable

from rnnbench.bench.axes import BASELINE_LEVELS
from rnnbench.bench.config import AXES, RunConfig
from rnnbench.bench.registry import check, choice
from rnnbench.models import CELLS, INITS, ModelConfig
from rnnbench.tasks import TASKS

if TYPE_CHECKING:
    from rnnbench.bench.suite import Suite

# Runs a grid may hold unless asked for explicitly (rnnbench run --allow-large): the full suite holds 130,815; a grid
# beyond this is most likely a typo (seeds: 100000000), which would take hours to list before training anything.
GRID_LIMIT = 200_000


def remedy_combinations(grids: list[dict[str, list[str]]]) -> list[dict[str, str]]:
    """The union of the sub-grids' products, no-ops collapsed, inapplicable ones left out, in order."""
    seen: dict[tuple, dict[str, str]] = {}
    for grid in grids:
        levels = [grid.get(axis, [BASELINE_LEVELS[axis]]) for axis in AXES]
        for combo in itertools.product(*levels):
            r = dict(zip(AXES, combo))
            cell = CELLS.get(r["cell"])
            if not cell.takes_activation:
                r["activation"] = BASELINE_LEVELS["activation"]  # gated cells keep their own: one level
            if not INITS.get(r["init"]).applies_to(cell):
                continue  # e.g. chrono sets gate biases: a vanilla RNN has no gates
            seen.setdefault(tuple(r.values()), r)
    return list(seen.values())


def _chosen_tasks(suite: Suite, tasks: list[str] | None) -> dict[str, dict[str, list]]:
    if not tasks:
        return suite.tasks
    for t in tasks:
        choice("task in this suite", t, suite.tasks)
    return {t: suite.tasks[t] for t in tasks}


def grid_size(suite: Suite, tasks: list[str] | None = None, seeds: int | None = None) -> int:
    """The number of runs expand() gives, counted without building them: task settings × points of the size sweep ×
    remedy combinations × tuning settings × seeds."""
    chosen = _chosen_tasks(suite, tasks)
    settings = sum(math.prod(len(values) for values in params.values()) for params in chosen.values())
    points = math.prod(len(values) for values in suite.sweep.values())
    return settings * points * len(remedy_combinations(suite.grids)) * len(suite.tune) * (seeds or suite.seeds)


def swept_fields(runs: Iterable[RunConfig]) -> list[str]:
    """The fields of RunConfig.setting whose value differs among `runs` (what their grid sweeps), sorted."""
    values: dict[str, set] = {}
    for cfg in runs:
        for name, value in cfg.setting.items():
            values.setdefault(name, set()).add(value)
    return sorted(name for name, seen in values.items() if len(seen) > 1)


def expand(suite: Suite, tasks: list[str] | None = None, seeds: int | None = None,
           limit: int | None = GRID_LIMIT) -> list[RunConfig]:
    """The suite's grid: task parameters × points of the size sweep × remedy combinations × tuning settings × seeds,
    each a validated RunConfig. A grid of more than `limit` runs (grid_size) is refused before any is built; None: no
    limit."""
    chosen = _chosen_tasks(suite, tasks)
    n_seeds = seeds or suite.seeds
    check(n_seeds >= 1, f"seeds must be >= 1, got {n_seeds}")
    size = grid_size(suite, tasks, seeds)
    if limit is not None:
        check(size <= limit, f"suite {suite.name}: the grid holds {size:,} runs, more than {limit:,}; fewer seeds, "
              "tasks or levels, or --allow-large to train them all")
    runs = []
    combos, points = remedy_combinations(suite.grids), suite.points()
    for task, params in chosen.items():
        for values in itertools.product(*params.values()):
            task_params = dict(zip(params, values))
            TASKS.get(task).from_params(task_params)  # validate once, early
            for settings, point in points:
                for r in combos:
                    model = ModelConfig(
                        **settings, cell=r["cell"], activation=r["activation"], init=r["init"], skip=r["skip"]
                    )
                    model.validate()
                    for budget in suite.budgets(point):
                        for seed in range(n_seeds):
                            runs.append(RunConfig(task, task_params, model, r["clip"], r["lr"], seed, budget))
    return runs
