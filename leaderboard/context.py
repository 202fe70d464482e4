"""The leaderboard's sections as a registry: a Section (a table with its note and plot), SECTIONS (name -> the
function that makes a name's section(s) from the shared PageContext, in the page's order: rnnbench's own first
(leaderboard.sections), then those of a user's files (`rnnbench leaderboard --include FILE`)), and PageContext (the
records and the tables every section may read, each computed once)."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Union

import pandas as pd
from matplotlib.figure import Figure

from rnnbench.bench.registry import ORIGIN, Registry
from rnnbench.leaderboard.effects import effects_by_task, interactions, remedy_effects
from rnnbench.leaderboard.tables import overall_table, select_tuned, task_table, with_levels


@dataclass
class Section:
    key: str  # file stem and HTML id
    title: str
    note: str
    table: pd.DataFrame
    plot: str | None = None  # key of a plot shown under the table (plots/<key>.png)
    draw: Callable[[], Figure | None] | None = None  # the plot (None: nothing to draw, not shown)
    alt: str = ""  # its alternative text on the page
    every_row: pd.DataFrame | None = None  # where the page shows a selection: the whole family, as tables/<key>-all.csv
    markdown: bool = True  # also in leaderboard.md (else on index.html and in tables/ alone)


# A section's maker: the shared context -> its section, several (one per task), or None (nothing to show).
SectionMaker = Callable[["PageContext"], Union[Section, Iterable[Section], None]]
SECTIONS: Registry[SectionMaker] = Registry("leaderboard section")


@contextlib.contextmanager
def own_registrations() -> Iterator[None]:
    """Registrations made inside are rnnbench's own (no origin), also where the module making them is first imported
    by a user's file being loaded (bench.plugins), whose source hash would otherwise be recorded as theirs."""
    outer = ORIGIN[:]
    ORIGIN.clear()
    try:
        yield
    finally:
        ORIGIN[:] = outer


def error_text(error) -> str:
    """A run's error on one line (whitespace collapsed), the text failed runs are grouped by."""
    return " ".join(str(error).split()) if isinstance(error, str) and error.strip() else "(no error recorded)"


def failure_table(df: pd.DataFrame) -> pd.DataFrame:
    """The failed runs grouped by their error: how many runs it hit, the error, and one run it hit (its task, its
    combination's label and run id), most frequent first. Empty where no run failed."""
    failed = df[df["status"] == "failed"]
    columns = ["runs", "error", "task_label", "label", "run_id"]
    if failed.empty:
        return pd.DataFrame(columns=columns)
    failed = failed.assign(error=failed.get("error", pd.Series(None, index=failed.index)).map(error_text),
                           label=with_levels(failed[["combo"]], df)["label"].to_numpy())
    failed = failed.sort_values(["task_label", "label", "run_id"], kind="stable")
    table = failed.groupby("error", sort=False).agg(runs=("run_id", "size"), task_label=("task_label", "first"),
                                                    label=("label", "first"), run_id=("run_id", "first"))
    return table.reset_index().sort_values("runs", ascending=False, kind="stable", ignore_index=True)[columns]


@dataclass
class PageContext:
    """What every section reads: the records (one row per run, leaderboard.collect.load_results), the solved
    threshold, the claims' runs, and the tables made from them, each computed once, when first read."""

    records: pd.DataFrame  # every run (every tuning setting, failed runs too)
    threshold: float  # the score that counts as solved (the length frontier, the findings)
    claims: pd.DataFrame | None = None  # the runs the known results are checked on where more than `records`

    @functools.cached_property
    def tuned(self) -> pd.DataFrame:
        """The runs of each combination's tuned setting (tables.select_tuned): what is ranked and compared."""
        return select_tuned(self.records)

    @functools.cached_property
    def tasks(self) -> pd.DataFrame:
        """One row per task and combination (tables.task_table), every task's rows."""
        return task_table(self.tuned)

    @functools.cached_property
    def overall(self) -> pd.DataFrame:
        return overall_table(self.tuned)

    @functools.cached_property
    def effects(self) -> pd.DataFrame:
        return remedy_effects(self.tuned)

    @functools.cached_property
    def effects_by_task(self) -> pd.DataFrame:
        return effects_by_task(self.tuned)

    @functools.cached_property
    def interactions(self) -> pd.DataFrame:
        """Every interaction, largest first (the page shows the first few)."""
        return interactions(self.tuned)

    @functools.cached_property
    def verdicts(self) -> pd.DataFrame:
        """The known results checked (leaderboard.known) on every run, the claims' runs included; each combination
        within each claim's optimizer, not at its tuned setting."""
        from rnnbench.leaderboard.known import check  # (known is an -m entry point: imported when used)

        return check(self.records if self.claims is None else self.claims)

    @functools.cached_property
    def failures(self) -> pd.DataFrame:
        return failure_table(self.records)
