"""Known results: do these results agree with what the literature reports for these tasks and remedies?

    python -m leaderboard.known results [more results ...]

Each claim (the "known results to agree with" of the project's design) is checked on every setting of its task
in the results within the lengths it is stated for, and gets a verdict with the numbers: `agrees`, `disagrees`, or
`unchecked` (a run it needs is missing or failed, or the setting gives it nothing to test: no unclipped run
diverged for clipping to prevent). Scores are seed means over the runs that finished, a diverged seed counting as
0 (it learned nothing usable: the memoryless baseline's score), so one surviving seed of three does not "solve" a
task; failed runs are no result and left out. A disagreement is a finding to read, not an error of the suite: the
literature trained longer than a suite's budget may (Le et al. 2015 ran the adding problem for 10^5-10^6 steps),
so a claim that fails under one budget and holds under a larger one says the budget is what decided it.
Exit status 1 where a claim disagrees, else 0.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.axes import AXIS_NAMES, BASELINE_LEVELS
from bench.registry import ConfigError
from leaderboard.collect import load_results
from leaderboard.tables import AT_BASELINE, LENGTH_PARAMS, _num, remedy_levels, seed_score

SOLVED = 0.9  # a mean score at or above this solves a task (the findings' threshold)
SCORE, PROBE, DIVERGED = "normalized_score", "grad.probe.start.log10_ratio", "diverged"
MEASURES = {SCORE: "score", PROBE: "log10 ratio", DIVERGED: "diverged"}  # what a claim reads, in words


@dataclass(frozen=True)
class Subject:
    """The runs a claim speaks of: these remedy levels, every other axis at its baseline level except those named in
    `free` (any level). Where several combos match, the best seed mean counts (e.g. the IRNN with any clipping)."""

    name: str
    levels: dict[str, str]
    free: tuple[str, ...] = ()

    def matches(self, levels: pd.DataFrame) -> pd.Series:
        want = {**BASELINE_LEVELS, **self.levels}
        return pd.concat([levels[a] == want[a] for a in AXIS_NAMES if a not in self.free], axis=1).all(axis=1)


TANH_RNN = Subject("tanh RNN", {})
LSTM, GRU = Subject("LSTM", {"cell": "lstm"}), Subject("GRU", {"cell": "gru"})
IRNN = Subject("IRNN", {"activation": "relu", "init": "identity"}, free=("clip",))
UNCLIPPED_IRNN, CLIPPED_IRNN = (Subject(f"{name} IRNN", {"activation": "relu", "init": "identity", "clip": clip})
                                for name, clip in (("unclipped", "none"), ("norm-clipped", "norm")))
ORTHOGONAL_RNN = Subject("orthogonal RNN", {"init": "orthogonal"}, free=("activation", "clip"))


@dataclass(frozen=True)
class Claim:
    """What the literature reports for `task` at lengths from `min_length` to `max_length`: `holds` tells, from the
    subjects' values of `measure`, whether a setting agrees (None: the claim does not apply to it, e.g. nothing diverged for
    clipping to prevent); `expects` says in words what it checks."""

    key: str
    says: str  # the claim and its sources
    task: str
    min_length: int
    subjects: tuple[Subject, ...]
    holds: Callable[[dict[str, float]], bool | None]
    expects: str
    sources: tuple[str, ...] = ()
    measure: str = SCORE  # a record column (MEASURES)
    max_length: int | None = None  # None: no upper length (longer only gets harder for the claim's subject)

    def covers(self, length: int) -> bool:
        return self.min_length <= length and (self.max_length is None or length <= self.max_length)

    @property
    def lengths(self) -> str:
        return f"T ≥ {self.min_length}" if self.max_length is None else f"T = {self.min_length}-{self.max_length}"


CLAIMS: tuple[Claim, ...] = (
    Claim("gradient-vanishes-at-init", "at initialisation the gradient reaching h_1 of a tanh RNN, and of LSTM and "
          "GRU at their default gate biases, is below 1e-10 of the one reaching h_T at T ≥ 100, while an IRNN's stays "
          "within two orders of magnitude", "adding", 100, (TANH_RNN, LSTM, GRU, IRNN),
          lambda s: max(s["tanh RNN"], s["LSTM"], s["GRU"]) < -10 < -2 < s["IRNN"],
          "log10 ratio < -10 for the tanh RNN, LSTM and GRU, > -2 for the IRNN",
          ("Hochreiter 1991 and Bengio et al. 1994 (tanh RNN)", "Jozefowicz et al. 2015 and Tallec & Ollivier 2018 "
           "(gated cells forget at default gate biases)", "Le et al. 2015 (IRNN)"), measure=PROBE),
    Claim("tanh-rnn-fails-adding", "a tanh RNN does not learn the adding problem at T ≥ 150: it stays at the "
          "memoryless baseline", "adding", 150, (TANH_RNN,), lambda s: s["tanh RNN"] <= AT_BASELINE,
          f"tanh RNN score ≤ {AT_BASELINE:g}", ("Hochreiter & Schmidhuber 1997", "Le et al. 2015")),
    Claim("gated-cells-solve-adding", "LSTM and GRU solve the adding problem at T = 150-200 (at longer T the evidence "
          "splits: Bai et al. 2018 report the LSTM at the baseline at T = 600, the GRU solving it)", "adding", 150,
          (LSTM, GRU), lambda s: min(s.values()) >= SOLVED, f"LSTM and GRU scores ≥ {SOLVED:g}",
          ("Hochreiter & Schmidhuber 1997", "Le et al. 2015", "Arjovsky et al. 2016"), max_length=200),
    Claim("irnn-solves-adding", "an identity-initialised ReLU RNN (IRNN) solves the adding problem at T = 150-200, "
          "where the tanh RNN fails", "adding", 150, (IRNN, TANH_RNN),
          lambda s: s["IRNN"] >= SOLVED and s["IRNN"] > s["tanh RNN"], f"IRNN score ≥ {SOLVED:g} (any clipping)",
          ("Le et al. 2015",), max_length=200),
    Claim("clipping-stops-divergence", "gradient norm clipping keeps a ReLU RNN with identity recurrence from "
          "diverging where it diverges unclipped", "adding", 100, (UNCLIPPED_IRNN, CLIPPED_IRNN),
          lambda s: s["norm-clipped IRNN"] < s["unclipped IRNN"] if s["unclipped IRNN"] > 0 else None,
          "fewer norm-clipped than unclipped runs diverge (where unclipped ones do)",
          ("Pascanu et al. 2013",), measure=DIVERGED),
    Claim("gated-cells-at-copy-baseline", "on the copy task at long delays (T ≥ 500) LSTM and GRU sit at the "
          "memoryless baseline while an orthogonally initialised RNN does better", "copy", 500,
          (LSTM, GRU, ORTHOGONAL_RNN),
          lambda s: max(s["LSTM"], s["GRU"]) <= AT_BASELINE < s["orthogonal RNN"],
          f"LSTM and GRU scores ≤ {AT_BASELINE:g} < the orthogonal RNN's (any activation and clipping)",
          ("Arjovsky et al. 2016", "Henaff et al. 2016", "Bai et al. 2018")),
)


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    setting: str | None  # the task label, None where the results hold no setting the claim applies to
    verdict: str  # agrees | disagrees | unchecked
    evidence: str


def _length(params: dict) -> int | None:
    lengths = [params[p] for p in LENGTH_PARAMS if p in params and pd.notna(params[p])]
    return int(lengths[0]) if lengths else None


def _runs(n: int) -> str:
    return f"{n} run{'s' * (n != 1)}"


def _measure(runs: pd.DataFrame, measure: str) -> tuple[float | None, str]:
    """A subject's value (the best of its combos' seed means; None where it has none) and how it came about.
    The score: seed means over the runs that finished, a diverged one counting as 0; failed runs left out (a combo
    whose every run failed leaves the subject unknown: it might have been the best). The
    fraction that diverged counts the runs that finished; the probe at initialisation (taken before training) every
    run that has it."""
    finished = runs[runs["status"] != "failed"]  # failed runs are no result
    failed = len(runs) - len(finished)
    if finished.empty:
        return None, f"({_runs(failed)}, all failed)" if failed else "(no run)"
    if measure == DIVERGED:
        lost = int((finished["status"] == "diverged").sum())
        return lost / len(finished), f"diverged {lost}/{len(finished)}" + (f", {failed} failed left out" if failed else "")
    if measure != SCORE:
        values = pd.to_numeric(runs.get(measure, pd.Series(index=runs.index, dtype=float)), errors="coerce")
        means = values.groupby(runs["combo"]).mean().dropna()
        if means.empty:
            return None, f"(no {MEASURES[measure]} in its {_runs(len(runs))})"
        n = int(values[runs["combo"] == means.idxmax()].notna().sum())
        return float(means.max()), f"{MEASURES[measure]} {_num(means.max())} ({_runs(n)})"
    lost = sorted(set(runs["combo"]) - set(finished["combo"]))
    if lost:  # a combo of the subject without a result: its best is unknown
        return None, f"({lost[0]}: its {_runs(int((runs['combo'] == lost[0]).sum()))} all failed)"
    scores = seed_score(finished)  # a diverged seed scores 0, as on the whole page
    means = scores.groupby(finished["combo"]).mean()
    unknown = finished[(finished["status"] == "ok") & finished[SCORE].isna()]["combo"].unique()
    means = means.drop(index=unknown).dropna()  # a combo with a scoreless ok run: its mean is not known
    if means.empty:
        return None, f"(no score in its {_runs(len(runs))}: {len(unknown)} scoreless, {failed} failed)"
    best = runs[runs["combo"] == means.idxmax()]
    counts = {k: int(v) for k, v in best["status"].value_counts().items()}
    said = [f"{counts.get('ok', 0)} ok seed{'s' * (counts.get('ok', 0) != 1)}"]
    said += [f"{counts['diverged']} diverged (counted as 0)"] if counts.get("diverged") else []
    said += [f"{counts['failed']} failed"] if counts.get("failed") else []
    others = failed - counts.get("failed", 0)
    said += [f"{others} failed in its other combos"] if others else []
    return float(means.max()), f"{_num(means.max())} ({', '.join(said)})"


def check(df: pd.DataFrame, claims: tuple[Claim, ...] = CLAIMS) -> list[Verdict]:
    """Every claim's verdict on every setting of its task at or above its length (one `unchecked` where none)."""
    levels = pd.DataFrame(remedy_levels(df))
    params = [c for c in df.columns if c.startswith("config.task.params.")]
    out = []
    for claim in claims:
        rows = df[df["task"] == claim.task]
        settings = {label: _length({c.rsplit(".", 1)[1]: v for c, v in group[params].iloc[0].items()})
                    for label, group in rows.groupby("task_label")}
        applies = [label for label, length in settings.items() if length is not None and claim.covers(length)]
        if not applies:
            tested = ", ".join(sorted(settings)) or "none"
            out.append(Verdict(claim, None, "unchecked", f"no {claim.task} setting at {claim.lengths} in these "
                                                         f"results (tested: {tested})"))
            continue
        for label in applies:
            at = df["task_label"] == label
            scores, evidence = {}, []
            for subject in claim.subjects:
                value, said = _measure(df[at & subject.matches(levels)], claim.measure)
                if value is not None:
                    scores[subject.name] = value
                evidence.append(f"{subject.name} {said}")
            holds = claim.holds(scores) if len(scores) == len(claim.subjects) else None
            verdict = "unchecked" if holds is None else "agrees" if holds else "disagrees"
            out.append(Verdict(claim, label, verdict, f"{label}: " + ", ".join(evidence)))
    return out


def table(verdicts: list[Verdict]) -> pd.DataFrame:
    """The verdicts as a leaderboard table: one row per claim and setting."""
    return pd.DataFrame([{"verdict": v.verdict, "claim": f"{v.claim.says} ({'; '.join(v.claim.sources)})",
                          "expects": v.claim.expects, "evidence": v.evidence} for v in verdicts],
                        columns=["verdict", "claim", "expects", "evidence"])


def finding(verdicts: list[Verdict]) -> str | None:
    """One sentence for the leaderboard's findings: how many checks agree, and each claim that disagrees somewhere
    (once, with its first such setting's numbers and how many more settings)."""
    checked = [v for v in verdicts if v.verdict != "unchecked"]
    if not checked:
        return None
    against: dict[str, list[Verdict]] = {}
    for v in checked:
        if v.verdict == "disagrees":
            against.setdefault(v.claim.key, []).append(v)
    said = [f"{vs[0].claim.says} ({vs[0].evidence}" + (f"; and {len(vs) - 1} more setting{'s' * (len(vs) > 2)}" if len(vs) > 1 else "")
            + ")" for vs in against.values()]
    agree = sum(v.verdict == "agrees" for v in checked)
    return (f"Known results (the literature's claims, checked where these results reach them): {agree} of "
            f"{len(checked)} checks agree" + (f"; disagree: {'; '.join(said)}" if said else "") + ".")


def report(verdicts: list[Verdict]) -> str:
    lines = []
    for v in verdicts:
        c = v.claim
        lines.append(f"{v.verdict:<9}  {c.says} ({'; '.join(c.sources)})")
        lines.append(f"           expects {c.expects}; {v.evidence}")
    counts = pd.Series([v.verdict for v in verdicts]).value_counts()
    lines.append(", ".join(f"{counts.get(k, 0)} {k}" for k in ("agrees", "disagrees", "unchecked"))
                 + " (normalized score: 1 perfect, 0 the memoryless baseline; seed means, a diverged seed as 0)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboard.known", description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", type=Path, help="result folders")
    args = p.parse_args(argv)
    try:
        for folder in args.results:
            if not folder.is_dir():
                raise ConfigError(f"{folder}: no such folder")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the leaderboard says what it leaves out; here only the verdicts
            df = load_results(args.results)
        if df.empty:
            raise ConfigError(f"no result records under {', '.join(map(str, args.results))}")
    except ConfigError as err:
        print(f"python -m leaderboard.known: error: {err}", file=sys.stderr)
        return 2
    verdicts = check(df)
    print(report(verdicts))
    return 1 if any(v.verdict == "disagrees" for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
