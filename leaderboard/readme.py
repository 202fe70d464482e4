"""Put the current leaderboard into a README, between two marker lines.

    rnnbench readme results [--claims DIR ...] [--readme README.md]

Replaces what stands between `<!-- leaderboard:start -->` and `<!-- leaderboard:end -->` with the
provenance, the findings and the overall table of the results in the given folders.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from rnnbench.bench.registry import ConfigError
from rnnbench.leaderboard.collect import load_results
from rnnbench.leaderboard.context import PageContext
from rnnbench.leaderboard.render import md_escape, render
from rnnbench.leaderboard.sections import load_claims, page_findings, page_provenance
from rnnbench.leaderboard.tables import SCORE_RULE

START, END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"


def short_commits(commits: str) -> str:
    """The provenance's "a, b-dirty" commits, each as its 7-character short hash (keeping -dirty)."""
    def short(commit: str) -> str:
        head = commit.removesuffix("-dirty")
        return head[:7] + commit[len(head):] if commit != "unknown" else commit

    return ", ".join(map(short, commits.split(", ")))


def section(results: list[Path], threshold: float = 0.9, claims: list[Path] = ()) -> str:
    df = load_results(results)
    if df.empty:
        raise ConfigError(f"no result records under {', '.join(map(str, results))}")
    context = PageContext(df, threshold, load_claims(results, claims))  # the page's tables (no section is made)
    found = page_findings(context)
    prov = page_provenance(df)
    count, _, statuses = prov["runs"].partition(" ")  # "125 (125 ok, 0 diverged, 0 failed)"
    lines = [f"Suite `{prov['suite']}`, {count} runs {statuses}, {prov['run dates']}, on {prov['device']}, "
             f"git {short_commits(prov['git commit'])}. Scores: {SCORE_RULE}.", ""]
    lines += [f"- {md_escape(s)}" for s in found]
    lines += ["", render(context.overall, "md")]
    return "\n".join(lines)


def update(readme: Path, text: str) -> None:
    if not readme.is_file():
        raise ConfigError(f"--readme {readme}: no such file")
    with open(readme, encoding="utf-8", newline="") as f:  # newline="": a CRLF file's other lines kept as they are
        content = f.read()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(content):
        raise ConfigError(f"{readme} has no {START} … {END} markers")
    readme.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", content), encoding="utf-8", newline="")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rnnbench readme", description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", type=Path, help="result folders")
    p.add_argument("--claims", nargs="+", type=Path, default=[], metavar="DIR",
                   help="folders of runs trained for the known results alone (as rnnbench leaderboard --claims)")
    p.add_argument("--readme", type=Path, default=Path("README.md"))
    args = p.parse_args(argv)
    try:
        update(args.readme, section(args.results, claims=args.claims))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"updated the leaderboard in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
