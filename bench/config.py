"""Run configs, suites and the remedy grid.

A suite (YAML) names tasks with parameter lists, the remedy axes with their levels, seeds and a
training budget. The grid is the union of the suite's sub-grids, each a cartesian product of axis
levels; combinations that are no-ops (an activation level on a gated cell) collapse into one and
combinations that do not apply (chrono on a vanilla RNN) are left out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from rnnbench.bench.axes import AXIS_NAMES, BASELINE_LEVELS, TUNABLE, setting_tag, tuning_label
from rnnbench.bench.optim import CLIPS, LR_SCHEDULES, OPTIMIZERS, plateau_idle
from rnnbench.bench.registry import ConfigError, check, choice, typed_params
from rnnbench.models import ACTIVATIONS, CELLS, INITS, SKIPS, ModelConfig
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import SyntheticSizes

SUITES_DIR = Path(__file__).parent / "suites"
SEED_STREAMS = ("data", "init", "order")  # RunConfig.seeds
# the remedy axes and their levels: what implements each level, read live (iterating one yields its level names),
# so a cell or schedule registered later (a user's file, `rnnbench run --include`) is a level of its axis
AXES: dict[str, Iterable[str]] = {
    "cell": CELLS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "clip": CLIPS,
    "lr": LR_SCHEDULES,
    "skip": SKIPS,
}
assert tuple(AXES) == tuple(BASELINE_LEVELS) and all(BASELINE_LEVELS[a] in AXES[a] for a in AXES)


# Upper bounds of the budget's sizes: far beyond any run this benchmark trains (the full suite's longest is 4000
# steps of 64 sequences), low enough that a typo (max_steps: 1000000000000) fails at once instead of training for
# years or asking for terabytes.
BUDGET_BOUNDS = {"max_steps": 10**8, "eval_every": 10**8, "warmup_steps": 10**8, "batch_size": 10**6,
                 "probe_batch": 10**6}
# Runs a grid may hold unless asked for explicitly (rnnbench run --allow-large): the full suite holds 130,815; a grid
# beyond this is most likely a typo (seeds: 100000000), which would take hours to list before training anything.
GRID_LIMIT = 200_000


@dataclass(frozen=True)
class Budget:
    """How long and how each run trains (the suite's training budget)."""

    max_steps: int = 500
    batch_size: int = 64
    eval_every: int = 100  # validation interval in training steps
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    clip_value: float = 1.0  # threshold used by clip=norm and clip=value
    warmup_steps: int = 50  # for lr=warmup_cosine
    probe_batch: int = 32  # samples in the fixed gradient-flow probe batch

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "eval_every", "probe_batch"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"budget {name} must be an integer >= 1, got {value!r}")
        check(self.warmup_steps >= 0, f"budget warmup_steps must be >= 0, got {self.warmup_steps!r}")
        for name, bound in BUDGET_BOUNDS.items():
            value = getattr(self, name)
            check(value <= bound, f"budget {name} must be <= {bound:,}, got {value:,}")
        for name in ("learning_rate", "clip_value"):
            value = getattr(self, name)
            check(math.isfinite(value) and value > 0, f"budget {name} must be a finite number > 0, got {value!r}")
        choice("optimizer", self.optimizer, OPTIMIZERS)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run; its hash is the run id."""

    task: str
    task_params: dict
    model: ModelConfig
    clip: str = "none"
    lr: str = "constant"
    seed: int = 0
    budget: Budget = field(default_factory=Budget)

    def build_task(self):
        return TASKS.get(self.task).from_params(self.task_params)

    @property
    def seeds(self) -> dict[str, int]:
        """The run seed's three independent streams (numpy's SeedSequence(seed).spawn): `data` (the training split),
        `init` (the initial weights) and `order` (the order of training batches), so that each can vary alone;
        validation and test data come from tasks.base.EVAL_SEED for every run seed."""
        streams = np.random.SeedSequence(self.seed).spawn(len(SEED_STREAMS))
        return {name: int(s.generate_state(1)[0]) for name, s in zip(SEED_STREAMS, streams)}

    @property
    def remedies(self) -> dict[str, str]:
        m = self.model
        return {"cell": m.cell, "activation": m.activation, "init": m.init, "clip": self.clip, "lr": self.lr, "skip": m.skip}

    @property
    def combo(self) -> str:
        """The grid cell without task and seed: the leaderboard's row label."""
        r = self.remedies
        return f"{r['cell']}·{r['activation']}·{r['init']}·clip={r['clip']}·lr={r['lr']}·skip={r['skip']}"

    @property
    def tuning(self) -> str:
        """The run's optimizer setting (the TUNABLE budget fields), as the leaderboard shows it: "adam lr=0.001"."""
        return tuning_label(self.budget.optimizer, self.budget.learning_rate)

    @property
    def setting(self) -> dict[str, Any]:
        """What a size sweep may vary (Suite.sweep): the model's fields but the remedy axes and the budget's but the
        tuned ones, as "model.FIELD" / "budget.FIELD" -> value."""
        model = {f"model.{k}": v for k, v in dataclasses.asdict(self.model).items() if k not in AXIS_NAMES}
        return {**model, **{f"budget.{k}": v for k, v in dataclasses.asdict(self.budget).items() if k not in TUNABLE}}

    def setting_label(self, fields: Iterable[str] = ()) -> str:
        """The task label with the values of `fields` (keys of `setting`: those a grid sweeps, swept_fields) as the
        leaderboard shows a swept setting: "adding(seq_len=100) [hidden_size=32]"; the task label without fields."""
        setting = self.setting
        shown = {name.split(".", 1)[1]: setting[name] for name in sorted(fields)}
        return f"{self.task_label} [{setting_tag(shown)}]" if shown else self.task_label

    @property
    def task_label(self) -> str:
        task = self.build_task()
        sizes = {f.name for f in dataclasses.fields(SyntheticSizes)}  # how much data, not which task (vocab_size is)
        shown = {k: v for k, v in task.params().items() if k not in sizes}
        return f"{self.task}(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"

    def to_dict(self) -> dict[str, Any]:
        task = self.build_task()
        d = {
            "task": {"name": self.task, "params": task.params(), "version": task.version},
            "model": dataclasses.asdict(self.model),
            "clip": self.clip,
            "lr": self.lr,
            "seed": self.seed,
            "budget": dataclasses.asdict(self.budget),
        }
        if plugins := self.plugins:
            d["plugins"] = plugins
        return d

    @property
    def plugins(self) -> dict[str, str]:
        """The source hash of each user's file (bench.plugins) whose cell, task, init or lr schedule this run uses,
        by "kind:name": part of the run id, so a run of an edited file never reuses the earlier source's result.
        Empty for rnnbench's own levels (their run ids are unchanged)."""
        used = ((TASKS, self.task), (CELLS, self.model.cell), (INITS, self.model.init), (LR_SCHEDULES, self.lr))
        return {f"{reg.kind}:{name}": origin for reg, name in used if (origin := reg.origin(name))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return cls(
            task=d["task"]["name"],
            task_params=d["task"]["params"],
            model=ModelConfig(**d["model"]),
            clip=d["clip"],
            lr=d["lr"],
            seed=d["seed"],
            budget=Budget(**d["budget"]),
        )

    @property
    def run_id(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
