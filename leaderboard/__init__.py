"""The leaderboard: result.json records -> pandas tables, plots and a static site.

    from rnnbench.leaderboard import build, load_results
    build(["results"], "site")          # leaderboard.md, tables/, plots/, index.html
    df = load_results(["results"])      # one row per run, flattened columns
"""

from rnnbench.leaderboard.collect import load_results
from rnnbench.leaderboard.site import build

__all__ = ["build", "load_results"]
