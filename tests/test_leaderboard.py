"""The leaderboard against hand-made result.json files whose aggregates are computed here by hand.

Spreads are the sample standard deviation (ddof=1), as the leaderboard documents.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnbench.leaderboard import build, load_results
from rnnbench.leaderboard.plots import gradient_flow_plot, heatmap, learning_curves
from rnnbench.bench.axes import BASELINE_LEVELS
from rnnbench.leaderboard.tables import frontier, overall_table, seed_score, task_table
from rnnbench.leaderboard.effects import effects_by_task, holm, interactions, mean_ci, remedy_effects, t_quantile
from rnnbench.leaderboard.findings import effect_finding, findings
from rnnbench.leaderboard.render import render

ADD_BASE = 1 / 6  # adding: MSE of always predicting 1
COPY_BASE = 10 * math.log(8) / 120  # copy T=100: CE of the memoryless predictor
CHROMIUM = shutil.which("chromium")  # found as .ci/run finds it (command -v chromium)
# .ci/run sets this where it found or installed Chromium: there the page test fails rather than skips
CHROMIUM_REQUIRED = os.environ.get("RNNBENCH_REQUIRE_CHROMIUM") == "1"


def score(value: float, baseline: float, perfect: float = 0.0, log: bool = False) -> float:
    """Normalized score, written out independently of tasks.base: 1 perfect, 0 baseline."""
    f = math.log if log else float
    return (f(value) - f(baseline)) / (f(perfect) - f(baseline))


def remedies(**levels) -> dict[str, str]:
    return {**BASELINE_LEVELS, **levels}


def combo_of(r: dict[str, str]) -> str:
    return f"{r['cell']}·{r['activation']}·{r['init']}·clip={r['clip']}·lr={r['lr']}·skip={r['skip']}"


def label_of(r: dict[str, str]) -> str:
    """The short name the page shows, written out independently: the cell and each level off its baseline."""
    off = [r[a] if a in ("activation", "init") else f"{a}={r[a]}" for a in ("activation", "init", "clip", "lr", "skip")
           if r[a] != BASELINE_LEVELS[a]]
    return " + ".join([r["cell"], *off]) if off or r["cell"] != "rnn" else "rnn (baseline)"


def write_record(root: Path, *, task="adding", params=None, label=None, seed=0, status="ok", value=None,
                 metric="mse", baseline=ADD_BASE, higher=False, best_step=100, remedy=None, combo=None,
                 history=None, probe=None, created="2026-11-27T13:00:00+00:00", run_id=None, version=1,
                 max_steps=300, suite="quick", best_value=None) -> Path:
    """A result.json as the runner writes it. An ok run's test metric is `value`; a diverged run's is `best_value`, its
    best validated weights' before the divergence (None: it diverged before any validation, so it has no metrics and
    no score); a failed run has neither."""
    params = params if params is not None else {"seq_len": 100}
    label = label or f"{task}(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
    remedy = remedy or remedies()
    combo = combo or combo_of(remedy)
    run_id = run_id or hashlib.sha256(json.dumps([task, params, combo, seed, version, max_steps]).encode()).hexdigest()[:12]
    ok = status == "ok"
    measured = value if ok else best_value if status == "diverged" else None
    rec = {
        "run_id": run_id, "suite": suite, "created": created,
        "config": {"task": {"name": task, "params": params, "version": version}, "model": {"cell": remedy["cell"]},
                   "clip": remedy["clip"],
                   "lr": remedy["lr"], "seed": seed, "budget": {"max_steps": max_steps}},
        "task": task, "task_label": label, "remedies": remedy, "combo": combo,
        "status": status, "error": None if ok else "boom", "diverged_at_step": 7 if status == "diverged" else None,
        "metrics": {metric: measured} if measured is not None else {}, "primary_metric": metric,
        "higher_is_better": higher, "baseline": {metric: baseline},
        "normalized_score": score(measured, baseline, 1.0 if higher or metric == "perplexity" else 0.0,
                                  log=metric == "perplexity") if measured is not None else None,
        "best_step": best_step if measured is not None else None, "steps_trained": 300, "wall_seconds": 1.0,
        "history": history or [], "grad": {"norm_mean": 1.0, "probe": probe or {}},
        "versions": {"rnnbench": "0.1.0", "torch": "2.13.0", "python": "3.11.7", "task_version": 1},
        "git_commit": "48207aa", "device": "cpu (2 threads)",
    }
    path = root / "runs" / run_id / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


LSTM = remedies(cell="lstm")
RNN = remedies()
RELU = remedies(activation="relu")


@pytest.fixture
def small(tmp_path) -> Path:
    """adding: lstm 3 ok seeds; rnn 1 ok, 1 diverged, 1 failed; relu 3 diverged. copy: lstm and rnn ok."""
    for seed, (mse, step) in enumerate([(0.01, 100), (0.02, 200), (0.04, 300)]):
        write_record(tmp_path, seed=seed, value=mse, best_step=step, remedy=LSTM)
    write_record(tmp_path, seed=0, value=0.15, best_step=50, remedy=RNN)
    write_record(tmp_path, seed=1, status="diverged", remedy=RNN)
    write_record(tmp_path, seed=2, status="failed", remedy=RNN)
    for seed in range(3):
        write_record(tmp_path, seed=seed, status="diverged", remedy=RELU)
    copy = dict(task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE)
    write_record(tmp_path, **copy, seed=0, value=0.001, remedy=LSTM)
    write_record(tmp_path, **copy, seed=0, value=0.017, remedy=RNN)
    return tmp_path


def test_task_table_aggregates_match_hand_computation(small):
    table = task_table(load_results([small]))
    add = table[table.task_label == "adding(seq_len=100)"].set_index("combo")
    lstm, rnn, relu = add.loc[combo_of(LSTM)], add.loc[combo_of(RNN)], add.loc[combo_of(RELU)]
    mses = [0.01, 0.02, 0.04]
    assert lstm["mean"] == pytest.approx(statistics.mean(mses))
    assert lstm["std"] == pytest.approx(statistics.stdev(mses))  # sample std, ddof=1
    assert lstm["score"] == pytest.approx(statistics.mean(1 - m / ADD_BASE for m in mses))
    assert lstm["steps_to_best"] == pytest.approx(200)
    assert (lstm["rank"], rnn["rank"], relu["rank"]) == (1, 2, 3)
    assert rnn["mean"] == pytest.approx(0.15) and np.isnan(rnn["std"])  # one ok seed: no spread
    assert (rnn.n_ok, rnn.n_diverged, rnn.n_failed, rnn.n_runs) == (1, 1, 1, 3)
    assert rnn["score"] == pytest.approx((1 - 0.15 / ADD_BASE + 0) / 2)  # the diverged seed as 0, the failed left out
    assert relu["score"] == 0 and np.isnan(relu["mean"]) and (relu.n_diverged, relu.n_runs) == (3, 3)


def test_one_surviving_seed_does_not_stand_for_its_combo(tmp_path):
    """A combo with one excellent seed and two diverged ones scores their mean with the diverged ones at 0: below a
    combo whose three seeds all did well; and clipping, which kept runs from diverging, shows as helping."""
    for seed in range(3):
        write_record(tmp_path, seed=seed, value=0.0005 if seed == 0 else None,
                     status="ok" if seed == 0 else "diverged", remedy=LSTM)
        write_record(tmp_path, seed=seed, value=0.008, remedy={**LSTM, "cell": "gru"})
    df = load_results([tmp_path])
    table = task_table(df).set_index("combo")
    lucky, steady = table.loc[combo_of(LSTM)], table.loc[combo_of({**LSTM, "cell": "gru"})]
    assert lucky["score"] == pytest.approx((1 - 0.0005 / ADD_BASE) / 3) and lucky["mean"] == pytest.approx(0.0005)
    assert (steady["rank"], lucky["rank"]) == (1, 2)
    assert overall_table(df)["combo"].iloc[0] == combo_of({**LSTM, "cell": "gru"})
    irnn = remedies(activation="relu", init="identity")
    for seed in range(3):  # unclipped: one seed at MSE 0.01, two diverged; clipped: three at 0.02
        write_record(tmp_path, seed=seed, value=0.01 if seed == 0 else None, status="ok" if seed == 0 else "diverged",
                     remedy=irnn)
        write_record(tmp_path, seed=seed, value=0.02, remedy={**irnn, "clip": "norm"})
    effects = remedy_effects(load_results([tmp_path])).set_index(["axis", "level"])
    assert effects.loc[("clip", "norm"), "effect"] == pytest.approx((1 - 0.02 / ADD_BASE) - (1 - 0.01 / ADD_BASE) / 3)


def test_seed_means_equal_to_twelve_digits_share_a_rank(tmp_path):
    """The same three seed scores in another order: their float means may differ in the last bit; still one rank."""
    values = [0.81640625, 0.6484375, 0.9140625]
    for seed, value in enumerate(values):
        write_record(tmp_path, seed=seed, value=value, remedy=LSTM)
        write_record(tmp_path, seed=seed, value=values[2 - seed], remedy={**LSTM, "cell": "gru"})
    table = task_table(load_results([tmp_path]))
    assert list(table["rank"]) == [1, 1]


def test_diverged_and_failed_are_counted_not_dropped(small):
    md = render(task_table(load_results([small])).query("task_label == 'adding(seq_len=100)'"), "md")
    rows = {line.split("|")[2].strip(): line for line in md.splitlines()[2:]}
    assert len(rows) == 3
    rnn, relu = rows[label_of(RNN)], rows[label_of(RELU)]
    assert re.search(r"\|\s*1/3\s*\|\s*1/3\s*\|", rnn)  # 1/3 diverged, 1/3 failed
    assert re.search(r"\|\s*3/3\s*\|\s*0/3\s*\|", relu)
    assert "| 0.150 " in rnn  # the mean of the single ok seed, not of three (three significant figures)
    assert f"**{0.07 / 3:.3g} ± {statistics.stdev([0.01, 0.02, 0.04]):.3g}**" in rows[label_of(LSTM)]  # best in bold


def test_overall_table_means_score_and_rank_over_tasks(small):
    overall = overall_table(load_results([small])).set_index("combo")
    lstm_add = statistics.mean(1 - m / ADD_BASE for m in [0.01, 0.02, 0.04])
    lstm_copy = 1 - 0.001 / COPY_BASE
    assert overall.loc[combo_of(LSTM), "mean_score"] == pytest.approx((lstm_add + lstm_copy) / 2)
    assert overall.loc[combo_of(LSTM), "mean_rank"] == 1
    rnn_add = (1 - 0.15 / ADD_BASE + 0) / 2  # its diverged seed as 0, its failed one left out
    assert overall.loc[combo_of(RNN), "mean_score"] == pytest.approx((rnn_add + 1 - 0.017 / COPY_BASE) / 2)
    assert overall.loc[combo_of(RNN), "mean_rank"] == 2
    relu = overall.loc[combo_of(RELU)]  # every seed diverged on adding (score 0); no run on copy
    assert (relu["mean_score"], relu["tasks_scored"], relu["n_tasks"], relu["n_diverged"]) == (0, 1, 2, 3)
    assert list(overall.index) == [combo_of(LSTM), combo_of(RNN), combo_of(RELU)]


def test_a_combo_unscored_on_some_tasks_does_not_head_the_overall_table(tmp_path):
    """GRU solves adding and fails on copy (mean score 1 over 1/2 tasks); LSTM scores on both: LSTM heads the
    table and the "Best overall" finding, the GRU row still shows its mean and its count of scored tasks."""
    gru = remedies(cell="gru")
    copy = dict(task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE)
    write_record(tmp_path, value=0.0, remedy=gru)
    write_record(tmp_path, **copy, status="failed", remedy=gru)
    write_record(tmp_path, value=0.05, remedy=LSTM)
    write_record(tmp_path, **copy, value=0.01, remedy=LSTM)
    df = load_results(tmp_path)
    overall = overall_table(df)
    assert list(overall.combo) == [combo_of(LSTM), combo_of(gru)]
    assert overall.set_index("combo").loc[combo_of(gru), ["mean_score", "tasks_scored"]].tolist() == [1.0, 1]
    assert findings(task_table(df), overall)[0].startswith(f"Best overall: {label_of(LSTM)}, ")


def test_bold_best_and_findings_read_the_combos_scored_on_most_tasks(tmp_path):
    """The overall table's bold best cells follow "Best overall": a combo with no score on one task (here its
    runs failed) has the highest mean of the scores it has, and no bold. Results merged from grids that
    differ: a combo that ran on one task only counts the others as unscored (1/2), not as a full 1/1. Two seeds
    each, close together: LSTM's mean score beats RNN's by far more than their noise, so it is bold; the mean
    rank has no standard error and is not."""
    gru, relu = remedies(cell="gru"), RELU
    copy = dict(task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE)
    for seed, jitter in enumerate((1.0, 1.04)):
        write_record(tmp_path, seed=seed, value=0.0, remedy=gru)
        write_record(tmp_path, **copy, seed=seed, status="failed", remedy=gru)
        write_record(tmp_path, seed=seed, value=0.01 * jitter, remedy=relu)  # ran on adding only (another grid)
        write_record(tmp_path, seed=seed, value=0.05 * jitter, remedy=LSTM)
        write_record(tmp_path, **copy, seed=seed, value=0.01 * jitter, remedy=LSTM)
        write_record(tmp_path, seed=seed, value=0.06 * jitter, remedy=RNN)
        write_record(tmp_path, **copy, seed=seed, value=0.02 * jitter, remedy=RNN)
    df = load_results(tmp_path)
    overall = overall_table(df)
    assert list(overall.combo[:2]) == [combo_of(LSTM), combo_of(RNN)]
    assert overall.set_index("combo").loc[combo_of(relu), ["tasks_scored", "n_tasks"]].tolist() == [1, 2]
    rows = {line.split("|")[1].strip(): line for line in render(overall, "md").splitlines()[2:]}
    assert rows[label_of(LSTM)].count("**") == 2  # the mean score (the mean rank: never)
    assert "**" not in rows[label_of(gru)] + rows[label_of(relu)] + rows[label_of(RNN)]


def test_findings_put_scores_at_or_below_the_baseline_together(tmp_path):
    """A bounded mean score of at most 0.1 sits at the memoryless baseline, a run worse than it counting 0 (its raw
    metric still shows how much worse); where the best mean is no better than the baseline, "Best overall" says so."""
    for remedy, mse in ((LSTM, ADD_BASE * 0.98), (RNN, ADD_BASE * 3), (RELU, ADD_BASE * 1.05)):
        write_record(tmp_path, value=mse, remedy=remedy)
    df = load_results(tmp_path)
    text = " ".join(findings(task_table(df), overall_table(df)))
    assert "no combo beats the memoryless baseline on average" in text
    assert (f"adding(seq_len=100): none of 3 combos solves it (mean score ≥ 0.9); best {label_of(LSTM)} (0.02). "
            "3 combos sit at the memoryless baseline (mean score ≤ 0.1).") in text  # counts; the table names them
    assert "worse than the memoryless baseline" not in text
    assert task_table(df).set_index("combo").loc[combo_of(RNN), "mean"] == pytest.approx(ADD_BASE * 3)  # raw


def test_an_exploded_finite_run_cannot_decide_a_mean(tmp_path):
    """An ok run whose loss exploded to a finite value (an Adam run at lr 1e3 scores about -1.2e7) counts 0, the
    memoryless baseline's score: its combo, 0.9 on its other two seeds, keeps a mean of 0.6 and heads a combo at
    0.5 on every seed, in the task table, the overall table and the remedy effects; the raw metric's mean still
    shows the explosion."""
    exploded = ADD_BASE * (1 + 1.2e7)  # normalized score -1.2e7
    for seed, mse in enumerate((0.1 * ADD_BASE, 0.1 * ADD_BASE, exploded)):
        write_record(tmp_path, seed=seed, value=mse, remedy=LSTM)
        write_record(tmp_path, seed=seed, value=0.5 * ADD_BASE, remedy=RNN)
    df = load_results(tmp_path)
    table = task_table(df).set_index("combo")
    assert table.loc[combo_of(LSTM), "score"] == pytest.approx(0.6)
    assert table.loc[combo_of(LSTM), "mean"] == pytest.approx((0.2 * ADD_BASE + exploded) / 3)
    assert list(table["rank"]) == [1, 2] and table.index[0] == combo_of(LSTM)
    assert overall_table(df)["combo"].iloc[0] == combo_of(LSTM)
    effect = remedy_effects(df).set_index(["axis", "level"]).loc[("cell", "lstm"), "effect"]
    assert effect == pytest.approx(0.1)  # per seed: +0.4, +0.4, -0.5


def test_a_diverged_run_counts_its_best_weights_score_where_it_has_one(tmp_path):
    """A diverged run tested at its best validated weights before the divergence counts that score, bounded
    below at 0 like any other; one that diverged before any validation counts 0; neither enters the raw metric's mean,
    which is over ok seeds; the counts still say how many diverged."""
    write_record(tmp_path, seed=0, value=0.2 * ADD_BASE, remedy=LSTM)
    write_record(tmp_path, seed=1, status="diverged", best_value=0.4 * ADD_BASE, remedy=LSTM)  # score 0.6
    write_record(tmp_path, seed=2, status="diverged", remedy=LSTM)  # before any validation: 0
    write_record(tmp_path, seed=0, status="diverged", best_value=2 * ADD_BASE, remedy=RNN)  # worse than memoryless: 0
    df = load_results(tmp_path)
    assert seed_score(df).tolist() == pytest.approx([0.8, 0.6, 0.0, 0.0])  # load_results sorts by combo, seed
    lstm = task_table(df).set_index("combo").loc[combo_of(LSTM)]
    assert lstm["score"] == pytest.approx((0.8 + 0.6 + 0) / 3)
    assert lstm["mean"] == pytest.approx(0.2 * ADD_BASE) and (lstm.n_ok, lstm.n_diverged) == (1, 2)


def test_runs_trained_differently_are_not_averaged_as_seeds(tmp_path):
    """adding(seq_len=100) from two suites with other budgets (say standard's and full's): two rows, named by the
    suite, with a warning; within one suite (an edited YAML, a size sweep) named by the fields that differ, without;
    where more than NAMED_FIELDS differ, by a hash of the setting, with a warning."""
    import warnings

    from rnnbench.leaderboard.collect import NAMED_FIELDS

    for seed in range(2):
        write_record(tmp_path, seed=seed, value=0.05, remedy=LSTM)
    write_record(tmp_path, seed=0, value=0.01, remedy=LSTM, max_steps=3000, suite="full")
    with pytest.warns(UserWarning, match=r"adding\(seq_len=100\): runs of 2 settings"):
        table = task_table(load_results(tmp_path)).set_index("task_label")
    assert table.loc["adding(seq_len=100) [quick]", "n_runs"] == 2 and table.loc["adding(seq_len=100) [full]", "mean"] == 0.01
    write_record(tmp_path, seed=0, value=0.02, remedy=LSTM, max_steps=600, suite="full")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = set(load_results(tmp_path).task_label)
    assert labels == {f"adding(seq_len=100) [max_steps={n}]" for n in (300, 3000, 600)}
    path = write_record(tmp_path, seed=1, value=0.02, remedy=LSTM, max_steps=600, suite="full")
    record = json.loads(path.read_text())
    record["config"]["budget"].update(batch_size=8, eval_every=10, warmup_steps=0)  # 4 fields differ from the rest
    path.write_text(json.dumps(record))
    assert NAMED_FIELDS < 4
    with pytest.warns(UserWarning, match="runs of 4 settings"):
        labels = set(load_results(tmp_path).task_label)
    assert len(labels) == 4 and all(re.fullmatch(r"adding\(seq_len=100\) \[[0-9a-f]{6}\]", label) for label in labels)


def test_runs_on_other_text_of_one_corpus_name_are_not_averaged(tmp_path):
    """Two machines whose 'text(corpus=ptb, ...)' held other text (the record's task_data differs): two labels, with
    a warning; a record without task_data (an older version's) joins the label's one corpus where the rest agree."""
    text = dict(task="text", params={"corpus": "ptb", "bptt": 35}, metric="perplexity", baseline=300.0)
    for seed, data in ((0, "aaaa"), (1, "aaaa"), (2, None)):
        path = write_record(tmp_path, **text, seed=seed, value=150.0, remedy=LSTM)
        record = json.loads(path.read_text())
        if data:
            record["task_data"] = data
        path.write_text(json.dumps(record))
    assert set(load_results(tmp_path).task_label) == {"text(corpus=ptb, bptt=35)"}
    path = write_record(tmp_path, **text, seed=3, value=100.0, remedy=LSTM)
    record = json.loads(path.read_text())
    record["task_data"] = "bbbb"
    path.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match=r"corpus's text differ"):
        df = load_results(tmp_path)
    counts = df.groupby("task_label").size()
    assert len(counts) == 3 and sorted(counts) == [1, 1, 2]  # aaaa (2), bbbb (1), the older record apart (1)


def test_dedupe_keeps_newest_record(tmp_path):
    old, new = tmp_path / "a", tmp_path / "b"
    write_record(new, value=0.05, run_id="r1", created="2026-11-28T10:00:00+00:00")
    write_record(old, value=0.10, run_id="r1", created="2026-11-27T10:00:00+00:00")
    write_record(old, value=0.12, run_id="r2", seed=1)
    write_record(new, value=0.20, run_id="r3", seed=2, created=None)  # a record without a date is older than any
    write_record(old, value=0.30, run_id="r3", seed=2, created="2026-11-01T10:00:00+00:00")
    for order in ([new, old], [old, new]):  # the date decides, not the order
        df = load_results(order).set_index("run_id")
        assert sorted(df.index) == ["r1", "r2", "r3"]
        assert df.loc["r1", "value"] == 0.05 and df.loc["r3", "value"] == 0.30


def test_a_newer_failed_record_does_not_hide_a_result(tmp_path):
    """Merging two result folders: a run that trained in one and failed later in the other (a retry on another
    machine) keeps its result; among finished records the newest still wins."""
    a, b = tmp_path / "a", tmp_path / "b"
    write_record(a, value=0.05, run_id="r1", created="2026-11-27T10:00:00+00:00")
    write_record(b, status="failed", run_id="r1", created="2026-11-28T10:00:00+00:00")
    write_record(a, status="failed", run_id="r2", seed=1, created="2026-11-27T10:00:00+00:00")
    write_record(b, status="diverged", run_id="r2", seed=1, created="2026-11-26T10:00:00+00:00")
    df = load_results([a, b]).set_index("run_id")
    assert df.loc["r1", "status"] == "ok" and df.loc["r1", "value"] == 0.05
    assert df.loc["r2", "status"] == "diverged"


def test_only_the_newest_task_version_is_tabled(tmp_path):
    """A task whose definition changed (its version) measures differently: its older runs are left out with a
    warning, not averaged in as more seeds; other tasks keep all theirs."""
    for seed in range(2):
        write_record(tmp_path, seed=seed, value=0.05, remedy=LSTM, version=2)
    write_record(tmp_path, seed=0, value=0.10, remedy=LSTM, version=1)  # the same run under the old definition
    write_record(tmp_path, task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE, value=0.01, version=1)
    with pytest.warns(UserWarning, match=r"leaving out 1 adding run\(s\) of task version 1: task version 2"):
        df = load_results(tmp_path)
    assert sorted(zip(df.task, df["config.task.version"])) == [("adding", 2), ("adding", 2), ("copy", 1)]
    lstm = task_table(df).set_index(["task_label", "combo"]).loc[("adding(seq_len=100)", combo_of(LSTM))]
    assert (lstm.n_runs, lstm["mean"]) == (2, pytest.approx(0.05))


def test_malformed_record_is_skipped_with_warning(small, tmp_path):
    good = write_record(small, seed=5, value=0.03, remedy=LSTM)
    bad = good.parent.parent / "truncated" / "result.json"
    bad.parent.mkdir()
    bad.write_text(good.read_text()[:40])
    with pytest.warns(UserWarning, match=re.escape(str(bad))):
        df = load_results([small])
    assert len(df) == 12 and "truncated" not in set(df.run_id)
    with pytest.warns(UserWarning, match="truncated"):
        written = build([small], tmp_path / "site")
    assert written["index.html"].exists()


def factorial(root: Path) -> dict:
    """rnn on two tasks, clip {none, norm} x lr {constant, warmup_cosine, plateau}, two seeds each;
    plateau without clipping fails (no score: its pairs unscored). Returns each cell's bounded score per seed."""
    mse = {  # (task seq_len, clip, lr) -> the two seeds' MSE
        (100, "none", "constant"): (0.16, 0.14), (100, "norm", "constant"): (0.06, 0.08),
        (100, "none", "warmup_cosine"): (0.12, 0.10), (100, "norm", "warmup_cosine"): (0.01, 0.04),
        (200, "none", "constant"): (0.17, 0.16), (200, "norm", "constant"): (0.10, 0.12),
        (200, "none", "warmup_cosine"): (0.15, 0.15), (200, "norm", "warmup_cosine"): (0.02, 0.035),
        (100, "none", "plateau"): None, (100, "norm", "plateau"): (0.05, 0.05),
        (200, "none", "plateau"): None, (200, "norm", "plateau"): (0.09, 0.07),
    }
    cells = {}
    for (seq_len, clip, lr), values in mse.items():
        for seed in range(2):
            write_record(root, params={"seq_len": seq_len}, seed=seed, remedy=remedies(clip=clip, lr=lr),
                         status="ok" if values else "failed", value=values[seed] if values else None)
        cells[seq_len, clip, lr] = [max(0.0, 1 - v / ADD_BASE) for v in values] if values else None
    return cells


def t_test_by_hand(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, 95% interval and two-sided p of two values by Cauchy's closed forms (t with df = 1: t(0.975) =
    tan(0.475 pi) = 12.706, p = 1 - 2 atan(|t|) / pi)."""
    mean, se = statistics.mean(values), statistics.stdev(values) / math.sqrt(2)
    half = math.tan(0.475 * math.pi) * se
    return mean, mean - half, mean + half, 1 - 2 * math.atan(abs(mean / se)) / math.pi


def test_remedy_effects_equal_hand_computation(tmp_path):
    """Each seed's differences averaged over its scored contexts, the task's effect the mean over its two seeds (its
    interval over seeds), the pooled effect the mean over the two tasks (its interval over tasks, df = 1); Holm over
    the three levels; the contexts each level was measured at; the one interaction with a score, likewise."""
    s = factorial(tmp_path)
    df = load_results([tmp_path])
    effects = remedy_effects(df).set_index(["axis", "level"])
    by_task = effects_by_task(df).set_index(["axis", "level", "task_label"])
    contexts = {  # level -> [(level's cell, baseline's cell)] per task; plateau without clipping failed: left out
        ("clip", "norm"): lambda t: [((t, "norm", lr), (t, "none", lr)) for lr in ("constant", "warmup_cosine")],
        ("lr", "warmup_cosine"): lambda t: [((t, c, "warmup_cosine"), (t, c, "constant")) for c in ("none", "norm")],
        ("lr", "plateau"): lambda t: [((t, "norm", "plateau"), (t, "norm", "constant"))]}
    p_values = {}
    for key, cells_of in contexts.items():
        task_effects = []
        for t in (100, 200):
            per_seed = [statistics.mean(s[hi][seed] - s[lo][seed] for hi, lo in cells_of(t)) for seed in (0, 1)]
            mean, low, high, p = t_test_by_hand(per_seed)
            row = by_task.loc[(*key, f"adding(seq_len={t})")]
            assert (row.effect, row.ci_low, row.ci_high, row.p) == pytest.approx((mean, low, high, p), rel=1e-4)
            assert (row.n_seeds, row.n_contexts) == (2, len(cells_of(t)))
            task_effects.append(mean)
        mean, low, high, p_values[key] = t_test_by_hand(task_effects)
        row = effects.loc[key]
        assert (row.effect, row.ci_low, row.ci_high, row.p) == pytest.approx((mean, low, high, p_values[key]), rel=1e-4)
        assert row.tasks_paired == 2
    order = sorted(p_values, key=p_values.get)  # Holm: the i-th smallest times (3 - i), then a running maximum
    running = 0.0
    for i, key in enumerate(order):
        running = max(running, min(1.0, (3 - i) * p_values[key]))
        assert effects.loc[key, "p_holm"] == pytest.approx(running, rel=1e-4)
    assert effects.loc[("clip", "norm"), ["n_pairs", "n_unscored", "n_both_diverged"]].tolist() == [8, 4, 0]
    assert effects.loc[("lr", "plateau"), ["n_pairs", "n_unscored"]].tolist() == [4, 4]
    assert set(effects.index.get_level_values("axis")) == {"clip", "lr"}  # the only axes that vary
    assert effects.loc[("clip", "norm"), "measured_at"] == "measured at 2 of 3 contexts"  # plateau's failed
    assert effects.loc[("lr", "warmup_cosine"), "measured_at"] == "measured at all 2 contexts"
    assert effects.loc[("lr", "plateau"), "measured_at"] == "measured only at clip=norm (1 of 2 contexts)"
    assert effects.loc[("clip", "norm"), ["n_better", "n_worse"]].tolist() == [8, 0]  # norm clipping: better each time

    inter = interactions(df)
    assert len(inter) == 1  # clip=norm x lr=plateau has no scored quadruple: not reported
    row = inter.iloc[0]
    assert (row.axis_a, row.level_a, row.axis_b, row.level_b) == ("clip", "norm", "lr", "warmup_cosine")
    per_task = [statistics.mean((s[t, "norm", "warmup_cosine"][seed] - s[t, "none", "warmup_cosine"][seed])
                                - (s[t, "norm", "constant"][seed] - s[t, "none", "constant"][seed]) for seed in (0, 1))
                for t in (100, 200)]
    mean, low, high, p = t_test_by_hand(per_task)
    assert (row.interaction, row.ci_low, row.ci_high, row.p, row.p_holm) == pytest.approx((mean, low, high, p, p), rel=1e-4)
    assert (row.n, row.n_unscored, row.tasks_paired) == (4, 0, 2)


def test_effects_pair_runs_by_seed_and_one_task_pools_to_itself(tmp_path):
    """Matched seeds share their data, so seed-to-seed spread (scores 0.2, 0.5, 0.8) cancels in the pairs: the level
    adds about 0.1 on each seed and the interval over seeds is narrow; a seed run at one level only has no pair.
    With one task the pooled effect and interval are that task's."""
    for seed, (base, level) in enumerate([(0.2, 0.31), (0.5, 0.59), (0.8, 0.92)]):
        write_record(tmp_path, seed=seed, value=(1 - base) * ADD_BASE, remedy=RNN)
        write_record(tmp_path, seed=seed, value=(1 - level) * ADD_BASE, remedy=LSTM)
    write_record(tmp_path, seed=3, value=0.5 * ADD_BASE, remedy=LSTM)  # no baseline run with this seed
    df = load_results(tmp_path)
    task = effects_by_task(df).iloc[0]
    mean, half = statistics.mean([0.11, 0.09, 0.12]), 4.303 * statistics.stdev([0.11, 0.09, 0.12]) / math.sqrt(3)
    assert (task.effect, task.ci_low, task.ci_high) == pytest.approx((mean, mean - half, mean + half), abs=1e-4)
    assert (task.n_seeds, task.n_pairs, task.verdict) == (3, 3, "helps")
    pooled = remedy_effects(df).iloc[0]
    assert (pooled.effect, pooled.ci_low, pooled.ci_high, pooled.p) == (task.effect, task.ci_low, task.ci_high, task.p)
    assert pooled.tasks_paired == 1


def test_one_seed_of_one_task_gives_an_effect_without_an_interval(tmp_path):
    """One seed on one task: the effect is its pair's difference; no interval, no p, the verdict says so, and the
    findings list it apart."""
    write_record(tmp_path, value=0.5 * ADD_BASE, remedy=RNN)
    write_record(tmp_path, value=0.2 * ADD_BASE, remedy=LSTM)
    effects = remedy_effects(load_results(tmp_path))
    row = effects.iloc[0]
    assert row.effect == pytest.approx(0.3) and np.isnan(row.ci_low) and np.isnan(row.p_holm)
    assert row.verdict == "no interval"
    assert "1 level measured on one seed of one task, without an interval." in effect_finding(effects)


def test_pairs_where_both_runs_diverged_before_validating_enter_as_zero_and_are_counted(tmp_path):
    """Seed 0: +0.4; seed 1: both runs diverged before any validation (both 0: a difference of 0, counted apart);
    seed 2: the level diverged after validating (its best weights scored 0.5) and the baseline before (0): +0.5."""
    write_record(tmp_path, seed=0, value=0.8 * ADD_BASE, remedy=RNN)
    write_record(tmp_path, seed=0, value=0.4 * ADD_BASE, remedy=LSTM)
    for remedy in (RNN, LSTM):
        write_record(tmp_path, seed=1, status="diverged", remedy=remedy)
    write_record(tmp_path, seed=2, status="diverged", remedy=RNN)
    write_record(tmp_path, seed=2, status="diverged", best_value=0.5 * ADD_BASE, remedy=LSTM)
    row = remedy_effects(load_results(tmp_path)).iloc[0]
    assert row.effect == pytest.approx((0.4 + 0 + 0.5) / 3)
    assert (row.n_pairs, row.n_both_diverged, row.n_better, row.n_worse) == (3, 1, 2, 0)


def test_each_effect_says_at_which_contexts_it_was_measured(tmp_path):
    """Clipping run only on the IRNN is an effect at that context; relu run with two inits of the RNN but never with
    the LSTM (which has no activation level) is measured at 2 of the 3 contexts where tanh ran, all with cell=rnn;
    the LSTM run only beside the plain RNN, at 1 of the RNN's 6 contexts."""
    grid = [RNN, LSTM, remedies(init="orthogonal"), RELU, remedies(activation="relu", init="orthogonal"),
            remedies(activation="relu", init="identity"), remedies(activation="relu", init="identity", clip="norm")]
    for remedy in grid:
        write_record(tmp_path, value=0.5 * ADD_BASE, remedy=remedy)
    effects = remedy_effects(load_results(tmp_path)).set_index(["axis", "level"])["measured_at"]
    assert effects[("clip", "norm")] == "measured only at activation=relu, init=identity (1 of 6 contexts)"
    assert effects[("activation", "relu")] == "measured at 2 of 3 contexts, all with cell=rnn"
    assert effects[("cell", "lstm")] == "measured only at every other axis at its baseline level (1 of 6 contexts)"


def test_every_interaction_is_estimated_and_adjusted_before_the_largest_are_shown(tmp_path):
    """Five interactions (clip x two lr levels, clip x skip, two lr levels x skip) on two tasks with two seeds: the
    table holds them all, largest first, Holm over all five; the top two are the first two rows of it, with the
    whole family's adjusted p-values, not a family of two."""
    rng = np.random.default_rng(5)
    for seq_len in (100, 200):
        for clip, lr, skip in itertools.product(("none", "norm"), ("constant", "warmup_cosine", "plateau"),
                                                ("none", "temporal")):
            for seed in range(2):
                write_record(tmp_path, params={"seq_len": seq_len}, seed=seed, value=rng.uniform(0.1, 0.9) * ADD_BASE,
                             remedy=remedies(clip=clip, lr=lr, skip=skip))
    df = load_results(tmp_path)
    every = interactions(df)
    assert len(every) == 5 and every["tasks_paired"].eq(2).all()
    assert every.set_index(["level_a", "level_b"])["n"].to_dict() == {  # 2 tasks x 2 seeds x the third axis's levels
        ("norm", "warmup_cosine"): 8, ("norm", "plateau"): 8, ("norm", "temporal"): 12, ("warmup_cosine", "temporal"): 8,
        ("plateau", "temporal"): 8}
    assert list(every["interaction"].abs()) == sorted(every["interaction"].abs(), reverse=True)
    assert every["p_holm"].tolist() == pytest.approx(holm(every["p"]).tolist())
    pd.testing.assert_frame_equal(interactions(df, top=2), every.head(2))
    site = build([tmp_path], tmp_path / "site")
    assert len(pd.read_csv(site["tables/interactions-all.csv"])) == 5
    assert len(pd.read_csv(site["tables/interactions.csv"])) == 5  # fewer than the 10 shown: all of them


def test_mean_ci_is_the_t_interval_and_holds_its_level_at_few_values():
    """The interval of a mean: Student's t quantiles equal the printed tables'; over normal samples of 3 and of 5 the
    95% interval contains the true mean in 95% of them (a percentile bootstrap: 76% and 85%); constant values give
    a point; fewer than two values none; NaNs are left out."""
    table = {1: 12.706, 2: 4.303, 4: 2.776, 10: 2.228, 30: 2.042}  # t(0.975, df), any statistics textbook
    assert {df: round(t_quantile(0.975, df), 3) for df in table} == table
    assert t_quantile(0.95, 5) == pytest.approx(2.015, abs=1e-3)
    for p in (0.9, 0.995, 0.99995):  # closed forms: df=1 tan(pi (p - 1/2)); df=2 (2p - 1) sqrt(2 / (4p(1 - p)))
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-6)
        assert t_quantile(p, 2) == pytest.approx((2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p))), rel=1e-5)
    with pytest.raises(ValueError, match="0 < level < 1"):
        mean_ci([0.1, 0.2, 0.3], level=1.0)
    values = [0.1, 0.4, 0.25, 0.3]
    half = 3.182 * statistics.stdev(values) / 2  # t(0.975, 3) s / sqrt(4)
    assert mean_ci(values) == pytest.approx((statistics.mean(values) - half, statistics.mean(values) + half), abs=1e-4)
    rng = np.random.default_rng(3)
    for n in (3, 5):
        hits = [low <= 0.3 <= high for low, high in (mean_ci(rng.normal(0.3, 0.2, n)) for _ in range(2000))]
        assert 0.93 <= statistics.mean(hits) <= 0.97, (n, statistics.mean(hits))
    assert mean_ci([0.25] * 5) == pytest.approx((0.25, 0.25))
    assert all(math.isnan(x) for x in mean_ci([0.5]) + mean_ci([]) + mean_ci([0.5, float("nan")]))
    assert mean_ci([0.1, float("nan"), 0.3, 0.2]) == mean_ci([0.1, 0.3, 0.2])


def test_findings_say_which_remedies_help_hurt_or_are_unclear_after_holm(tmp_path):
    """The effects sentence groups the levels by their Holm-adjusted verdict over the four levels: norm clipping
    better on each of four tasks (helps), value clipping worse on each (hurts), plateau both ways, and a temporal
    skip whose own interval lies above 0 (raw p 0.03) but whose adjusted p does not clear 0.05 (no clear effect);
    each measured only where every other axis is at its baseline (one factor at a time). leaderboard.md carries
    the sentence and the effects table."""
    mse = {  # remedies -> MSE on adding(seq_len=100, 200, 300, 400); each level differs from the baseline in one axis
        "baseline": (0.10, 0.12, 0.14, 0.16), "clip=norm": (0.02, 0.05, 0.03, 0.06),
        "clip=value": (0.11, 0.13, 0.15, 0.165), "lr=plateau": (0.08, 0.14, 0.12, 0.17),
        "skip=temporal": tuple((1 - score) * ADD_BASE for score in (0.46, 0.30, 0.21, 0.13))}  # +.06 +.02 +.05 +.09
    for name, values in mse.items():
        remedy = remedies(**dict([name.split("=")])) if "=" in name else remedies()
        for seq_len, value in zip((100, 200, 300, 400), values):
            write_record(tmp_path, params={"seq_len": seq_len}, remedy=remedy, value=value)
    df = load_results([tmp_path])
    effects = remedy_effects(df)
    temporal = effects.set_index(["axis", "level"]).loc[("skip", "temporal")]
    assert temporal.ci_low > 0 and temporal.p < 0.05 < temporal.p_holm and temporal.verdict == "unclear"
    text = effect_finding(effects)
    number, interval = r"[+-][\d.]+", r" \[[+-][\d.]+, [+-][\d.]+\]"
    assert re.fullmatch(r"Remedy effects, change in score pooled over tasks \(Holm-adjusted p below 0.05 over 4 levels\): "
                        "helps: clip=norm " + number + interval + "; hurts: clip=value " + number + interval
                        + "; 2 levels without a clear effect \\(largest: skip=temporal " + number + interval + r"\)\.",
                        text), text  # short: the largest unclear one (|+0.055| against lr=plateau's |+0.015|)
    assert text in findings(task_table(df), overall_table(df), effects=effects)
    assert effect_finding(effects.assign(n_pairs=0)) is None  # nothing scored: no sentence
    md = build([tmp_path], tmp_path / "site")["leaderboard.md"].read_text()
    assert text in md and "## Remedy effects" in md and "mean Δ score [95% interval]" in md
    assert re.search(r"\| clip +\| norm +\| none +\| measured only at every other axis at its baseline level "
                     r"\(1 of 3 contexts\) +\| \+[\d.]+ \[\+[\d.]+, \+[\d.]+\] +\| [\d.e-]+ +\| helps +\| 4 +\| 4 +\| 4/4 "
                     r"+\| 0/4 +\| 0 +\| 0 +\|", md), md


def test_frontier_longest_solved_length(tmp_path):
    scores = {"A": (0.95, 0.92, 0.5), "B": (0.95, 0.3, 0.96), "C": (0.2, 0.1, 0.0)}
    for name, per_len in scores.items():
        for seq_len, s in zip((50, 100, 200), per_len):
            for seed in range(2):  # seeds at s - 0.02 and s + 0.02: the mean is s
                value = (1 - (s + (0.02 if seed else -0.02))) * ADD_BASE
                write_record(tmp_path, params={"seq_len": seq_len}, seed=seed, value=value, combo=name)
    write_record(tmp_path, task="copy", params={"delay": 100}, value=0.0, combo="A")  # one length: no frontier
    front = frontier(load_results([tmp_path]), threshold=0.9).set_index("combo")
    assert list(front.columns) == ["adding(seq_len=50/100/200)"]
    col = front["adding(seq_len=50/100/200)"]
    assert col["A"] == 100 and col["B"] == 200 and np.isnan(col["C"])


def test_latex_cells_are_escaped(small):
    write_record(small, task="text", label="text(corpus=my_data 5% & #1, bptt=35)", params={"bptt": 35},
                 metric="perplexity", baseline=300.0, value=120.0, combo="rnn_{x}·clip=50%·$a$")
    write_record(small, task="text", label="text(corpus=my_data 5% & #1, bptt=70)", params={"bptt": 70},
                 metric="perplexity", baseline=300.0, value=1.01, combo="rnn_{x}·clip=50%·$a$")
    df = load_results([small])
    assert len(frontier(df)) == 1  # the bptt sweep
    for table in (task_table(df), overall_table(df), remedy_effects(df), frontier(df)):
        tex = render(table, "tex")
        body = tex.split("\\toprule", 1)[1].split("\\bottomrule", 1)[0]
        cells = [c for line in body.splitlines() if "rule" not in line
                 for c in re.split(r"(?<!\\)&", line.removesuffix("\\\\"))]
        assert cells
        for cell in cells:
            assert not re.search(r"(?<!\\)[_%#]", cell), cell
    tex = render(task_table(df), "tex")
    assert r"primary metric (mean $\pm$ std)" in tex  # mixed metrics: a neutral header, nothing bold
    tex = render(task_table(df).query("task_label == 'adding(seq_len=100)'"), "tex")
    assert r"mse $\downarrow$ (mean $\pm$ std)" in tex
    assert re.search(r"\\textbf\{[0-9.e-]+ \$\\pm\$ [0-9.e-]+\}", tex)  # best value in bold
    tex = render(task_table(df), "tex")
    assert r"rnn\_\{x\}$\cdot$clip=50\%$\cdot$\$a\$" in tex and r"$\pm$" in tex and r"5\% \& \#1" in tex
    assert "0.0233" in tex and "0.023333" not in tex  # three significant figures


def test_csv_keeps_raw_numbers(small):
    back = pd.read_csv(io.StringIO(render(task_table(load_results([small])), "csv")))
    assert {"mean", "std", "score", "n_diverged", "n_runs", "rank"} <= set(back.columns)
    assert back["mean"].dropna().min() == pytest.approx(0.001)


def test_plots(tmp_path):
    probe = {"start": {"norms": [0.0, 1e-30, 1e-10, 1e-2]}, "end": {"norms": [0.1, 0.2, 0.3, 0.4]}}
    for seed, offset in enumerate((0.0, 0.02, 0.04)):
        history = [{"step": 50, "val_mse": 0.15 + offset}, {"step": 100, "val_mse": 0.05 + offset}]
        write_record(tmp_path, seed=seed, value=0.05, remedy=LSTM, history=history, probe=probe)
    write_record(tmp_path, seed=0, status="failed", remedy=RELU)  # no score: a blank heat-map cell
    df = load_results([tmp_path])

    ax = gradient_flow_plot(df).axes[0]
    start, end = ax.lines
    assert start.get_linestyle() == "--" and end.get_linestyle() == "-"
    y = np.asarray(start.get_ydata(), dtype=float)
    assert np.isnan(y[0]) and not np.isinf(y).any()  # the zero norm is skipped, not drawn at -inf
    assert y[1:] == pytest.approx([-30, -10, -2])

    ax = learning_curves(df, "adding(seq_len=100)").axes[0]
    curve, base = ax.lines  # the combo's seed mean, then the dotted baseline
    assert np.asarray(curve.get_ydata()) == pytest.approx([0.17, 0.07]) and curve.get_xdata().tolist() == [50, 100]
    assert base.get_ydata()[0] == pytest.approx(ADD_BASE) and base.get_linestyle() == ":"
    assert len(ax.collections) == 1  # the min-max band

    fig = heatmap(df)
    image = fig.axes[0].images[0]
    data = image.get_array()
    assert data.shape == (2, 1) and data[0, 0] == pytest.approx(1 - 0.05 / ADD_BASE) and data.mask[1, 0]
    assert (image.norm.vmin, image.norm.vmax) == (0, 1)  # the bounded score's range
    assert "no score" in fig.axes[0].get_title(loc="left")  # what the — of the failed row means
    assert "over seeds" in learning_curves(df, "adding(seq_len=100)").axes[0].get_ylabel()
    one_seed = load_results([write_record(tmp_path / "one", value=0.05, history=history).parents[2]])
    assert "over seeds" not in learning_curves(one_seed, "adding(seq_len=100)").axes[0].get_ylabel()


def test_effects_plot_draws_each_level_with_its_interval_coloured_by_its_holm_verdict(tmp_path):
    """The forest plot: one row per scored level (the table's order, top down), labelled with its tasks and where it
    was measured; a dot at the pooled effect and a bar over its interval, coloured by the Holm verdict (green helps,
    red hurts, grey otherwise, even where the unadjusted interval lies above 0); each task's effect an open circle
    on its row; a level without an interval: a dot, no bar."""
    from matplotlib.colors import to_rgba

    from rnnbench.leaderboard.plots import effects_plot

    effects = pd.DataFrame([  # axis, level, baseline, effect, interval, verdict, tasks, where measured, pairs
        ("cell", "gru", "rnn", 0.4, 0.2, 0.6, "helps", 2, "measured at all 9 contexts", 15),
        ("clip", "norm", "none", 0.1, 0.02, 0.18, "unclear", 2, "measured only at init=identity (1 of 9 contexts)", 5),
        ("lr", "plateau", "constant", -0.3, -0.5, -0.1, "hurts", 2, "measured at all 9 contexts", 10),
        ("skip", "temporal", "none", 0.2, np.nan, np.nan, "no interval", 1, "measured at all 1 contexts", 1),
        ("init", "identity", "default", np.nan, np.nan, np.nan, "no interval", 0, "measured nowhere", 0)],
        columns=["axis", "level", "baseline", "effect", "ci_low", "ci_high", "verdict", "tasks_paired", "measured_at",
                 "n_pairs"])  # the last, without a scored pair: not drawn
    by_task = pd.DataFrame([("cell", "gru", "a", 0.3), ("cell", "gru", "b", 0.5), ("lr", "plateau", "a", -0.3)],
                           columns=["axis", "level", "task_label", "effect"])
    ax = effects_plot(effects, by_task).axes[0]
    labels = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()][::-1]  # top down
    assert labels == ["cell=gru vs rnn (2 tasks; measured at all 9 contexts)",
                      "clip=norm vs none (2 tasks; measured only at init=identity (1 of 9 contexts))",
                      "lr=plateau vs constant (2 tasks; measured at all 9 contexts)",
                      "skip=temporal vs none (1 task; measured at all 1 contexts)"]
    bars = {line.get_ydata()[0]: line for line in ax.lines if line.get_gid() == "interval"}
    means = {line.get_ydata()[0]: line.get_xdata()[0] for line in ax.lines if line.get_gid() == "mean"}
    assert sorted(bars) == [1, 2, 3] and means == {3: 0.4, 2: 0.1, 1: -0.3, 0: 0.2}  # rows from the bottom
    assert [list(bars[y].get_xdata()) for y in (3, 2, 1)] == [[0.2, 0.6], [0.02, 0.18], [-0.5, -0.1]]
    assert [to_rgba(bars[y].get_color()) for y in (3, 2, 1)] == [to_rgba(c) for c in ("tab:green", "grey", "tab:red")]
    circles = sorted((float(x), float(y)) for line in ax.lines if line.get_gid() == "task"
                     for x, y in zip(line.get_xdata(), line.get_ydata()))
    assert [(x, round(y, 2)) for x, y in circles] == [(-0.3, 1.22), (0.3, 3.22), (0.5, 3.22)]  # above their row


def test_build_writes_site(small, tmp_path):
    written = build([small], tmp_path / "site")
    for rel in ["leaderboard.md", "index.html", "plots/heatmap.png", "plots/effects.png",
                "tables/overall.tex", "tables/overall.csv", "tables/effects.md", "tables/tasks.csv",
                "tables/task-adding-seq-len-100.html", "tables/effects-by-task.md", "tables/interactions-all.csv",
                "tables/failed.csv"]:
        assert written[rel].is_file() and written[rel].stat().st_size > 0, rel
    # no run recorded a validation history or a gradient probe: those plots are not drawn (no empty axes)
    assert not any(rel.startswith("plots/curves-") for rel in written) and "plots/gradient_flow.png" not in written
    md = written["leaderboard.md"].read_text()
    assert "## Overall" in md and "### adding(seq_len=100)" in md and "### copy(delay=100)" in md
    assert md.index("![") < md.index("## Findings") < md.index("## Overall")  # the heat map first
    lstm_add = statistics.mean(1 - m / ADD_BASE for m in [0.01, 0.02, 0.04])
    assert (f"adding(seq_len=100): none of 3 combos solves it (mean score ≥ 0.9); best {label_of(LSTM)} "
            f"({lstm_add:.3g}). "
            "1 combo sits at the memoryless baseline (mean score ≤ 0.1). 1 combo had no ok run.") in md  # rnn, relu
    page = written["index.html"].read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "quick" in page and "torch 2.13.0" in page and "cpu (2 threads)" in page
    lstm_copy = 1 - 0.001 / COPY_BASE
    assert f"copy(delay=100): 2 of 2 combos solve it (mean score ≥ 0.9); best {label_of(LSTM)} ({lstm_copy:.3g})." in md
    assert f"| **{lstm_add:.3f}** " in md and f"{lstm_add:.3g}" == "0.86"  # a cell keeps its trailing zero: 0.860
    assert "1 run failed with 1 distinct error" in md and "## Failed runs" in md  # the rnn seed 2's "boom"
    assert page.index("<img") < page.index("<table")  # the headline figure before the tables
    assert "validation None" not in page
    from rnnbench.leaderboard.tables import SCORE_RULE

    notes = re.sub(r"\s+", " ", html.unescape(page))  # each number's estimand, stated on the page
    assert notes.count(SCORE_RULE) >= 3  # the overall, task and effects notes
    for stated in ("equal weight per context", "equal weight per task", "df = tasks - 1", "df = seeds - 1",
                   "Holm-adjusted", "not a main effect", "enter as a difference of 0"):
        assert stated in notes, stated


def test_failed_runs_are_shown_grouped_by_their_error(tmp_path):
    """Four failed runs with two errors (one spread over lines, one with markup): the page and leaderboard.md show
    a Failed runs section with one row per error, most frequent first, its count and one run it hit; the error is
    escaped on the page. Results without a failed run have no such section."""
    from rnnbench.leaderboard.sections import failure_table

    missing = "FileNotFoundError: no corpus tinyshakespeare\n    offline: could not download it"
    memory = "<b>CUDA</b> out of memory & more"
    paths = [write_record(tmp_path, seed=seed, status="failed", remedy=remedy)
             for seed, remedy in ((0, LSTM), (1, LSTM), (0, RNN), (1, RNN))]
    for path, error in zip(paths, (missing, missing, missing, memory)):
        _amend(path, error=error)
    write_record(tmp_path, seed=2, value=0.05, remedy=LSTM)
    table = failure_table(load_results(tmp_path))
    one_line = "FileNotFoundError: no corpus tinyshakespeare offline: could not download it"
    assert table[["runs", "error"]].values.tolist() == [[3, one_line], [1, memory]]
    assert table["run_id"].iloc[0] in {q.parent.name for q in paths[:3]} and table["run_id"].iloc[1] == paths[3].parent.name
    assert table["label"].iloc[1] == label_of(RNN)

    written = build([tmp_path], tmp_path / "site")
    back = pd.read_csv(written["tables/failed.csv"])
    assert back["runs"].tolist() == [3, 1] and back["error"].tolist() == [one_line, memory]
    md = written["leaderboard.md"].read_text()
    assert "## Failed runs" in md and "4 runs failed with 2 distinct errors (the most frequent hit 3)" in md
    page = written["index.html"].read_text()
    assert memory not in page and html.escape(memory) in page  # escaped
    rows = parse_tables(page)["failed"]["rows"]
    assert [(r[0][0], r[1][0]) for r in rows] == [("3", one_line), ("1", memory)]

    clean = tmp_path / "clean"
    write_record(clean, value=0.05, remedy=LSTM)
    written = build([clean], clean / "site")
    assert "tables/failed.csv" not in written and "Failed runs" not in written["index.html"].read_text()


def test_plots_with_nothing_to_draw_are_not_drawn(tmp_path):
    """No validation history, no gradient probe, no score, no scored pair: no figure (the page leaves it out)."""
    write_record(tmp_path, value=0.05, remedy=LSTM)  # no history, no probe
    write_record(tmp_path, value=0.1, remedy=RNN)
    df = load_results(tmp_path)
    assert learning_curves(df, "adding(seq_len=100)") is None and gradient_flow_plot(df) is None
    assert heatmap(df) is not None
    from rnnbench.leaderboard.plots import effects_plot

    assert effects_plot(remedy_effects(df).assign(n_pairs=0)) is None
    failed = tmp_path / "failed"
    write_record(failed, status="failed", remedy=LSTM)
    assert heatmap(load_results(failed)) is None
    probed = tmp_path / "probed"  # one task with a probe, one without: only the probed task gets an axes
    write_record(probed, value=0.05, remedy=LSTM, probe={"end": {"norms": [0.1, 0.2]}})
    write_record(probed, task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE, value=0.01)
    axes = [ax for ax in gradient_flow_plot(load_results(probed)).axes if ax.axison]
    assert [ax.get_title() for ax in axes] == ["adding(seq_len=100)"]


def test_best_is_bold_only_where_it_clears_the_noise(tmp_path):
    """Two seeds each. Overlapping: LSTM's scores 0.94 and 0.70 (mean 0.82, standard error 0.12), RNN's 0.88 and
    0.64 (0.76): a gap of 0.06 within the noise, nothing bold. Separated: two combos 0.4 apart with standard errors
    near 0.003: the best is bold. A tie: nothing bold. The overall mean score's standard error is that of a mean of
    independent task means."""
    for seed, (lstm, rnn) in enumerate([(0.01, 0.02), (0.05, 0.06)]):
        write_record(tmp_path, seed=seed, value=lstm, remedy=LSTM)
        write_record(tmp_path, seed=seed, value=rnn, remedy=RNN)
    table = task_table(load_results(tmp_path)).set_index("combo")
    lstm_scores = [1 - m / ADD_BASE for m in (0.01, 0.05)]
    assert table.loc[combo_of(LSTM), "score_se"] == pytest.approx(statistics.stdev(lstm_scores) / math.sqrt(2))
    assert "**" not in render(task_table(load_results(tmp_path)), "md")

    apart = tmp_path / "apart"
    for seed, (lstm, rnn) in enumerate([(0.01, 0.08), (0.011, 0.081)]):
        write_record(apart, seed=seed, value=lstm, remedy=LSTM)
        write_record(apart, seed=seed, value=rnn, remedy=RNN)
        write_record(apart, task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE, seed=seed,
                     value=(0.01, 0.03)[seed], remedy=LSTM)
    md = render(task_table(load_results(apart)).query("task_label == 'adding(seq_len=100)'"), "md")
    lstm_row = next(line for line in md.splitlines() if f"| {label_of(LSTM)} " in line)
    rnn_row = next(line for line in md.splitlines() if f"| {label_of(RNN)} " in line)
    assert lstm_row.count("**") == 4 and "**" not in rnn_row  # its mean ± std and its score
    copy_scores = [1 - v / COPY_BASE for v in (0.01, 0.03)]
    add_scores = [1 - v / ADD_BASE for v in (0.01, 0.011)]
    se = [statistics.stdev(x) / math.sqrt(2) for x in (add_scores, copy_scores)]
    overall = overall_table(load_results(apart)).set_index("combo")
    assert overall.loc[combo_of(LSTM), "mean_score_se"] == pytest.approx(math.hypot(*se) / 2)

    tie = tmp_path / "tie"
    for seed, value in enumerate((0.01, 0.02)):
        write_record(tie, seed=seed, value=value, remedy=LSTM)
        write_record(tie, seed=seed, value=value, remedy=RNN)
    assert "**" not in render(task_table(load_results(tie)), "md")


def test_build_refuses_an_empty_store(tmp_path):
    with pytest.raises(ValueError, match="no result records"):
        build([tmp_path], tmp_path / "site")


class Tables(HTMLParser):
    """Each <table id=...>: its header texts and, per row, the (text, data-sort-value) of its cells."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.cell = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self.current = self.tables[attrs["id"]] = {"headers": [], "rows": [], "sorted": None}
        elif self.current is not None and tag == "tr":
            self.current["rows"].append([])
        elif self.current is not None and tag in ("td", "th"):
            self.cell = [tag, "", attrs.get("data-sort-value")]
            if attrs.get("aria-sort"):
                self.current["sorted"] = (len(self.current["headers"]), attrs["aria-sort"])

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            kind, text, key = self.cell
            if kind == "th":
                self.current["headers"].append(text)
            else:
                self.current["rows"][-1].append((text, key))
            self.cell = None
        elif tag == "table":
            self.current = None


def parse_tables(page: str) -> dict:
    parser = Tables()
    parser.feed(page)
    for t in parser.tables.values():
        t["rows"] = [r for r in t["rows"] if r]
    return parser.tables


@pytest.mark.skipif(CHROMIUM is None and not CHROMIUM_REQUIRED,
                    reason="needs chromium on the PATH (apt-get install -y chromium)")
def test_html_sorts_numerically_and_escapes_in_chromium(tmp_path):
    assert CHROMIUM is not None, "RNNBENCH_REQUIRE_CHROMIUM=1 (CI installed Chromium) but no chromium on the PATH"
    evil = "<script>alert(1)</script>"
    for name, step in [("c100", 100), ("c9", 9), (evil, 50), ("c10", 10)]:
        write_record(tmp_path, seed=0, value=0.05, best_step=step, combo=name)
    site = build([tmp_path], tmp_path / "site")["index.html"]
    tables = parse_tables(site.read_text())
    table_id = next(k for k in tables if k.startswith("task-adding"))
    column = tables[table_id]["headers"].index("steps to best")

    profile = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--dump-dom", f"{site.as_uri()}#sort={table_id}:{column}"]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=90).stdout
    assert "</html>" in dom, "chromium printed no DOM"
    shutil.rmtree(profile, ignore_errors=True)

    table = parse_tables(dom)[table_id]
    assert table["sorted"] == (column, "ascending")  # the hook's click went through the sort handler
    steps = [float(row[column][1]) for row in table["rows"]]
    assert steps == [9, 10, 50, 100]  # numeric order; a text sort would give 10, 100, 50, 9
    assert [row[0][0] for row in table["rows"]] == ["c9", "c10", evil, "c100"]  # the name shown as text
    assert evil not in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert dom.count("<script") == 1  # only the page's own script

    overall = tables["overall"]["headers"].index("mean score ↑")  # a first click puts the best first
    cmd[-1] = f"{site.as_uri()}#sort=overall:{overall}"
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=90).stdout
    shutil.rmtree(profile, ignore_errors=True)
    assert parse_tables(dom)["overall"]["sorted"] == (overall, "descending")


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on its fd 3,
    replies on fd 4, each a JSON message ended by a NUL byte), so the test sends real key presses, not synthetic
    events; every wait is bounded."""

    def __init__(self, profile: Path, timeout: float = 30.0):
        import select

        self.select, self.timeout, self.buffer, self.n = select.select, timeout, b"", 0
        to_chromium, from_chromium = os.pipe(), os.pipe()

        def fds():  # in the child: its ends of the pipes as fds 3 and 4, inherited (through fds 100 and 101, closed
            # at exec: the pipes' own fds may be 3 or 4); every other fd Python opened is closed at exec (PEP 446)
            os.dup2(to_chromium[0], 100, inheritable=False), os.dup2(from_chromium[1], 101, inheritable=False)
            os.dup2(100, 3), os.dup2(101, 4)

        self.proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                      "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
                                     close_fds=False, preexec_fn=fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chromium[0]), os.close(from_chromium[1])
        self.write, self.read, self.session = to_chromium[1], from_chromium[0], None

    def send(self, method: str, **params):
        self.n += 1
        message = {"id": self.n, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.n:
                    assert "error" not in reply, reply
                    return reply["result"]
            left = deadline - time.monotonic()
            assert left > 0 and self.select([self.read], [], [], left)[0], f"no reply to {method}"
            chunk = os.read(self.read, 1 << 20)
            assert chunk, "chromium closed its pipe"
            self.buffer += chunk

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url=url)["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        deadline = time.monotonic() + self.timeout
        while self.js("[location.href, document.readyState]") != [url, "complete"]:  # not the blank page before it
            assert time.monotonic() < deadline, "the page did not load"
            time.sleep(0.05)

    def js(self, expression: str):
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in reply, (expression, reply["exceptionDetails"])
        return reply["result"].get("value")

    def press(self, key: str, code: str, vk: int, text: str = "", shift: bool = False) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=code, windowsVirtualKeyCode=vk,
                      modifiers=8 if shift else 0, **({"text": text} if text and kind == "keyDown" else {}))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self.write), os.close(self.read)


@pytest.mark.skipif(CHROMIUM is None and not CHROMIUM_REQUIRED,
                    reason="needs chromium on the PATH (apt-get install -y chromium)")
def test_the_page_sorts_from_the_keyboard_and_filters_in_chromium(tmp_path):
    """The task table's "steps to best" header is reached with Tab alone and sorted with Enter (numeric order,
    ascending: one arrow in the header as shown), then Space (descending); typing into the table's filter box
    leaves the rows containing the text; the headline heat map comes before the first table. The table's own page
    (tables/<name>.html) filters and sorts alike."""
    assert CHROMIUM is not None, "RNNBENCH_REQUIRE_CHROMIUM=1 (CI installed Chromium) but no chromium on the PATH"
    for name, step in [("c100", 100), ("c9", 9), ("x50", 50), ("c10", 10)]:
        write_record(tmp_path, seed=0, value=0.05, best_step=step, combo=name)
    site = build([tmp_path], tmp_path / "site")["index.html"]
    tables = parse_tables(site.read_text())
    table_id = next(k for k in tables if k.startswith("task-adding"))
    column = tables[table_id]["headers"].index("steps to best")
    header = f"document.getElementById('{table_id}').tHead.rows[0].cells[{column}]"
    body = f"document.getElementById('{table_id}').tBodies[0]"
    visible = f"Array.from({body}.rows).filter(r => !r.hidden).map(r => r.cells[0].textContent)"
    steps = f"Array.from({body}.rows).map(r => r.cells[{column}].textContent)"

    chrome = DevTools(tmp_path / "profile")
    try:
        chrome.open(site.as_uri())
        assert chrome.js("document.querySelector('#headline img').getBoundingClientRect().top < "
                         "document.querySelector('table').getBoundingClientRect().top")
        for _ in range(400):  # Tab through the page until the header's button has the focus
            chrome.press("Tab", "Tab", 9)
            if chrome.js(f"document.activeElement === {header}.querySelector('button')"):
                break
        else:
            pytest.fail("the header cannot be reached with Tab")
        chrome.press("Enter", "Enter", 13, "\r")
        assert chrome.js(f"{header}.getAttribute('aria-sort')") == "ascending"
        assert chrome.js(steps) == ["9", "10", "50", "100"]  # numeric, not text order
        drawn = ("(h => h.innerText + getComputedStyle(h.querySelector('button'), '::after').content"
                 ".replace(/^none$/, ''))")  # the header as shown: its visible text and its generated arrow
        shown = chrome.js(f"{drawn}({header})")
        assert sum(shown.count(arrow) for arrow in "↑↓▲▼") == 1 and "▲" in shown, shown
        chrome.press(" ", "Space", 32, " ")
        assert chrome.js(f"{header}.getAttribute('aria-sort')") == "descending"
        assert chrome.js(steps) == ["100", "50", "10", "9"]
        score = tables["overall"]["headers"].index("mean score ↑")  # a direction arrow until sorted
        overall = f"document.getElementById('overall').tHead.rows[0].cells[{score}]"
        assert chrome.js(f"{drawn}({overall})") == "mean score ↑"
        chrome.js(f"{overall}.querySelector('button').click()")  # sorted: ▼ (best first), the ↑ hidden
        assert chrome.js(f"{drawn}({overall})").replace('"', "") == "mean score  ▼"

        chrome.js(f"document.querySelector('input.filter[aria-controls=\"{table_id}\"]').focus()")
        chrome.send("Input.insertText", text="C1")  # case-insensitive: c10 and c100
        assert chrome.js(visible) == ["c100", "c10"]
        assert chrome.js(f"document.querySelector('input.filter[aria-controls=\"{table_id}\"]')"
                         ".nextElementSibling.textContent") == "2 of 4 rows"
        for _ in range(2):
            chrome.press("Backspace", "Backspace", 8)
        assert chrome.js(visible) == ["c100", "x50", "c10", "c9"]  # cleared: every row, in the sorted order

        chrome.open((site.parent / "tables" / f"{table_id}.html").as_uri())  # the table's page of its own
        assert chrome.js("document.querySelectorAll('table').length") == 1
        chrome.js(f"document.querySelector('input.filter[aria-controls=\"{table_id}\"]').focus()")
        chrome.send("Input.insertText", text="c1")
        assert sorted(chrome.js(visible)) == ["c10", "c100"]
        assert chrome.js(f"document.querySelector('input.filter[aria-controls=\"{table_id}\"]')"
                         ".nextElementSibling.textContent") == "2 of 4 rows"
        chrome.js(f"{header}.querySelector('button').click()")
        assert chrome.js(f"{header}.getAttribute('aria-sort')") == "ascending"
        assert chrome.js(steps) == ["9", "10", "50", "100"]
    finally:
        chrome.close()


def test_readme_section_is_replaced_between_markers(small, tmp_path):
    from rnnbench.bench.registry import ConfigError
    from rnnbench.leaderboard.readme import END, START, main

    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\nintro\n\n{START}\nold table\n{END}\n\n## after\n")
    assert main([str(small), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# project\n\nintro\n") and text.endswith("## after\n")
    inside = text.split(START)[1].split(END)[0]
    overall = overall_table(load_results([small]))
    assert "| combo" in inside and all(c in inside for c in overall["label"])
    assert "Suite `quick`, 11 runs (6 ok, 4 diverged, 1 failed), " in inside
    assert main([str(small), "--readme", str(readme)]) == 0 and readme.read_text() == text  # idempotent
    readme.write_text("no markers here\n")
    assert main([str(small), "--readme", str(readme)]) == 2
    assert main([str(small), "--readme", str(tmp_path / "missing.md")]) == 2  # one line, no traceback
    with pytest.raises(ConfigError):
        from rnnbench.leaderboard.readme import update

        update(readme, "x")


def test_the_command_line_prints_warnings_as_one_line_and_versions_as_written(tmp_path):
    """`rnnbench leaderboard` on results holding an older task version: the warning is one plain line (not Python's
    file:line form with a source line), and the provenance reads task_version 1, not 1.0 (a column with a record
    lacking it reads as floats)."""
    from tests.conftest import REPO, cli

    write_record(tmp_path, value=0.05, remedy=LSTM, version=2)
    write_record(tmp_path, value=0.10, remedy=LSTM, seed=1, version=1)
    path = write_record(tmp_path, task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE, value=0.01)
    record = json.loads(path.read_text())
    del record["versions"]["task_version"]
    path.write_text(json.dumps(record))
    done = subprocess.run(cli("leaderboard", "--results", str(tmp_path), "--out", str(tmp_path / "site")), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.strip()]
    assert warned == ["rnnbench: warning: leaving out 1 adding run(s) of task version 1: task version 2 measures it "
                      "differently; re-run them to include them"], done.stderr
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "task_version 1 " in md or "task_version 1\n" in md or "task_version 1 ·" in md, md
    assert "task_version 1.0" not in md


def test_plots_with_many_combos_colour_the_best_and_the_plain_rnn(tmp_path):
    """20 combos: 25 coloured lines read as none, so the best 15 on the task and the all-baseline combo (the plain
    RNN, here the worst) get a colour and a legend entry, the other 4 are thin grey lines with one entry."""
    import itertools

    from rnnbench.leaderboard.plots import MAX_LEGEND, OTHERS

    levels = itertools.product(["rnn", "lstm"], ["default", "orthogonal"], ["none", "norm", "value"],
                               ["none", "temporal"])
    combos = [remedies(cell=c, init=i, clip=k, skip=s) for c, i, k, s in levels][:20]
    assert combos[0] == RNN
    for n, remedy in enumerate(combos):  # the plain RNN worst, then better and better
        mse = ADD_BASE * (1 - n / 25) if n else ADD_BASE
        write_record(tmp_path, value=mse, remedy=remedy, history=[{"step": 10, "val_mse": mse},
                                                                  {"step": 20, "val_mse": mse * 0.9}])
    df = load_results(tmp_path)
    fig = learning_curves(df, "adding(seq_len=100)")
    ax = fig.axes[0]
    curves = ax.lines[:-1]  # the last: the baseline's dotted line
    grey = [line for line in curves if line.get_color() == OTHERS]
    assert len(curves) == 20 and len(grey) == 20 - MAX_LEGEND
    coloured = {line.get_label() for line in fig.legends[0].get_lines()} - {"4 other combos (see the tables)"}
    assert len(coloured) == MAX_LEGEND and label_of(RNN) in coloured  # the plain RNN kept, though last
    assert "4 other combos (see the tables)" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert label_of(combos[1]) not in coloured and label_of(combos[19]) in coloured  # grey: the worst but the RNN
    assert ax.get_yscale() == "linear"  # within one decade: a log axis would show one or two ticks
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_readme_rewrite_keeps_a_crlf_files_other_lines_and_numbers_near_1000_stay_whole(tmp_path):
    from rnnbench.leaderboard.readme import END, START, update
    from rnnbench.leaderboard.render import number_text

    readme = tmp_path / "README.md"
    readme.write_bytes(f"Title\r\nkeep me\r\n{START}\r\nold\r\n{END}\r\ntail line\r\n".encode())
    update(readme, "new table")
    assert readme.read_bytes() == f"Title\r\nkeep me\r\n{START}\nnew table\n{END}\r\ntail line\r\n".encode()
    assert [number_text(x) for x in (999.4, 999.5, 999.99, 1234.4, 0.01234)] == ["999", "1000", "1000", "1234", "0.0123"]


def test_no_bold_best_where_no_combo_has_a_score(tmp_path):
    for remedy in (LSTM, RNN):
        write_record(tmp_path, status="failed", remedy=remedy)
    overall = overall_table(load_results([tmp_path]))
    assert list(overall["tasks_scored"]) == [0, 0] and "**" not in render(overall, "md")


def _amend(path: Path, **fields) -> None:
    rec = json.loads(path.read_text())
    rec.update(fields)
    path.write_text(json.dumps(rec))


def test_task_table_shows_the_last_step_score_and_the_recurrent_parameters(tmp_path):
    """Beside the best checkpoint's score: the last weights' (bounded below at 0 as the score is, over ok seeds), and
    the recurrent parameter count a param_budget matches."""
    for seed, (best, last) in enumerate([(0.01, 0.05), (0.02, 0.5)]):
        path = write_record(tmp_path, seed=seed, value=best, remedy=LSTM)
        _amend(path, last={"step": 300, "metrics": {"mse": last}, "normalized_score": score(last, ADD_BASE)},
               model_size={"hidden_size": 63, "recurrent_params": 49140, "params": 49204})
    diverged = write_record(tmp_path, seed=2, status="diverged", remedy=LSTM)
    _amend(diverged, model_size={"hidden_size": 63, "recurrent_params": 49140, "params": 49204})
    row = task_table(load_results([tmp_path])).iloc[0]
    assert row["last_score"] == pytest.approx((score(0.05, ADD_BASE) + 0.0) / 2)  # 0.5 is below the baseline: 0
    assert row["params"] == 49140
    md = render(task_table(load_results([tmp_path])), "md")
    assert "last-step score" in md and "recurrent params" in md and "49140" in md


def test_identity_on_a_gated_cell_is_not_pooled_with_the_irnn(tmp_path):
    """init=identity on the vanilla RNN (the IRNN) and on an LSTM are two remedies: their effects are apart."""
    for seed in range(2):
        write_record(tmp_path, seed=seed, value=0.16, remedy=remedies(activation="relu"))
        write_record(tmp_path, seed=seed, value=0.01, remedy=remedies(activation="relu", init="identity"))
        write_record(tmp_path, seed=seed, value=0.01, remedy=LSTM)
        write_record(tmp_path, seed=seed, value=0.16, remedy=remedies(cell="lstm", init="identity"))
    effects = remedy_effects(load_results([tmp_path])).set_index("level")
    assert effects.loc["identity", "effect"] > 0.5 and effects.loc["identity@lstm", "effect"] < -0.5


def test_published_records_rebuild_the_same_leaderboard(small, tmp_path, capsys):
    """--publish copies every record (diverged and failed too) into one gzipped JSON-lines file, byte for byte the
    same for the same records, and the page built from that file alone equals the one built from the store."""
    import gzip

    from rnnbench.bench.cli import main

    out = tmp_path / "published"
    assert main(["leaderboard", "--results", str(small), "--out", str(out), "--publish"]) == 0
    lines = gzip.decompress((out / "records.jsonl.gz").read_bytes()).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == len(list(small.glob("runs/*/result.json")))
    assert {r["status"] for r in records} == {"ok", "diverged", "failed"}
    first = (out / "records.jsonl.gz").read_bytes()
    assert main(["leaderboard", "--results", str(small), "--out", str(out), "--publish"]) == 0
    assert (out / "records.jsonl.gz").read_bytes() == first  # no timestamp in the gzip: the same bytes
    again = tmp_path / "again"
    assert main(["leaderboard", "--results", str(out), "--out", str(again)]) == 0
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("- **built**")]  # noqa: E731
    assert strip((out / "leaderboard.md").read_text()) == strip((again / "leaderboard.md").read_text())
    pd.testing.assert_frame_equal(task_table(load_results([out])), task_table(load_results([small])))


def test_the_published_page_comes_from_the_published_records_alone(small, tmp_path):
    """--publish into a folder that also holds runs/ (the folder a sweep writes) builds the page from the records
    file it wrote, so the page never shows a run the file lacks; the file itself can be given as --results."""
    import shutil

    from rnnbench.bench.cli import main

    out = tmp_path / "published"
    extra = next(small.glob("runs/*/result.json"))
    record = json.loads(extra.read_text())
    record.update(run_id="f" * 16, seed=99)
    (out / "runs" / record["run_id"]).mkdir(parents=True)
    (out / "runs" / record["run_id"] / "result.json").write_text(json.dumps(record))  # the sweep's, not published
    assert main(["leaderboard", "--results", str(small), "--out", str(out), "--publish"]) == 0
    alone, again = tmp_path / "alone", tmp_path / "again"
    assert main(["leaderboard", "--results", str(small), "--out", str(alone)]) == 0
    shutil.copy(out / "records.jsonl.gz", tmp_path / "records.jsonl.gz")
    assert main(["leaderboard", "--results", str(tmp_path / "records.jsonl.gz"), "--out", str(again)]) == 0
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("- **built**")]  # noqa: E731
    assert strip((out / "leaderboard.md").read_text()) == strip((alone / "leaderboard.md").read_text())
    assert strip((again / "leaderboard.md").read_text()) == strip((alone / "leaderboard.md").read_text())
    assert len(load_results([tmp_path / "records.jsonl.gz"])) == len(list(small.glob("runs/*/result.json")))
    assert len(load_results([out])) == len(list(small.glob("runs/*/result.json"))) + 1  # the folder reads runs/ too


def test_a_damaged_line_of_published_records_is_skipped_with_a_warning(small, tmp_path):
    import gzip

    from rnnbench.leaderboard.collect import publish

    pub = tmp_path / "pub"
    pub.mkdir()
    path, n = publish([small], pub)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(["{not json", *lines[1:]]) + "\n").encode()))
    with pytest.warns(UserWarning, match=r"records.jsonl.gz line 1"):
        df = load_results([pub])
    assert len(df) == n - 1


def test_a_task_whose_runs_all_failed_ranks_nobody_and_stays_out_of_the_mean_rank(tmp_path):
    """Every text run failed (say, no corpus): its combos get no rank (not a shared rank 1), and each combo's mean
    rank is over the tasks that were scored."""
    write_record(tmp_path, seed=0, value=0.01, remedy=LSTM)
    write_record(tmp_path, seed=0, value=0.1, remedy=RNN)
    text = dict(task="text", params={"bptt": 20}, metric="perplexity", baseline=50.0)
    write_record(tmp_path, **text, seed=0, status="failed", remedy=LSTM)
    write_record(tmp_path, **text, seed=0, status="failed", remedy=RNN)
    df = load_results([tmp_path])
    tasks = task_table(df)
    assert tasks[tasks["task_label"] == "text(bptt=20)"]["rank"].isna().all()
    overall = overall_table(df).set_index("combo")
    assert overall.loc[combo_of(LSTM), "mean_rank"] == 1 and overall.loc[combo_of(RNN), "mean_rank"] == 2


def test_a_higher_is_better_metric_bolds_its_maximum_and_ranks_it_first(tmp_path):
    """delayed_recall is scored on accuracy (higher is better): the bold mean, the bold score and rank 1 go to the
    combo with the highest accuracy, not the lowest (the adding tests above cover lower-is-better)."""
    recall = dict(task="delayed_recall", params={"delay": 50}, metric="accuracy", baseline=1 / 8, higher=True)
    accuracies = {combo_of(LSTM): [0.9, 0.8], combo_of(RNN): [0.25, 0.35]}
    for remedy in (LSTM, RNN):
        for seed, value in enumerate(accuracies[combo_of(remedy)]):
            write_record(tmp_path, **recall, seed=seed, value=value, remedy=remedy)
    table = task_table(load_results([tmp_path])).set_index("combo")
    assert table.loc[combo_of(LSTM), "rank"] == 1 and table.loc[combo_of(RNN), "rank"] == 2
    assert table.loc[combo_of(LSTM), "score"] == pytest.approx(statistics.mean(score(a, 1 / 8, 1.0) for a in [0.9, 0.8]))
    md = render(task_table(load_results([tmp_path])), "md")
    assert "accuracy ↑ (mean ± std)" in md.splitlines()[0]
    lstm, rnn = (next(line for line in md.splitlines()[2:] if line.split("|")[2].strip().startswith(cell))
                 for cell in ("lstm", "rnn"))
    assert statistics.stdev([0.9, 0.8]) == pytest.approx(0.0707, abs=5e-5)
    lstm_mean, rnn_mean = "0.850 ± 0.0707", "0.300 ± 0.0707"  # three significant figures, trailing zeros kept
    assert f"**{lstm_mean}**" in lstm, lstm
    assert rnn_mean in rnn and "**" not in rnn, rnn
