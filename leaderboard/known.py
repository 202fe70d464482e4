"""Known results: do these results agree with what the literature reports for these tasks and remedies?

    rnnbench known results [more results ...]

Each claim is checked on every setting of its task in the results within the lengths it is stated for, on the runs
its sources speak of: one remedy combination per subject (like against like), trained as its sources trained it where
their result depends on it (the IRNN and clipping claims: SGD, one layer). Where a suite tuned the optimizer, each
subject is read at its best setting among those it may use, chosen on validation (tables.select_tuned), except where
a claim compares its subjects at one setting (clipping: clipped against unclipped at the same learning rate). A claim
is a few bounds on its subjects' values, and each value comes with its 95% interval over seeds (INTERVALS), so a
verdict says how sure it is (VERDICTS): `agrees`, `disagrees`, `inconclusive` or `unchecked`. An inconclusive
verdict is not a disagreement: more seeds would decide it. A disagreement is a finding to read, not an error of
the suite: the literature trained longer than a suite's budget may (Le et al. 2015 ran the adding problem for
10^5-10^6 steps), so a claim that fails under one budget and holds under a larger one says the budget is what
decided it. One check is an implementation check, not a literature finding: the gradient vanishing at
initialisation follows from PyTorch's default initialisation, so it tests that the probe measures what it says.
Exit status 1 where a claim disagrees (an inconclusive or unchecked one does not), 2 on bad input, else 0.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rnnbench.bench.registry import ConfigError, one_line_warnings
from rnnbench.leaderboard.claims import (CLAIMS, DIVERGED, HIDDEN_SIZE, MEASURES, NUM_LAYERS, PROBE, SCORE, Bound,
                                         Claim, Subject)
from rnnbench.leaderboard.collect import load_results
from rnnbench.leaderboard.tables import SCORE_RULE, remedy_levels, seed_score, select_tuned
from rnnbench.leaderboard.effects import mean_ci, wilson
from rnnbench.leaderboard.render import CI_LEVEL, number_text

VERDICTS = {
    "agrees": f"every bound of the claim holds with its subject's {CI_LEVEL:.0%} interval on the claim's side of the "
              "threshold",
    "disagrees": f"some bound fails with its subject's {CI_LEVEL:.0%} interval on the other side of the threshold",
    "inconclusive": "no bound fails, but an interval straddles its threshold or a subject has fewer than 2 seeds "
                    "(no interval): more seeds would decide it; not a disagreement",
    "unchecked": "a subject has no result here (no run of its combination, every run failed, an ok run without a "
                 "score, or no run trained as the claim needs), or the setting gives the claim nothing to test (the "
                 "unclipped runs do not diverge)",
}
INTERVALS = (f"Each value is a mean over seeds followed by its {CI_LEVEL:.0%} interval in brackets: the t-interval of "
             "the mean for a score or a log10 ratio, the Wilson score interval for a divergence rate")


# the probe's log10 ||dL/dh_1|| / ||dL/dh_T|| at initialisation and after training (the record's grad.probe)
FLOW = (PROBE, "grad.probe.end.log10_ratio")
FLOW_COLUMN = "gradient flow (probe's log10 ratio, initialisation → trained)"


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    setting: str | None  # the task label, None where the results hold no setting the claim applies to
    verdict: str  # agrees | disagrees | inconclusive | unchecked (VERDICTS)
    evidence: str
    flow: str = ""  # a score claim's subjects' gradient flow (gradient_flow): what the records say of why


@dataclass(frozen=True)
class Estimate:
    """A subject's value: its mean over seeds (a fraction for divergence) with its interval (NaN: fewer than two
    seeds), None where it has no result, and how it came about, in words."""

    value: float | None
    said: str
    low: float = math.nan
    high: float = math.nan


def _length(runs: pd.DataFrame) -> int | None:
    """The length of one task setting's runs: the value of the parameter their records name (`length_param`: the
    task's declaration), None where the task declares none or the runs lack it."""
    param = runs["length_param"].iloc[0]
    value = runs[f"config.task.params.{param}"].iloc[0] if isinstance(param, str) and \
        f"config.task.params.{param}" in runs else None
    return int(value) if value is not None and pd.notna(value) else None


def _runs(n: int) -> str:
    return f"{n} run{'s' * (n != 1)}"


def _interval(low: float, high: float) -> str:
    return f"[{number_text(low)}, {number_text(high)}]" if np.isfinite(low) else "[no interval]"


def _mean(values: pd.Series, what: str) -> Estimate:
    low, high = mean_ci(values)
    return Estimate(float(values.mean()), f"{number_text(values.mean())} {_interval(low, high)} ({what})", low, high)


def estimate(runs: pd.DataFrame, measure: str) -> Estimate:
    """A subject's value on its runs (one combination, one setting). The score: the mean over seeds of each run's
    counted score (seed_score); failed runs left out, an ok run without a score leaves it unknown. The probe at
    initialisation (taken before training): the mean log10 ratio over every run that has it. The divergence rate:
    the fraction of the runs that finished (ok or diverged) that diverged."""
    finished = runs[runs["status"] != "failed"]  # failed runs are no result
    failed = len(runs) - len(finished)
    left_out = f", {failed} failed left out" if failed else ""
    if runs.empty:
        return Estimate(None, "(no run)")
    if measure == PROBE:
        values = pd.to_numeric(runs.get(PROBE, pd.Series(index=runs.index, dtype=float)), errors="coerce").dropna()
        if values.empty:
            return Estimate(None, f"(no {MEASURES[PROBE]} in its {_runs(len(runs))})")
        return _mean(values, _runs(len(values)))
    if finished.empty:
        return Estimate(None, f"({_runs(failed)}, all failed)")
    if measure == DIVERGED:
        lost = int((finished["status"] == "diverged").sum())
        low, high = wilson(lost, len(finished))
        return Estimate(lost / len(finished), f"diverged {lost}/{len(finished)} {_interval(low, high)}{left_out}",
                        low, high)
    scores = seed_score(finished)
    if scores.isna().any():
        return Estimate(None, f"(no score in {int(scores.isna().sum())} of its {_runs(len(finished))} that finished)")
    ok, lost = int((finished["status"] == "ok").sum()), int((finished["status"] == "diverged").sum())
    said = f"{ok} ok seed{'s' * (ok != 1)}" + (f", {lost} diverged" if lost else "") + left_out
    return _mean(scores, said)


def gradient_flow(subjects: dict[Subject, pd.DataFrame]) -> str:
    """Each subject's mean probe over its runs, at initialisation -> after training (FLOW): whether the gradient of
    the dependency's loss reaches its source, the measured why of a score's verdict ("" where no run has a probe)."""
    flows = []
    for subject, runs in subjects.items():
        means = [pd.to_numeric(runs[c], errors="coerce").mean() if c in runs else math.nan for c in FLOW]
        if not runs.empty and not any(math.isnan(m) for m in means):
            flows.append(f"{subject.label} {number_text(means[0])} → {number_text(means[1])}")
    return ", ".join(flows)


def _settings(runs: pd.DataFrame) -> list[str]:
    """The optimizer settings the runs trained at ("adam lr=0.01": collect's `tuning` column), in order."""
    return sorted(set(runs["tuning"].dropna()) - {""})


def training(runs: pd.DataFrame) -> str:
    """How runs trained, in words, as far as their records say: "adam lr=0.01, 1 layer of 64"; "3 optimizer
    settings, ..." where they tried several (each subject then names the one chosen for it)."""
    tried = _settings(runs)
    said = [tried[0] if len(tried) == 1 else f"{len(tried)} optimizer settings"] if tried else []
    layers = sorted(runs[NUM_LAYERS].dropna().unique()) if NUM_LAYERS in runs else []
    sizes = sorted(runs[HIDDEN_SIZE].dropna().unique()) if HIDDEN_SIZE in runs else []
    if layers:
        said.append(f"{'/'.join(str(int(v)) for v in layers)} layer{'s' * (list(layers) != [1])}"
                    + (f" of {'/'.join(str(int(v)) for v in sizes)}" if sizes else ""))
    return ", ".join(said)


def _chosen(runs: pd.DataFrame, several: bool) -> tuple[pd.DataFrame, str]:
    """The runs of a subject's best optimizer setting (select_tuned: the best mean validation score, so test metrics
    never choose) and, where the setting's runs tried several, which one, in words."""
    chosen = select_tuned(runs)
    if not several or chosen.empty:
        return chosen, ""
    tried = int(chosen["tuning_settings"].iloc[0])
    return chosen, f" at {chosen['tuning'].iloc[0]}" + (f" (best of {tried} on validation)" if tried > 1 else "")


def _verdict(claim: Claim, estimates: dict[Subject, Estimate]) -> str:
    """agrees, disagrees, inconclusive or unchecked (VERDICTS) from the subjects' estimates."""
    if any(estimates[s].value is None for s in claim.needed):
        return "unchecked"
    def holds(bound: Bound) -> bool | None:
        return bound.holds(estimates[bound.subject].low, estimates[bound.subject].high)

    if claim.applies is not None and holds(claim.applies) is False:
        return "unchecked"
    parts = [holds(b) for b in claim.bounds] + ([holds(claim.applies)] if claim.applies else [])
    return "disagrees" if False in parts else "agrees" if all(parts) else "inconclusive"


def check(df: pd.DataFrame, claims: tuple[Claim, ...] = CLAIMS) -> list[Verdict]:
    """Every claim's verdict on every setting of its task within its lengths where its subjects ran: the settings
    holding a run of every subject it needs trained as it needs them (a claim read under SGD and one layer: the
    settings of such runs, not a tuned grid's two-layer ones beside them); else those holding a run of every subject
    it needs, trained otherwise (reported unchecked, with what it needs); else those holding a run of any; one
    `unchecked` verdict where none does."""
    levels = pd.DataFrame(remedy_levels(df))
    out = []
    for claim in claims:
        rows = df[df["task"] == claim.task]
        settings = {label: _length(group) for label, group in rows.groupby("task_label")}
        applies = [label for label, length in settings.items() if length is not None and claim.covers(length)]
        if not applies:
            tested = ", ".join(sorted(settings)) or "none"
            out.append(Verdict(claim, None, "unchecked", f"no {claim.task} setting at {claim.lengths} in these "
                                                         f"results (tested: {tested})"))
            continue
        combos = {s: s.matches(levels) for s in claim.subjects}
        ran = {label: [bool((combos[s] & (df["task_label"] == label)).any()) for s in claim.needed]
               for label in applies}
        as_needed = {label: all((combos[s] & s.training.matches(df) & (df["task_label"] == label)).any()
                                for s in claim.needed) for label in applies}
        checked = ([label for label in applies if as_needed[label]] or [label for label in applies if all(ran[label])]
                   or [label for label in applies if any(ran[label])])
        if not checked:
            names = ", ".join(s.label for s in claim.needed)
            out.append(Verdict(claim, None, "unchecked", f"no run of {names} at {claim.task} {claim.lengths} in "
                                                         f"these results (tested: {', '.join(sorted(applies))})"))
            continue
        for label in checked:
            for rows_at in _groups(df, df["task_label"] == label, claim, combos):
                out.append(_check_at(df[rows_at], label, claim, {s: m[rows_at] for s, m in combos.items()}))
    return out


def _groups(df: pd.DataFrame, at: pd.Series, claim: Claim, combos: dict[Subject, pd.Series]) -> list[pd.Series]:
    """The runs of a setting the claim reads together: all of them, each subject at its own best optimizer setting;
    for a claim that compares its subjects at one setting (`matched`), each optimizer setting at which every subject
    it needs has runs trained as it needs (all of them where none has)."""
    if not claim.matched:
        return [at]
    tried = [at & (df["tuning"] == t) for t in _settings(df[at])]
    tried = [rows for rows in tried if all((rows & combos[s] & s.training.matches(df)).any() for s in claim.needed)]
    return tried or [at]


def _check_at(runs: pd.DataFrame, label: str, claim: Claim, combos: dict[Subject, pd.Series]) -> Verdict:
    """The claim's verdict on the runs of one setting (`label`), with its evidence."""
    several = len(_settings(runs)) > 1
    estimates, notes, read = {}, {}, {}
    for subject in claim.subjects:
        combo = runs[combos[subject]]
        trained, notes[subject] = _chosen(combo[subject.training.matches(combo)], several)
        read[subject] = trained
        if len(combo) and trained.empty:
            estimates[subject] = Estimate(None, f"(needs {subject.training}; its {_runs(len(combo))} here: "
                                                f"{training(combo) or 'training not recorded'})")
        else:
            estimates[subject] = estimate(trained, claim.measure)
    verdict = _verdict(claim, estimates)
    evidence = ", ".join(f"{s.label} {e.said}{notes[s] if e.value is not None else ''}" for s, e in estimates.items())
    if verdict == "unchecked" and all(estimates[s].value is not None for s in claim.needed):
        evidence += f"; nothing to test: not {claim.applies.words(claim.measure)}"
    how = training(runs)
    flow = gradient_flow(read) if claim.measure == SCORE else ""
    return Verdict(claim, label, verdict, f"{label}{f' ({how})' if how else ''}: {evidence}", flow)


def table(verdicts: list[Verdict]) -> pd.DataFrame:
    """The verdicts as a leaderboard table: one row per claim and setting."""
    return pd.DataFrame([{"verdict": v.verdict, "claim": v.claim.title, "expects": v.claim.expects,
                          "evidence": v.evidence, FLOW_COLUMN: v.flow} for v in verdicts],
                        columns=["verdict", "claim", "expects", "evidence", FLOW_COLUMN])


def finding(verdicts: list[Verdict]) -> str | None:
    """One sentence for the leaderboard's findings: how many checks agree and how many are inconclusive, and each
    claim that disagrees somewhere (once, with its first such setting's numbers and how many more settings)."""
    checked = [v for v in verdicts if v.verdict != "unchecked"]
    if not checked:
        return None
    against: dict[str, list[Verdict]] = {}
    for v in checked:
        if v.verdict == "disagrees":
            against.setdefault(v.claim.key, []).append(v)
    said = [f"{vs[0].claim.says} ({vs[0].evidence}"
            + (f"; and {len(vs) - 1} more setting{'s' * (len(vs) > 2)}" if len(vs) > 1 else "") + ")"
            for vs in against.values()]
    agree = sum(v.verdict == "agrees" for v in checked)
    unsure = sum(v.verdict == "inconclusive" for v in checked)
    return (f"Known results (the literature's claims, checked where these results reach them): {agree} of "
            f"{len(checked)} checks agree" + (f", {unsure} inconclusive (more seeds would decide)" if unsure else "")
            + (f"; disagree: {'; '.join(said)}" if said else "") + ".")


def report(verdicts: list[Verdict]) -> str:
    lines = []
    for v in verdicts:
        lines.append(f"{v.verdict:<12}  {v.claim.title}")
        lines.append(f"              expects {v.claim.expects}; {v.evidence}")
        if v.flow:
            lines.append(f"              {FLOW_COLUMN}: {v.flow}")
    counts = pd.Series([v.verdict for v in verdicts]).value_counts()
    lines.append(", ".join(f"{counts.get(k, 0)} {k}" for k in VERDICTS))
    lines.append(f"Scores: {SCORE_RULE}. {INTERVALS}.")
    return "\n".join(lines)


def _epilog() -> str:
    return "verdicts:\n" + "\n".join(f"  {k}: {v}" for k, v in VERDICTS.items()) + \
        "\nexit status: 1 where a claim disagrees (inconclusive and unchecked claims do not), 2 on bad input, else 0"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rnnbench known", description=__doc__.splitlines()[0],
                                epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", type=Path, help="result folders")
    args = p.parse_args(argv)
    with one_line_warnings("rnnbench known"):  # records skipped, runs left out: as the leaderboard says them
        try:
            for folder in args.results:
                if not folder.is_dir():
                    raise ConfigError(f"{folder}: no such folder")
            df = load_results(args.results)
            if df.empty:
                raise ConfigError(f"no result records under {', '.join(map(str, args.results))}")
        except ConfigError as err:
            print(f"rnnbench known: error: {err}", file=sys.stderr)
            return 2
        verdicts = check(df)
    print(report(verdicts))
    return 1 if any(v.verdict == "disagrees" for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
