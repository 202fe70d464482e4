"""The page's findings: a few short sentences with numbers, read off the tables and the remedy effects."""

from __future__ import annotations

import pandas as pd

from rnnbench.leaderboard.render import CI_LEVEL, interval_text, number_text, signed_text
from rnnbench.leaderboard.tables import AT_BASELINE


def _names(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def effect_finding(effects: pd.DataFrame) -> str | None:
    """One short sentence on the pooled remedy effects (remedy_effects' table): the levels that help and hurt by
    their Holm-adjusted verdict, each with its effect and interval (the largest three), and how many are unclear.
    None where no level has a scored pair; the table has the rest."""
    scored = effects[effects["n_pairs"] > 0]
    if scored.empty:
        return None

    def described(r) -> str:
        interval = "" if pd.isna(r.ci_low) else f" {interval_text(r.ci_low, r.ci_high)}"
        return f"{r.axis}={r.level} {signed_text(r.effect)}{interval}"

    helps = scored[scored["verdict"] == "helps"].sort_values("effect", ascending=False)
    hurts = scored[scored["verdict"] == "hurts"].sort_values("effect")
    unclear = scored[scored["verdict"] == "unclear"].sort_values("effect", key=abs, ascending=False)
    lone = scored[scored["verdict"] == "no interval"]
    parts = [f"{what}: {_names([described(r) for r in rows.itertuples()])}" for what, rows in
             (("helps", helps), ("hurts", hurts)) if len(rows)]
    if len(unclear):
        parts.append(f"{_count(len(unclear), 'level')} without a clear effect (largest: {described(unclear.iloc[0])})")
    if len(lone):
        parts.append(f"{_count(len(lone), 'level')} measured on one seed of one task, without an interval")
    family = int(scored["p_holm"].notna().sum())
    return (f"Remedy effects, change in score pooled over tasks (Holm-adjusted p below {1 - CI_LEVEL:.2g} over "
            f"{_count(family, 'level')}): " + "; ".join(parts) + ".")


def findings(task_tbl: pd.DataFrame, overall_tbl: pd.DataFrame, threshold: float = 0.9,
             effects: pd.DataFrame | None = None) -> list[str]:
    """A few short sentences with numbers, read off the task and overall tables (and the remedy effects, where
    given): the best combo overall, the effects that clear Holm, and per task the best combo and counts (the
    tables name the rest)."""
    out = []
    scored = overall_tbl.dropna(subset=["mean_score"])
    if len(scored):
        best = scored.iloc[0]  # the table puts combos scored on every task they ran on first
        beaten = "" if best.mean_score > AT_BASELINE else " (no combo beats the memoryless baseline on average)"
        out.append(f"Best overall: {best.label}, mean score {number_text(best.mean_score)} over "
                   f"{best.tasks_scored}/{best.n_tasks} tasks, mean rank {number_text(best.mean_rank)}{beaten}.")
    if effects is not None and (sentence := effect_finding(effects)):
        out.append(sentence)
    for label, t in task_tbl.groupby("task_label", sort=False):  # the table's (natural) order
        solved = t[t["score"] >= threshold]
        unscored = t[t["n_ok"] == 0]  # every seed diverged (score 0) or failed: said apart, not "at the baseline"
        at_base = t[(t["score"] <= AT_BASELINE) & (t["n_ok"] > 0)]
        top = t.dropna(subset=["score"])
        best = f"best {top.iloc[0].label} ({number_text(top.iloc[0].score)})" if len(top) else "no combo scored"
        if len(solved):
            s = f"{label}: {len(solved)} of {len(t)} combos {'solves' if len(solved) == 1 else 'solve'} it"
        else:
            s = f"{label}: none of {len(t)} combos solves it"
        s += f" (mean score ≥ {threshold:g}); {best}."
        if len(at_base):
            s += (f" {_count(len(at_base), 'combo')} {'sits' if len(at_base) == 1 else 'sit'} at the memoryless "
                  f"baseline (mean score ≤ {AT_BASELINE:g}).")
        if len(unscored):
            s += f" {_count(len(unscored), 'combo')} had no ok run."
        out.append(s)
    return out
