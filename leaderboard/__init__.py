"""The leaderboard: result.json records -> pandas tables, plots and a static site.

    from rnnbench.leaderboard import build, load_results
    build(["results"], "site")          # leaderboard.md, tables/, plots/, index.html
    df = load_results(["results"])      # one row per run, flattened columns

A section or a table format of your own (README: Extending rnnbench): SECTIONS.register(name) a function of the
shared PageContext that returns a Section (or several, or None); TABLE_FORMATS.register(extension) a function of a
Section that returns its file's text.
"""

from rnnbench.leaderboard.collect import load_results
from rnnbench.leaderboard.context import SECTIONS, PageContext, Section
from rnnbench.leaderboard.page import TABLE_FORMATS
from rnnbench.leaderboard.site import build

__all__ = ["SECTIONS", "TABLE_FORMATS", "PageContext", "Section", "build", "load_results"]
