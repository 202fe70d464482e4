"""`rnnbench list` and `rnnbench show`: what exists (tasks, remedy axes and levels, suites) and what a suite
resolves to, without training."""

from __future__ import annotations


def cmd_list(args) -> int:
    import dataclasses

    from rnnbench.bench.config import AXES, BASELINE_LEVELS
    from rnnbench.bench.suite import SUITES_DIR
    from rnnbench.tasks import TASKS

    print("tasks (parameters with defaults):")
    for name, cls in TASKS.items():
        params = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(cls))
        print(f"  {name:<16} {params}")
    print("remedy axes (levels; * = the baseline level effects are measured against):")
    for axis, levels in AXES.items():
        shown = " ".join(f"{lv}*" if lv == BASELINE_LEVELS[axis] else lv for lv in levels)
        print(f"  {axis:<12} {shown}")
    print("suites:")
    for path in sorted(SUITES_DIR.glob("*.yaml")):
        first = next((ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")
        print(f"  {path.stem:<10} {first}")
    return 0


def cmd_show(args) -> int:
    import dataclasses

    import yaml

    from rnnbench.bench.axes import AXIS_NAMES, TUNABLE
    from rnnbench.bench.grid import GRID_LIMIT, expand, grid_size
    from rnnbench.bench.suite import load_suite
    from rnnbench.models import ModelConfig

    suite = load_suite(args.suite, args.overrides)
    swept = {where: {k.split(".", 1)[1]: v for k, v in suite.sweep.items() if k.startswith(f"{where}.")}
             for where in ("model", "budget")}  # a size sweep's fields with their lists of values
    model = {k: v for k, v in {**dataclasses.asdict(ModelConfig()), **suite.model, **swept["model"]}.items()
             if k not in AXIS_NAMES}
    tune = [{k: getattr(b, k) for k in TUNABLE} for b in suite.budgets()]  # every setting, the budget's one included
    budget = {k: v for k, v in {**dataclasses.asdict(suite.budget), **swept["budget"]}.items() if k not in TUNABLE}
    resolved = {"name": suite.name, "tasks": suite.tasks, "axes": suite.grids, "tune": tune, "seeds": suite.seeds,
                "model": model, "budget": budget}
    print(yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None).rstrip())
    size = grid_size(suite)
    runs = len(expand(suite)) if size <= GRID_LIMIT else size
    print(f"# {runs} runs")
    return 0
