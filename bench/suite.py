"""Suites: a suite (YAML) names tasks with parameter lists, the remedy axes with their levels (sub-grids), seeds,
the model's settings and a training budget (either may sweep a size), and a tuning grid; read by name (bench/suites/)
or from a file, with KEY=VALUE overrides, every value checked before any run is built (load_suite). Its grid:
bench.grid."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnnbench.bench.axes import TUNABLE
from rnnbench.bench.config import AXES, Budget
from rnnbench.bench.grid import remedy_combinations
from rnnbench.bench.optim import plateau_idle
from rnnbench.bench.registry import ConfigError, check, choice, typed_params
from rnnbench.models import ModelConfig
from rnnbench.tasks import TASKS

SUITES_DIR = Path(__file__).parent / "suites"


@dataclass
class Suite:
    name: str
    tasks: dict[str, dict[str, list]]  # task -> parameter -> values
    grids: list[dict[str, list[str]]]  # sub-grids: axis -> levels (missing axes take the baseline level)
    seeds: int = 1
    model: dict = field(default_factory=dict)  # ModelConfig settings shared by every run
    budget: Budget = field(default_factory=Budget)
    tune: list[dict[str, Any]] = field(default_factory=lambda: [{}])  # the tuning grid: budget overrides, each
    # trained for every remedy combination and seed (tuning_settings)
    sweep: dict[str, list] = field(default_factory=dict)  # the size sweep: "model.FIELD" / "budget.FIELD" -> its
    # values (two or more), each point of their product a setting of its own; `model` and `budget` hold each swept
    # field's first value

    def points(self) -> list[tuple[dict, Budget]]:
        """The model settings and the budget of each point of the size sweep, in the suite's order (one: `model` and
        `budget`, without a sweep)."""
        points = []
        for values in itertools.product(*self.sweep.values()):
            model, budget = {**self.model}, {}
            for key, value in zip(self.sweep, values):
                where, name = key.split(".", 1)
                (model if where == "model" else budget)[name] = value
            points.append((model, dataclasses.replace(self.budget, **budget)))
        return points

    def budgets(self, budget: Budget | None = None) -> list[Budget]:
        """The budget of each tuning setting, in the suite's order, from `budget` (default: the suite's; one without
        a tuning grid)."""
        return [dataclasses.replace(budget or self.budget, **setting) for setting in self.tune]


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _levels(value, what: str) -> list:
    """A suite's list of values for one parameter or axis: not empty, each value once (a repeated value would give
    the same run twice)."""
    values = _as_list(value)
    check(bool(values), f"{what} has no values: give at least one")
    return [v for i, v in enumerate(values) if v not in values[:i]]


OVERRIDABLE = ("name", "seeds", "model", "budget", "tasks", "tune")  # what KEY=VALUE overrides may set (apply_overrides)


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...], where: str) -> dict:
    """A suite's settings with KEY=VALUE overrides applied (Hydra's dotted syntax), VALUE read as YAML (16, 0.01,
    adam, [0.001, 0.01]): `model.FIELD`, `budget.FIELD`, `tasks.TASK.PARAM` (a task the suite has), `seeds`, `name`,
    `tune` (a whole grid). Checked as the suite file's own values are, after; the run ids take them in."""
    raw = {**raw}
    for item in overrides:
        key, sep, text = item.partition("=")
        check(bool(sep and key), f"override {item!r}: expected KEY=VALUE (e.g. model.hidden_size=16)")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not YAML: {getattr(err, 'problem', err)}") from None
        head, *rest = key.split(".")
        choice("override key", head, OVERRIDABLE)
        if head in ("model", "budget"):
            check(len(rest) == 1, f"override {item!r}: expected {head}.FIELD=VALUE")
            raw[head] = {**(raw.get(head) or {}), rest[0]: value}
        elif head == "tasks":
            check(len(rest) == 2, f"override {item!r}: expected tasks.TASK.PARAM=VALUE")
            tasks = raw.get("tasks") or {}
            choice(f"task of {where} (override {item!r})", rest[0], tasks)
            raw["tasks"] = {**tasks, rest[0]: {**(tasks[rest[0]] or {}), rest[1]: value}}
        else:
            check(not rest, f"override {item!r}: {head} takes no field")
            raw[head] = value
    return raw


def load_suite(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> Suite:
    """Read a suite by name (bench/suites/NAME.yaml) or from a YAML file path, with KEY=VALUE overrides
    (apply_overrides)."""
    path = Path(name_or_path)
    if not path.is_file():
        names = sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))
        looks_like_path = "/" in name_or_path or name_or_path.endswith((".yaml", ".yml"))
        check(not looks_like_path, f"suite file {name_or_path} does not exist (or is not a file); shipped suites: "
              f"{', '.join(names)}")
        choice("suite", name_or_path, names)
        path = SUITES_DIR / f"{name_or_path}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read suite {path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"malformed suite YAML {path}{where}: {getattr(err, 'problem', err)}") from None
    check(isinstance(raw, dict), f"suite {path} must be a mapping with keys name, tasks, axes, seeds, model, budget")
    raw = apply_overrides(raw, overrides, f"suite {path}")
    keys = ("name", "tasks", "axes", "seeds", "model", "budget", "tune")
    for key in raw:
        check(key in keys, f"unknown suite key {key!r} in {path}; valid keys: {', '.join(keys)}")
    tasks = raw.get("tasks") or {}
    check(isinstance(tasks, dict) and tasks, f"suite {path}: 'tasks' must map task names to parameter lists")
    for task, params in tasks.items():
        TASKS.get(task)
        check(params is None or isinstance(params, dict), f"suite {path}: parameters of task {task!r} must be a mapping")
        tasks[task] = {k: _levels(v, f"suite {path}: parameter {k!r} of task {task!r}") for k, v in (params or {}).items()}
    grids = raw.get("axes") or [{}]
    grids = [grids] if isinstance(grids, dict) else grids
    check(isinstance(grids, list), f"suite {path}: 'axes' must map axis names to levels, or be a list of such maps")
    for i, grid in enumerate(grids):
        check(isinstance(grid, dict), f"suite {path}: each entry of 'axes' must map axis names to levels")
        for axis, levels in grid.items():
            choice("axis", axis, AXES)
            grid[axis] = _levels(levels, f"suite {path}: axis {axis!r} (valid levels: {', '.join(AXES[axis])})")
            for level in grid[axis]:
                choice(f"level of axis {axis!r}", level, AXES[axis])
        check(bool(remedy_combinations([grid])), f"suite {path}: axes entry {i + 1} ({grid}) leaves no remedy "
              "combination: an inapplicable level is left out (e.g. a gated cells' init on cell 'rnn')")
    seeds = raw.get("seeds", 1)
    check(type(seeds) is int and seeds >= 1, f"suite {path}: seeds must be an integer >= 1, got {seeds!r}")
    fixed, sweep = sweep_settings(raw, f"suite {path}")
    model = fixed["model"]
    for axis in ("cell", "activation", "init", "skip"):
        check(axis not in model, f"suite {path}: {axis!r} is a remedy axis; set it under 'axes', not 'model'")
    budget = Budget(**fixed["budget"])
    for key, values in sweep.items():
        if key.startswith("budget."):
            for value in values:  # each value checked as the budget checks it
                dataclasses.replace(budget, **{key.split(".", 1)[1]: value})
    suite = Suite(
        name=str(raw.get("name", path.stem)),
        tasks=tasks,
        grids=grids,
        seeds=seeds,
        model=model,
        budget=budget,
        tune=tuning_settings(raw.get("tune"), f"suite {path}"),
        sweep=sweep,
    )
    if any("plateau" in _as_list(grid.get("lr", [])) for grid in grids):
        for _, point in suite.points():
            for b in suite.budgets(point):
                idle = plateau_idle(b)
                check(idle is None, f"suite {path}: {idle}")
    return suite


def sweep_settings(raw: dict, what: str) -> tuple[dict[str, dict], dict[str, list]]:
    """A suite's `model` and `budget` mappings, each value checked against its field's type: ({"model": settings,
    "budget": settings} with each field's first value, the sweep: {"model.FIELD" / "budget.FIELD": values} for each
    field given a list of two or more values). A list of one value is that value (the run ids of a single value
    stay as they were); the optimizer and the learning rate take one value (several are a tuning grid: `tune`)."""
    fixed: dict[str, dict] = {}
    sweep: dict[str, list] = {}
    for key, cls in (("model", ModelConfig), ("budget", Budget)):
        settings = raw.get(key) or {}
        check(isinstance(settings, dict), f"{what}: {key!r} must be a mapping of parameters, got {raw.get(key)!r}")
        fixed[key] = {}
        for name, value in settings.items():
            values = _levels(value, f"{what}: {key} {name}") if isinstance(value, list) else [value]
            values = [typed_params(cls, {name: v}, key)[name] for v in values]
            fixed[key][name] = values[0]
            if len(values) > 1:
                check(key != "budget" or name not in TUNABLE, f"{what}: budget {name} takes one value; several are "
                      f"a tuning grid, each combination shown at its best: tune: {{{name}: {values}}}")
                sweep[f"{key}.{name}"] = values
    return fixed, sweep


def tuning_settings(tune, what: str) -> list[dict[str, Any]]:
    """A suite's `tune` as a list of budget overrides: a mapping of TUNABLE fields to value lists is their product
    ({optimizer: [adam, sgd], learning_rate: [0.001, 0.01]}: 4 settings), a list of such mappings the union of their
    products (rates per optimizer); none: one setting, the suite's budget. Each value is checked as the budget
    checks it."""
    if tune is None:
        return [{}]
    grids = [tune] if isinstance(tune, dict) else tune
    check(isinstance(grids, list) and grids and all(isinstance(g, dict) and g for g in grids),
          f"{what}: 'tune' must map budget fields ({', '.join(TUNABLE)}) to value lists, or be a list of such maps")
    settings: list[dict[str, Any]] = []
    for grid in grids:
        for key in grid:
            check(key in TUNABLE, f"{what}: unknown tuning field {key!r}; valid fields: {', '.join(TUNABLE)}")
        values = {k: _levels(v, f"{what}: tuning field {k!r}") for k, v in grid.items()}
        for combo in itertools.product(*values.values()):
            setting = typed_params(Budget, dict(zip(values, combo)), "tune")
            Budget(**setting)  # each value checked as the budget checks it
            if setting not in settings:
                settings.append(setting)
    return settings
