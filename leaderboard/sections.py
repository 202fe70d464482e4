"""What the leaderboard says: rnnbench's own sections, registered in leaderboard.context.SECTIONS in the page's
order (overall, one per task, remedy effects and interactions, known results, the length frontier, failed runs: a
table each, with its note and plot), the page's sections (page_sections: every registered one, a user's after
rnnbench's own), the findings, and the provenance, from the records' table (leaderboard.collect.load_results). How
they are written out: leaderboard.page and leaderboard.site."""

from __future__ import annotations

import datetime as dt
import functools
import re
import warnings
from pathlib import Path
from typing import Iterable

import pandas as pd

from rnnbench.bench.registry import ConfigError
from rnnbench.leaderboard.collect import load_results
from rnnbench.leaderboard.context import (SECTIONS, PageContext, Section, error_text, failure_table,  # noqa: F401
                                          own_registrations)  # (error_text, failure_table: also read from here)
from rnnbench.leaderboard.findings import findings
from rnnbench.leaderboard.plots import effects_plot, learning_curves
from rnnbench.leaderboard.render import CI_LEVEL, number_text
from rnnbench.leaderboard.tables import EFFECT_ESTIMAND, EFFECT_INTERVAL, SCORE_RULE, frontier

INTERACTIONS_SHOWN = 10  # the largest interactions on the page, chosen after every one's interval and adjustment


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "task"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def failure_finding(failures: pd.DataFrame) -> str | None:
    """One sentence on the failed runs (failure_table): how many, with how many distinct errors."""
    if failures.empty:
        return None
    n, kinds = int(failures["runs"].sum()), len(failures)
    return (f"{n} run{'s' * (n != 1)} failed with {kinds} distinct error{'s' * (kinds != 1)} "
            f"(the most frequent hit {int(failures['runs'].iloc[0])}); see Failed runs.")


def page_provenance(df: pd.DataFrame) -> dict[str, str]:
    """What produced these results, read from the records themselves."""
    def values(col: str) -> str:
        def text(v) -> str:  # a whole number as one (a column with gaps reads as floats: task_version 1.0)
            return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

        return ", ".join(sorted(map(text, df[col].dropna().unique()))) if col in df else "unknown"

    created = df["created"].dropna()
    span = f"{created.min():%Y-%m-%d %H:%M} – {created.max():%Y-%m-%d %H:%M} UTC" if len(created) else "unknown"
    versions = " · ".join(f"{c.removeprefix('versions.')} {values(c)}"
                          for c in sorted(df.columns) if c.startswith("versions."))
    counts = df["status"].value_counts()
    return {
        "suite": values("suite"),
        "runs": f"{len(df)} ({', '.join(f'{counts.get(s, 0)} {s}' for s in ('ok', 'diverged', 'failed'))})",
        "run dates": span,
        "built": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "versions": versions or "unknown",
        "git commit": values("git_commit"),
        "device": values("device"),
    }


def tuning_note(tuned: pd.DataFrame, every_run: int) -> str:
    """What the tuning protocol did, in a sentence: how many settings each combination tried and the runs it cost
    (empty where every combination trained one setting)."""
    if tuned.empty or tuned["tuning_settings"].max() <= 1:
        return ""
    counts = sorted(tuned["tuning_settings"].unique())
    settings = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return (f" Tuning: each combination on each task is shown at its best of {settings} optimizer settings (optimizer "
            "and learning rate; the 'tuning' column), the one with the highest mean over seeds of the bounded "
            "validation score (the best checkpoint's; a diverged run without one counts 0; test metrics never choose; "
            f"ties to the first in optimizer, rate order): {len(tuned)} of the {every_run} runs are the chosen "
            "settings' (the tuning cost the rest).")


def overall(ctx: PageContext) -> Section:
    return Section("overall", "Overall", "Per combo: its mean score, the mean over tasks (equal weight per task) of its "
                   "score on each, the mean over its seeds of the bounded score (scoring rule: "
                   f"{SCORE_RULE}; a task where every run failed is left out, counted in 'tasks scored'); its "
                   "mean rank over tasks; and its diverged/failed runs out of all runs."
                   + tuning_note(ctx.tuned, len(ctx.records)), ctx.overall)


def per_task(ctx: PageContext) -> list[Section]:
    """One section per task, in task_table's natural order, with its learning curves."""
    from rnnbench.tasks import METRICS  # what each metric is (tasks imports torch: here, not when the package loads)

    df, sections, taken = ctx.tuned, [], set()
    for label, t in ctx.tasks.groupby("task_label", sort=False):
        metric, higher = t["metric"].dropna(), t["higher_is_better"].dropna()
        direction = "" if higher.empty else (", higher is better" if higher.iloc[0] else ", lower is better")
        name = metric.iloc[0] if len(metric) else None
        info = METRICS.get(name)
        about = f" ({info.description})" if info and info.description else ""
        base = df.loc[df["task_label"] == label, f"baseline.{name}"].dropna() if f"baseline.{name}" in df else []
        memoryless = f"; the memoryless baseline scores {number_text(base.iloc[0])} (score 0)" if len(base) else ""
        top = df.loc[df["task_label"] == label, f"reference.{name}"].dropna() if f"reference.{name}" in df else []
        if len(top) and info and top.iloc[0] != info.perfect:  # a reference a model can reach, not the perfect value
            memoryless += f", the task's reference {number_text(top.iloc[0])} (score 1)"
        note = (f"Test {name or 'metric'}{about} of the best checkpoint (the best validated {name or 'metric'})"
                f"{direction}{memoryless}: mean ± sample std (ddof=1) over ok seeds, raw. Score: the mean over "
                f"seeds of the bounded score (scoring rule: {SCORE_RULE}). Last-step score: the mean over ok seeds "
                "of the last weights' score, bounded alike (beside the best checkpoint's: what early stopping on "
                "validation adds). Steps to best: mean over ok seeds of the best checkpoint's step. Recurrent "
                "params: the recurrent layers' parameter count (a suite's param_budget matches it across cells and "
                "skips). Diverged and failed runs are counted out of all seeds; combos without a score (every run "
                "failed) rank last, and where no combo has one the task ranks none.")
        slug = _slug(label, taken)
        sections.append(Section(f"task-{slug}", label, note, t.drop(columns="task_label"), plot=f"curves-{slug}",
                                draw=functools.partial(learning_curves, df, label), alt=f"learning curves, {label}"))
    return sections


ALPHA = f"{1 - CI_LEVEL:.2g}"  # the verdicts' level


def effects(ctx: PageContext) -> Section:
    return Section("effects", "Remedy effects", "Per axis level, against the axis's baseline level. Runs are "
                   "matched on the task, the levels of every other axis (the context) and the seed (matched "
                   "seeds share their data); a pair's difference is in bounded score (scoring rule: "
                   f"{SCORE_RULE}). Mean Δ score: the {EFFECT_ESTIMAND}. Its interval: the {EFFECT_INTERVAL}"
                   "; the task is the cluster (a task random effect by the summary-statistics method). Where "
                   "measured: the contexts with a scored pair, out of those where the baseline level ran; "
                   "an effect measured at one context is the effect at that context (one factor moved at a "
                   "time), not a main effect over the grid. Holm p: the two-sided t-test's p-value against "
                   f"no effect, Holm-adjusted across the {int(ctx.effects['p'].notna().sum())} levels with one; "
                   f"verdict: helps or hurts where it is below {ALPHA}, else unclear (the interval is not "
                   "adjusted, so it may exclude 0 where the verdict is unclear). Pairs: matched run pairs "
                   "scored on both sides; better in / worse in: those where the level scored higher / "
                   "lower; unscored: pairs with a failed run, left out; both diverged: pairs whose runs "
                   "both diverged before any validation, each scored 0, which enter as a difference of 0 "
                   "(leaving pairs out by their outcome would change what is estimated).", ctx.effects,
                   plot="effects", draw=functools.partial(effects_plot, ctx.effects, ctx.effects_by_task),
                   alt=f"each remedy level's pooled effect with its {CI_LEVEL:.0%} interval, and its effect "
                   "on each task")


def effects_per_task(ctx: PageContext) -> Section:
    by_task = ctx.effects_by_task
    return Section("effects-by-task", "Remedy effects per task", "Per axis level and task: the mean over "
                   "seeds of each seed's difference in bounded score to the baseline level, averaged over the "
                   "contexts at which both levels ran with that seed (equal weight per context; 'contexts' "
                   f"counts them), with its {CI_LEVEL:.0%} t-interval over seeds (df = seeds - 1), which "
                   "covers the level's mean effect on this task over the training's randomness at those "
                   "contexts; none with one seed. Holm p: adjusted across the "
                   f"{int(by_task['p'].notna().sum())} rows with a p-value; verdict as in Remedy effects.",
                   by_task, markdown=False)


def largest_interactions(ctx: PageContext) -> Section:
    every_interaction = ctx.interactions
    shown = every_interaction.head(INTERACTIONS_SHOWN)
    return Section("interactions", "Interactions", "How much level A's effect (against A's baseline) changes "
                   "when level B replaces B's baseline: per matched quadruple (task, the other axes' levels, "
                   "seed) [s(a,b) - s(a0,b)] - [s(a,b0) - s(a0,b0)] in bounded score, estimated like the "
                   f"remedy effects ({EFFECT_ESTIMAND}; {EFFECT_INTERVAL}). All "
                   f"{len(every_interaction)} interactions were estimated and Holm-adjusted together "
                   f"(verdict: positive or negative where Holm p is below {ALPHA}); the {len(shown)} largest by "
                   "size are shown, chosen after (every one: tables/interactions-all.csv).", shown,
                   every_row=every_interaction, markdown=False)


def known_results(ctx: PageContext) -> Section:
    from rnnbench.leaderboard.known import INTERVALS, VERDICTS, table  # (known is an -m entry point)

    every_run, claims = ctx.records, ctx.claims
    extra = "" if claims is None else (f" and on {len(claims) - len(every_run)} runs trained for the claims alone "
                                       f"(suites {', '.join(sorted(set(claims['suite']) - set(every_run['suite'])))}: "
                                       "not ranked above)")
    return Section("known", "Known results", "What the literature reports for these tasks and remedies, "
                   f"checked on every setting of the results{extra} within the lengths it is stated for "
                   "(leaderboard.known; scores are seed means of the bounded score; a disagreement may be "
                   "the budget's: the literature often trained far longer). "
                   + "; ".join(f"{k}: {v}" for k, v in VERDICTS.items()) + f". {INTERVALS}.", table(ctx.verdicts))


def length_frontier(ctx: PageContext) -> Section | None:
    front = frontier(ctx.tuned, ctx.threshold)
    if len(front.columns) <= 1:  # no task with a length parameter
        return None
    return Section("frontier", "Length frontier", f"Longest tested length at which the combo's mean score reaches "
                   f"{ctx.threshold:g} (— : at none of the tested lengths).", front, markdown=False)


def failed_runs(ctx: PageContext) -> Section | None:
    if not len(ctx.failures):
        return None
    return Section("failed", "Failed runs", "Runs that ended without a result, grouped by their error (whitespace "
                   "collapsed): how many runs each error hit and one of them (its task, combination and run id; its "
                   "record is runs/<run id>/result.json).", ctx.failures)


with own_registrations():  # rnnbench's own, in the page's order
    SECTIONS.register("overall")(overall)
    SECTIONS.register("tasks")(per_task)
    SECTIONS.register("effects")(effects)
    SECTIONS.register("effects-by-task")(effects_per_task)
    SECTIONS.register("interactions")(largest_interactions)
    SECTIONS.register("known")(known_results)
    SECTIONS.register("frontier")(length_frontier)
    SECTIONS.register("failed")(failed_runs)

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # a section's key: a file stem and an HTML id


def _made(name: str, make, ctx: PageContext) -> list[Section]:
    """What section `name` makes, as a list; a user's section (one with an origin) that fails, or makes something
    other than Sections, is refused in one line."""
    try:
        made = make(ctx)
    except ConfigError:
        raise
    except Exception as err:
        if SECTIONS.origin(name) is None:  # rnnbench's own: a bug, with its traceback
            raise
        raise ConfigError(f"leaderboard section {name!r}: {type(err).__name__}: {err}".splitlines()[0]) from None
    made = [] if made is None else [made] if isinstance(made, Section) else list(made)
    for s in made:
        if not isinstance(s, Section):
            raise ConfigError(f"leaderboard section {name!r} made a {type(s).__name__}, not a Section")
        if not KEY.fullmatch(s.key):
            raise ConfigError(f"leaderboard section {name!r}: key {s.key!r} must be letters, digits, - and _ (it "
                              "names the table's files)")
    return made


def page_sections(df: pd.DataFrame, threshold: float,
                  claims: pd.DataFrame | None = None) -> tuple[list[Section], pd.DataFrame, list[str]]:
    """The page's sections: those every registered maker (SECTIONS, in order: the overall table first) makes from
    one shared PageContext; the task table (every task's rows); and the findings. `df` holds every run; each
    combination is shown at its tuned setting (select_tuned) but in the known results, which choose within each
    claim's optimizer (leaderboard.known). `claims`: the runs the known results are checked on where more than `df`
    (`df`'s and those of small suites trained for the claims alone, e.g. known, known_sgd, known_copy: they are
    neither ranked nor in the effects, where their few combinations would stand beside a full grid). Two sections
    with one key, or one plot, are refused in one line: their files would overwrite each other."""
    ctx = PageContext(df, threshold, claims)
    sections: list[Section] = []
    tables = {"tasks": "the task table"}  # tables/<stem>.*, plots/<stem>.png: who writes each
    plots = {"heatmap": "the heat map", "gradient_flow": "the gradient flow plot"}
    for name in SECTIONS:
        for s in _made(name, SECTIONS.get(name), ctx):
            for files, stem in ((tables, s.key), (tables, f"{s.key}-all" if s.every_row is not None else None),
                                (plots, s.plot)):
                if stem in files:
                    raise ConfigError(f"leaderboard section {name!r}: {stem!r} is taken by {files[stem]}; each "
                                      "section's key and plot name its files, and must differ from the others'")
                if stem:
                    files[stem] = f"section {name!r}"
            sections.append(s)
    return sections, ctx.tasks, page_findings(ctx)


def page_findings(ctx: PageContext) -> list[str]:
    """The findings' sentences: the tables' (leaderboard.findings), the failed runs' and the known results'."""
    from rnnbench.leaderboard.known import finding as known_finding  # (known is an -m entry point)

    found = findings(ctx.tasks, ctx.overall, ctx.threshold, ctx.effects)
    return found + [s for s in (failure_finding(ctx.failures), known_finding(ctx.verdicts)) if s]


def load_claims(results_dirs: Iterable[str | Path], claims_dirs: Iterable[str | Path]) -> pd.DataFrame | None:
    """The runs the known results are checked on: the results' and the claims folders' (None without claims
    folders: the results' alone). Raises ConfigError where a claims folder holds no record. The claims suites train
    one task at several budgets by design (known and known_sgd: adding(seq_len=150) under Adam and under SGD), each
    shown apart by the known results: the warning that a task's runs come in several settings is not raised for
    them; every other warning of the reading is."""
    claims_dirs = list(claims_dirs)
    if not claims_dirs:
        return None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*: runs of \d+ settings", category=UserWarning)
        if load_results(claims_dirs).empty:
            raise ConfigError(f"no result records found under --claims {', '.join(map(str, claims_dirs))}")
        return load_results([*results_dirs, *claims_dirs])
