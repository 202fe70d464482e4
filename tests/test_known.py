"""The literature's claims (leaderboard.known) against hand-made result records: each claim's subjects, the training
its sources need, and the verdict's band from the seed spread, with the intervals computed here by hand.

Records carry what the runner's do: the remedies, the config (task, model, budget with optimizer and learning rate,
seed), the status, the normalized score and the gradient-flow probe at initialisation.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from pathlib import Path

import pytest

from rnnbench.bench.axes import BASELINE_LEVELS
from rnnbench.bench.grid import expand
from rnnbench.bench.suite import load_suite
from rnnbench.leaderboard import load_results
from rnnbench.leaderboard.claims import CLAIMS
from rnnbench.leaderboard.effects import wilson
from rnnbench.leaderboard.known import VERDICTS, check, main, table

T_2 = 4.302652729911275  # Student's t, 0.975 quantile, 2 degrees of freedom (three seeds)
Z = 1.959963984540054  # the normal's 0.975 quantile

TANH = {}
LSTM, GRU = {"cell": "lstm"}, {"cell": "gru"}
CHRONO_LSTM = {"cell": "lstm", "init": "chrono"}
IRNN = {"activation": "relu", "init": "identity"}
CLIPPED_IRNN = {**IRNN, "clip": "norm"}
ADAM = {"optimizer": "adam", "learning_rate": 0.01}
SGD = {"optimizer": "sgd", "learning_rate": 0.03}


def record(root: Path, levels: dict, *, seed: int = 0, status: str = "ok", score: float | None = None,
           val_score: float | None = None, task: str = "adding", length: int = 150, budget: dict | None = None,
           max_steps: int = 2000, num_layers: int = 1, probe: float | None = None, trained_probe: float | None = None,
           suite: str = "known") -> None:
    """A result.json as the runner writes it (a failed run, and a diverged one here, carry no score); its validation
    score (what the tuning protocol chooses on) is its test score unless given."""
    remedies = {**BASELINE_LEVELS, **levels}
    params = {"seq_len" if task == "adding" else "delay": length}
    config = {"task": {"name": task, "params": params, "version": 3},
              "model": {"cell": remedies["cell"], "hidden_size": 64, "num_layers": num_layers,
                        "activation": remedies["activation"], "init": remedies["init"], "skip": remedies["skip"]},
              "clip": remedies["clip"], "lr": remedies["lr"], "seed": seed,
              "budget": {"max_steps": max_steps, **(budget or ADAM)}}
    run_id = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    rec = {"run_id": run_id, "suite": suite, "created": "2026-12-06T12:00:00+00:00", "config": config, "task": task,
           "task_label": f"{task}({next(iter(params))}={length})", "remedies": remedies,
           "combo": "·".join(remedies[a] if a in ("cell", "activation", "init") else f"{a}={remedies[a]}"
                             for a in remedies),
           "status": status, "metrics": {}, "primary_metric": "mse", "higher_is_better": False,
           "normalized_score": score if status == "ok" else None,
           "val_score": (score if val_score is None else val_score) if status == "ok" else None,
           "grad": {"probe": {phase: {"log10_ratio": ratio}
                              for phase, ratio in (("start", probe), ("end", trained_probe)) if ratio is not None}}}
    path = root / "runs" / run_id / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))


def seeds(root: Path, levels: dict, scores: list[float], **kw) -> None:
    for seed, score in enumerate(scores):
        record(root, levels, seed=seed, score=score, **kw)


def verdicts(root: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    for v in check(load_results([root])):
        out.setdefault(v.claim.key, []).append(v)
    return out


def only(root: Path, key: str):
    [v] = verdicts(root)[key]
    return v


def t_interval(values: list[float]) -> tuple[float, float]:
    half = T_2 * statistics.stdev(values) / math.sqrt(len(values))
    return statistics.mean(values) - half, statistics.mean(values) + half


def test_a_verdict_is_inconclusive_where_the_seed_interval_straddles_the_threshold_or_one_seed_ran(tmp_path):
    """The tanh RNN at the adding baseline (score <= 0.1): three seeds near 0 agree, three near 0.5 disagree, three
    spread across 0.1 are inconclusive, and so is one seed alone (no interval); the evidence shows the t-interval."""
    cases = {"low": [0.01, 0.02, 0.03], "high": [0.48, 0.5, 0.52], "spread": [0.0, 0.05, 0.3], "one": [0.01]}
    for name, scores in cases.items():
        seeds(tmp_path / name, TANH, scores)
    got = {name: only(tmp_path / name, "tanh-rnn-fails-adding") for name in cases}
    assert {name: v.verdict for name, v in got.items()} == {"low": "agrees", "high": "disagrees",
                                                            "spread": "inconclusive", "one": "inconclusive"}
    low, high = t_interval(cases["spread"])
    assert low < 0.1 < high
    mean = statistics.mean(cases["spread"])
    assert f"tanh RNN {mean:.3g} [{low:.3g}, {high:.3g}] (3 ok seeds)" in got["spread"].evidence
    assert "tanh RNN 0.01 [no interval] (1 ok seed)" in got["one"].evidence
    assert got["low"].evidence.startswith("adding(seq_len=150) (adam lr=0.01, 1 layer of 64): ")


def test_a_diverged_seed_counts_as_the_leaderboard_counts_it_and_a_failed_one_is_left_out(tmp_path):
    """Scores are seed_score's: a diverged seed without a score counts 0, so one surviving seed of three does not
    solve the task (its mean 0.33, whose interval at three seeds is too wide to say more); a failed run is no
    result; a subject whose every run failed leaves the claim unchecked."""
    for name, other in (("diverged", "diverged"), ("failed", "failed")):
        root = tmp_path / name
        record(root, CHRONO_LSTM, seed=0, score=0.99)
        for seed in (1, 2):
            record(root, CHRONO_LSTM, seed=seed, status=other)
        seeds(root, GRU, [0.97, 0.98, 0.99])
    diverged = only(tmp_path / "diverged", "gated-cells-solve-adding")
    low, high = t_interval([0.99, 0.0, 0.0])
    assert diverged.verdict == "inconclusive" and low < 0.9 < high
    assert f"chrono LSTM 0.33 [{low:.3g}, {high:.3g}] (1 ok seed, 2 diverged)" in diverged.evidence
    failed = only(tmp_path / "failed", "gated-cells-solve-adding")
    assert failed.verdict == "inconclusive"  # one seed left: no interval
    assert "chrono LSTM 0.99 [no interval] (1 ok seed, 2 failed left out)" in failed.evidence
    root = tmp_path / "all-failed"
    for seed in range(3):
        record(root, CHRONO_LSTM, seed=seed, status="failed")
    seeds(root, GRU, [0.97, 0.98, 0.99])
    assert only(root, "gated-cells-solve-adding").verdict == "unchecked"
    assert "chrono LSTM (3 runs, all failed)" in only(root, "gated-cells-solve-adding").evidence


def test_the_gated_cell_claim_is_about_the_gate_opened_lstm_with_the_default_one_shown(tmp_path):
    """PyTorch's default LSTM at the baseline does not make the claim disagree: the claim's LSTM is the chrono one;
    the default LSTM's numbers are shown beside it. Without a chrono LSTM run the claim is unchecked."""
    seeds(tmp_path, LSTM, [0.01, 0.02, 0.015])
    seeds(tmp_path, GRU, [0.97, 0.98, 0.99])
    assert only(tmp_path, "gated-cells-solve-adding").verdict == "unchecked"
    assert "chrono LSTM (no run)" in only(tmp_path, "gated-cells-solve-adding").evidence
    seeds(tmp_path, CHRONO_LSTM, [0.995, 0.997, 0.999])
    v = only(tmp_path, "gated-cells-solve-adding")
    assert v.verdict == "agrees"
    assert "LSTM 0.015 [" in v.evidence and "chrono LSTM 0.997 [" in v.evidence
    assert v.claim.expects == "chrono LSTM score ≥ 0.9; GRU score ≥ 0.9"


@pytest.mark.parametrize("budget, num_layers, verdict, said", [
    (SGD, 1, "agrees", "norm-clipped IRNN [sgd, 1 layer] 0.96 ["),
    (ADAM, 1, "unchecked", "norm-clipped IRNN [sgd, 1 layer] (needs sgd, 1 layer; its 3 runs here: adam lr=0.01, "
                           "1 layer of 64)"),
    (SGD, 2, "unchecked", "norm-clipped IRNN [sgd, 1 layer] (needs sgd, 1 layer; its 3 runs here: sgd lr=0.03, "
                          "2 layers of 64)"),
])
def test_the_irnn_claim_reads_only_runs_trained_as_its_paper_trained_them(tmp_path, budget, num_layers, verdict, said):
    """Le et al. trained the IRNN with SGD, one layer: an IRNN that solves adding under Adam, or with two layers, is
    not their result, and the claim says what it needs instead of a verdict."""
    seeds(tmp_path, CLIPPED_IRNN, [0.95, 0.96, 0.97], budget=budget, num_layers=num_layers)
    v = only(tmp_path, "irnn-solves-adding")
    assert v.verdict == verdict and said in v.evidence, v.evidence


@pytest.mark.parametrize("unclipped, clipped, verdict", [
    (["diverged"] * 5, ["ok"] * 5, "agrees"),
    (["diverged"] * 5, ["diverged"] * 5, "disagrees"),
    (["diverged"] * 3, ["ok"] * 3, "inconclusive"),  # 3 of 3 against 0 of 3: neither interval clears 1/2
    (["diverged"] * 5, ["ok", "ok", "ok", "ok", "diverged"], "inconclusive"),
    (["ok"] * 5, ["ok"] * 5, "unchecked"),  # the unclipped runs do not diverge: nothing to prevent
    (["diverged", "ok"], ["ok", "ok"], "inconclusive"),
    (["diverged"] * 5 + ["failed"], ["failed"] * 5, "unchecked"),  # the clipped runs are no result
])
def test_the_clipping_claim_needs_enough_seeds_to_say_anything(tmp_path, unclipped, clipped, verdict):
    """Divergence rates with their Wilson intervals against 1/2: most unclipped runs diverge (else the setting tests
    nothing), most clipped ones do not; under SGD, one layer."""
    for levels, statuses in ((IRNN, unclipped), (CLIPPED_IRNN, clipped)):
        for seed, status in enumerate(statuses):
            record(tmp_path, levels, seed=seed, status=status, score=0.01, budget=SGD)
    v = only(tmp_path, "clipping-stops-divergence")
    assert v.verdict == verdict, v.evidence


def test_the_clipping_claims_evidence_gives_the_wilson_interval_and_needs_sgd(tmp_path):
    for levels, status in ((IRNN, "diverged"), (CLIPPED_IRNN, "ok")):
        for seed in range(5):
            record(tmp_path / "sgd", levels, seed=seed, status=status, score=0.01, budget=SGD)
            record(tmp_path / "adam", levels, seed=seed, status=status, score=0.01, budget=ADAM)
    sgd = only(tmp_path / "sgd", "clipping-stops-divergence")
    low = 5 / (5 + Z * Z)  # Wilson at 5 of 5: n / (n + z^2)
    assert f"unclipped IRNN [sgd, 1 layer] diverged 5/5 [{low:.3g}, 1]" in sgd.evidence
    assert f"norm-clipped IRNN [sgd, 1 layer] diverged 0/5 [0, {1 - low:.3g}]" in sgd.evidence
    assert wilson(5, 5)[0] == pytest.approx(low) and wilson(0, 5) == pytest.approx((0, 1 - low))
    adam = only(tmp_path / "adam", "clipping-stops-divergence")
    assert adam.verdict == "unchecked" and "needs sgd, 1 layer; its 5 runs here: adam lr=0.01" in adam.evidence


def test_a_claim_is_read_where_its_subjects_were_trained_as_it_needs_not_also_beside_them(tmp_path):
    """A tuned grid's two-layer Adam runs of the clipped and unclipped IRNN at adding(seq_len=150) (a reference suite)
    beside the SGD, one-layer runs of the same at a setting of their own (known_sgd): the clipping claim is read at
    the SGD setting alone, not also reported unchecked at the grid's."""
    grid, sgd = tmp_path / "reference", tmp_path / "known_sgd"
    for levels, status in ((IRNN, "diverged"), (CLIPPED_IRNN, "ok")):
        for seed in range(5):
            record(grid, levels, seed=seed, status="ok", score=0.01, budget=ADAM, num_layers=2, suite="reference")
            record(sgd, levels, seed=seed, status=status, score=0.01, budget=SGD, max_steps=3000, suite="known_sgd")
    with pytest.warns(UserWarning, match="settings"):
        got = [v for v in check(load_results([grid, sgd])) if v.claim.key == "clipping-stops-divergence"]
    assert [(v.setting, v.verdict) for v in got] == [("adding(seq_len=150) [known_sgd]", "agrees")]
    grid_alone = only(grid, "clipping-stops-divergence")  # without the SGD runs the grid's setting still says why
    assert grid_alone.verdict == "unchecked" and "needs sgd, 1 layer" in grid_alone.evidence


def test_the_copy_claims_compare_one_combination_against_one(tmp_path):
    """The orthogonal tanh RNN against the default LSTM and GRU, and the chrono LSTM against the default one: an
    orthogonal ReLU RNN that solves copy is not the claim's subject; a shorter delay is not checked."""
    copy = dict(task="copy", length=500)
    seeds(tmp_path, LSTM, [0.0, 0.01, 0.02], **copy)
    seeds(tmp_path, GRU, [0.01, 0.02, 0.03], **copy)
    seeds(tmp_path, {"activation": "relu", "init": "orthogonal"}, [0.9, 0.92, 0.94], **copy)
    seeds(tmp_path, {"init": "orthogonal"}, [0.02, 0.03, 0.04], **copy)
    seeds(tmp_path, CHRONO_LSTM, [0.6, 0.62, 0.64], **copy)
    got = verdicts(tmp_path)
    [orthogonal] = got["orthogonal-rnn-beats-gated-cells-on-copy"]
    assert orthogonal.verdict == "disagrees" and "orthogonal tanh RNN 0.03 [" in orthogonal.evidence
    assert "relu" not in orthogonal.evidence
    [chrono] = got["chrono-lstm-beats-copy-baseline"]
    assert chrono.verdict == "agrees" and chrono.setting == "copy(delay=500)"
    short = tmp_path / "short"
    seeds(short, LSTM, [0.0, 0.01, 0.02], task="copy", length=100)
    seeds(short, CHRONO_LSTM, [0.6, 0.62, 0.64], task="copy", length=100)
    assert only(short, "chrono-lstm-beats-copy-baseline").verdict == "unchecked"
    assert "no copy setting at T ≥ 500" in only(short, "chrono-lstm-beats-copy-baseline").evidence


def test_a_score_claim_shows_its_subjects_gradient_flow_at_initialisation_and_after_training(tmp_path, capsys):
    """Beside a score claim's verdict, each subject's mean probe over the runs it was read on, at initialisation ->
    after training: why it solved the task or did not (the chrono LSTM's gradient reaches the first step, the
    default LSTM's does not). The CLI prints it and the page's table has it as a column; a divergence claim has none."""
    copy = dict(task="copy", length=500)
    for seed, (score, start, end) in enumerate(((0.0, -60.0, -5.0), (0.01, -52.0, -3.0), (0.02, -56.0, -4.0))):
        record(tmp_path, LSTM, seed=seed, score=score, probe=start, trained_probe=end, **copy)
    for seed, (score, start, end) in enumerate(((0.02, -3.0, -1.0), (0.03, -3.2, -2.0), (0.04, -3.1, -1.5))):
        record(tmp_path, CHRONO_LSTM, seed=seed, score=score, probe=start, trained_probe=end, **copy)
    chrono = only(tmp_path, "chrono-lstm-beats-copy-baseline")
    assert chrono.verdict == "disagrees"
    assert chrono.flow == "LSTM -56 → -4, chrono LSTM -3.1 → -1.5", chrono.flow
    assert table([chrono]).iloc[0]["gradient flow (probe's log10 ratio, initialisation → trained)"] == chrono.flow
    assert main([str(tmp_path)]) == 1
    assert f"gradient flow (probe's log10 ratio, initialisation → trained): {chrono.flow}" in capsys.readouterr().out
    seeds(tmp_path / "no_probe", LSTM, [0.0, 0.01, 0.02], **copy)
    seeds(tmp_path / "no_probe", CHRONO_LSTM, [0.6, 0.62, 0.64], **copy)
    assert only(tmp_path / "no_probe", "chrono-lstm-beats-copy-baseline").flow == ""  # no probe: nothing said
    for seed in range(5):
        record(tmp_path / "clip", CLIPPED_IRNN, seed=seed, score=0.0, budget=SGD, probe=-0.2, trained_probe=-20.0)
        record(tmp_path / "clip", IRNN, seed=seed, status="diverged", budget=SGD, probe=-0.2)
    assert only(tmp_path / "clip", "clipping-stops-divergence").flow == ""


def test_the_vanishing_gradient_is_an_implementation_check_with_its_interval(tmp_path):
    """The probe's ratios: the default-initialised cells far below 1e-10, the IRNN near 1; the table says it is an
    implementation check, not a finding."""
    for levels, ratios in ((TANH, [-30.5, -31.0, -30.0]), (LSTM, [-20.5, -21.0, -20.0]), (GRU, [-19.0, -19.5, -18.5]),
                           (IRNN, [-0.15, -0.2, -0.1])):
        for seed, ratio in enumerate(ratios):
            record(tmp_path, levels, seed=seed, score=0.0, probe=ratio)
    v = only(tmp_path, "gradient-vanishes-at-init")
    assert v.verdict == "agrees"
    low, high = t_interval([-0.15, -0.2, -0.1])
    assert f"IRNN -0.15 [{low:.3g}, {high:.3g}] (3 runs)" in v.evidence
    row = table([v]).iloc[0]
    assert row["claim"].startswith("Implementation check: true by construction")
    assert [c.implementation_check for c in CLAIMS].count(True) == 1


def test_claims_are_checked_where_their_subjects_ran(tmp_path):
    """The Adam and the SGD suites' results together (their budgets differ beyond the optimizer: two settings of
    adding(seq_len=150), told apart by suite): each claim is checked at the setting holding its subjects (the IRNN's
    at the SGD one, the gated cells' at the Adam one), the tanh RNN's at both; a claim whose task is absent gets one
    `unchecked`."""
    adam, sgd = tmp_path / "known", tmp_path / "known_sgd"
    seeds(adam, TANH, [0.01, 0.02, 0.03])
    seeds(adam, CHRONO_LSTM, [0.995, 0.997, 0.999])
    seeds(adam, GRU, [0.97, 0.98, 0.99])
    sgd_suite = dict(budget=SGD, max_steps=3000, suite="known_sgd")
    seeds(sgd, TANH, [0.01, 0.011, 0.012], **sgd_suite)
    seeds(sgd, CLIPPED_IRNN, [0.01, 0.012, 0.014], **sgd_suite)
    with pytest.warns(UserWarning, match="settings"):
        got = {}
        for v in check(load_results([adam, sgd])):
            got.setdefault(v.claim.key, []).append(v)
    settings = {k: [v.setting for v in vs] for k, vs in got.items()}
    assert settings["gated-cells-solve-adding"] == ["adding(seq_len=150) [known]"]
    assert settings["irnn-solves-adding"] == ["adding(seq_len=150) [known_sgd]"]
    assert sorted(settings["tanh-rnn-fails-adding"]) == ["adding(seq_len=150) [known]",
                                                         "adding(seq_len=150) [known_sgd]"]
    assert got["irnn-solves-adding"][0].verdict == "disagrees"  # 0.012, its interval far below 0.9
    assert settings["chrono-lstm-beats-copy-baseline"] == [None]
    assert got["chrono-lstm-beats-copy-baseline"][0].verdict == "unchecked"


def test_a_tuned_suite_gives_each_subject_its_best_setting_on_validation_within_the_training_it_needs(tmp_path):
    """A tuning grid (Adam and SGD runs in one setting): the IRNN claim reads the SGD setting with the best validation
    score, though an Adam one validated better and another SGD one tested better (test metrics never choose)."""
    for budget, val, test in ((ADAM, 0.99, 0.99), ({"optimizer": "sgd", "learning_rate": 0.01}, 0.2, 0.95),
                              (SGD, 0.5, 0.4)):
        for seed in range(3):
            record(tmp_path, CLIPPED_IRNN, seed=seed, score=test + 0.01 * seed, val_score=val, budget=budget)
    v = only(tmp_path, "irnn-solves-adding")
    assert v.verdict == "disagrees"
    assert v.evidence.startswith("adding(seq_len=150) (3 optimizer settings, 1 layer of 64): ")
    assert "norm-clipped IRNN [sgd, 1 layer] 0.41 [" in v.evidence
    assert "(3 ok seeds) at sgd lr=0.03 (best of 2 on validation)" in v.evidence


def test_the_clipping_claim_compares_clipped_and_unclipped_runs_at_one_learning_rate(tmp_path):
    """Clipping against no clipping at the same SGD setting, each tuning setting its own check: at 0.03 the unclipped
    IRNN diverges and the clipped one does not (agrees); at 0.01 neither diverges (nothing to test)."""
    for budget, unclipped in (({"optimizer": "sgd", "learning_rate": 0.01}, "ok"), (SGD, "diverged")):
        for seed in range(5):
            record(tmp_path, IRNN, seed=seed, status=unclipped, score=0.05, budget=budget)
            record(tmp_path, CLIPPED_IRNN, seed=seed, score=0.05, budget=budget)
    got = verdicts(tmp_path)["clipping-stops-divergence"]
    assert [(v.verdict, v.evidence.split(":")[0]) for v in got] == [
        ("unchecked", "adding(seq_len=150) (sgd lr=0.01, 1 layer of 64)"),
        ("agrees", "adding(seq_len=150) (sgd lr=0.03, 1 layer of 64)")]
    assert got[0].evidence.endswith("nothing to test: not unclipped IRNN [sgd, 1 layer] divergence rate ≥ 0.5")


def test_exit_status_is_1_only_where_a_claim_disagrees(tmp_path, capsys):
    """Inconclusive is not a disagreement: exit 0; a disagreement: exit 1; the help lists the verdicts."""
    seeds(tmp_path / "unsure", TANH, [0.0, 0.05, 0.3])
    assert main([str(tmp_path / "unsure")]) == 0
    assert "inconclusive" in capsys.readouterr().out
    seeds(tmp_path / "against", TANH, [0.48, 0.5, 0.52])
    assert main([str(tmp_path / "against")]) == 1
    assert main([str(tmp_path / "nothing")]) == 2
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    assert all(name in shown for name in VERDICTS) and "1 where a claim disagrees" in shown


def test_the_known_suites_train_every_subject_of_the_adding_claims_as_it_needs(tmp_path):
    """Records shaped from the `known` and `known_sgd` suites' grids (their configs as the runner writes them, no
    training): every adding claim reaches a verdict somewhere, none left unchecked for a missing or
    otherwise-trained subject; the clipping claim has the seeds its interval needs."""
    for name in ("known", "known_sgd"):
        suite = load_suite(name)
        for rc in expand(suite):
            remedies = rc.remedies
            diverges = name == "known_sgd" and remedies["init"] == "identity" and remedies["clip"] == "none"
            config = rc.to_dict()
            rec = {"run_id": rc.run_id, "suite": suite.name, "created": "2026-12-06T12:00:00+00:00",
                   "config": config, "task": rc.task, "task_label": rc.task_label, "remedies": remedies,
                   "combo": rc.combo, "status": "diverged" if diverges else "ok", "metrics": {},
                   "primary_metric": "mse", "higher_is_better": False,
                   "normalized_score": None if diverges else 0.95 + 0.01 * rc.seed,
                   "grad": {"probe": {"start": {"log10_ratio": -0.1 if remedies["init"] == "identity"
                                                else -30.0 - rc.seed}}}}
            path = tmp_path / name / "runs" / rc.run_id / "result.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(rec))
    with pytest.warns(UserWarning):
        got = check(load_results([tmp_path / "known", tmp_path / "known_sgd"]))
    adding = [v for v in got if v.claim.task == "adding"]
    assert {v.claim.key for v in adding} == {c.key for c in CLAIMS if c.task == "adding"}
    assert all(v.verdict != "unchecked" for v in adding), [v.evidence for v in adding if v.verdict == "unchecked"]
    [clipping] = [v for v in adding if v.claim.key == "clipping-stops-divergence"]
    assert clipping.verdict == "agrees"


def test_an_ok_run_without_a_score_leaves_its_subject_unknown(tmp_path):
    """An ok run whose test metric was not finite (its score written as null) has no counted score: its subject's
    mean is unknown, so the claim is unchecked, not decided by the other seeds."""
    seeds(tmp_path, TANH, [0.01, 0.02, 0.03])
    record(tmp_path, TANH, seed=3, score=None)
    v = only(tmp_path, "tanh-rnn-fails-adding")
    assert v.verdict == "unchecked" and "tanh RNN (no score in 1 of its 4 runs that finished)" in v.evidence


def test_the_leaderboard_page_and_the_readme_carry_the_verdicts(tmp_path):
    """The findings sentence counts the agreeing and the inconclusive checks and names the claim that disagrees, with
    its numbers; the page's known-results table has a row per verdict."""
    from rnnbench.leaderboard import build
    from rnnbench.leaderboard.readme import section
    from rnnbench.leaderboard.render import md_escape

    seeds(tmp_path, TANH, [0.0, 0.05, 0.3])  # inconclusive
    seeds(tmp_path, CHRONO_LSTM, [0.995, 0.997, 0.999])
    seeds(tmp_path, GRU, [0.3, 0.32, 0.34])  # the GRU does not solve it: disagrees
    [gated] = verdicts(tmp_path)["gated-cells-solve-adding"]
    assert gated.verdict == "disagrees"
    sentence = ("Known results (the literature's claims, checked where these results reach them): 0 of 2 checks agree, "
                f"1 inconclusive (more seeds would decide); disagree: {gated.claim.says} ({gated.evidence}).")
    md = build([tmp_path], tmp_path / "site")["leaderboard.md"].read_text()
    assert md_escape(sentence) in md and "## Known results" in md
    assert md.count("| disagrees ") == 1 and md.count("| inconclusive ") == 1
    assert md_escape(sentence) in section([tmp_path])


def test_runs_trained_for_the_claims_alone_give_verdicts_without_being_ranked(tmp_path):
    """`rnnbench leaderboard --claims DIR`: the known results are checked on the results and the claims folders'
    runs (here the tanh RNN at T = 150, which the results at T = 100 cannot check), while the tables leave the claims
    runs out (their few combinations beside a full grid would shift every rank); the README section says the same;
    a claims folder without records is refused, naming it."""
    import csv

    from rnnbench.bench.cli import main as cli
    from rnnbench.leaderboard.readme import section

    results, claims = tmp_path / "results", tmp_path / "claims"
    for levels, scores in ((TANH, [0.01, 0.02, 0.0]), (LSTM, [0.99, 0.98, 0.97])):
        seeds(results, levels, scores, length=100, suite="reference")
    seeds(claims, TANH, [0.01, 0.02, 0.03], suite="known")
    pages = {}
    for name, extra in (("alone", []), ("claims", ["--claims", str(claims)])):
        assert cli(["leaderboard", "--results", str(results), "--out", str(tmp_path / name), *extra]) == 0
        pages[name] = {table: list(csv.DictReader(open(tmp_path / name / "tables" / f"{table}.csv")))
                       for table in ("overall", "known")}
    verdict = {name: [row["verdict"] for row in page["known"] if row["claim"].startswith("a tanh RNN does not learn")]
               for name, page in pages.items()}
    assert verdict == {"alone": ["unchecked"], "claims": ["agrees"]}
    assert pages["alone"]["overall"] == pages["claims"]["overall"]
    assert "3 runs trained for the claims alone (suites known" in (tmp_path / "claims" / "leaderboard.md").read_text()
    assert "Known results (the literature's claims, checked where these results reach them): 1 of 1 checks agree" \
        in section([results], claims=[claims])
    assert "Known results" not in section([results])  # nothing checked: no sentence
    (tmp_path / "empty").mkdir()
    assert cli(["leaderboard", "--results", str(results), "--out", str(tmp_path / "x"), "--claims",
                str(tmp_path / "empty")]) == 2
    assert cli(["leaderboard", "--results", str(results), "--out", str(tmp_path / "x"), "--claims",
                str(tmp_path / "nowhere")]) == 2


def test_claims_suites_at_one_task_under_several_budgets_are_read_without_a_settings_warning(tmp_path):
    """The claims folder holds known (Adam) and known_sgd (SGD, 3000 steps) runs of adding(seq_len=150): two settings
    by design, which the known results show apart; reading them for the claims raises no warning that the task's
    runs come in several settings (the results' own reading still does)."""
    import warnings

    from rnnbench.leaderboard.sections import load_claims

    results, claims = tmp_path / "results", tmp_path / "claims"
    seeds(results, TANH, [0.01, 0.02, 0.0], length=100, suite="reference")
    seeds(claims, TANH, [0.01, 0.02, 0.03], suite="known")
    seeds(claims, CLIPPED_IRNN, [0.01, 0.012, 0.014], budget=SGD, max_steps=3000, suite="known_sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = load_claims([results], [claims])
    assert set(df["task_label"]) == {"adding(seq_len=100)", "adding(seq_len=150) [known]",
                                     "adding(seq_len=150) [known_sgd]"}
    with pytest.warns(UserWarning, match=r"adding\(seq_len=150\): runs of 2 settings"):
        load_results([claims])
