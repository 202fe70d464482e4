"""The literature's claims that `rnnbench known` checks (leaderboard.known): who they speak of (Subject: one remedy
combination, trained as its sources trained it where their result depends on it: Training), what they say of them
(Bound: a value at least or at most a threshold, on a measure: MEASURES) and at which task and lengths (Claim), and
the claims themselves (CLAIMS)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnbench.bench.axes import AXIS_NAMES, BASELINE_LEVELS
from rnnbench.leaderboard.tables import AT_BASELINE

SOLVED = 0.9  # a mean score at or above this solves a task (the findings' threshold)
MOSTLY = 0.5  # a divergence rate above this: the runs mostly diverge
SCORE, PROBE, DIVERGED = "normalized_score", "grad.probe.start.log10_ratio", "diverged"
MEASURES = {SCORE: "score", PROBE: "log10 ratio", DIVERGED: "divergence rate"}  # what a claim reads, in words
# the record's training columns a claim's subject may require or its evidence shows
OPTIMIZER = "config.budget.optimizer"
NUM_LAYERS, HIDDEN_SIZE = "config.model.num_layers", "config.model.hidden_size"


@dataclass(frozen=True)
class Training:
    """How a claim's sources trained its subject, where their result depends on it; None: any."""

    optimizer: str | None = None
    num_layers: int | None = None

    def matches(self, runs: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=runs.index)
        if self.optimizer is not None:
            ok &= runs.get(OPTIMIZER, pd.Series(index=runs.index, dtype=object)) == self.optimizer
        if self.num_layers is not None:
            ok &= pd.to_numeric(runs.get(NUM_LAYERS, pd.Series(index=runs.index, dtype=float)),
                                errors="coerce") == self.num_layers
        return ok

    def __str__(self) -> str:
        said = [self.optimizer] if self.optimizer else []
        said += [f"{self.num_layers} layer{'s' * (self.num_layers != 1)}"] if self.num_layers is not None else []
        return ", ".join(said)


ANY_TRAINING = Training()
SGD_ONE_LAYER = Training(optimizer="sgd", num_layers=1)  # Le et al. 2015's IRNN, Pascanu et al. 2013's clipping


@dataclass(frozen=True, eq=False)  # eq=False: each subject is its own key (its levels are a dict)
class Subject:
    """The runs a claim speaks of: one remedy combination (these levels, every other axis at its baseline level),
    trained as `training` says."""

    name: str
    levels: dict[str, str]
    training: Training = ANY_TRAINING

    def matches(self, levels: pd.DataFrame) -> pd.Series:
        want = {**BASELINE_LEVELS, **self.levels}
        return pd.concat([levels[a] == want[a] for a in AXIS_NAMES], axis=1).all(axis=1)

    @property
    def label(self) -> str:
        """The name with the training it needs: "IRNN [sgd, 1 layer]"."""
        return f"{self.name} [{self.training}]" if str(self.training) else self.name


TANH_RNN = Subject("tanh RNN", {})
LSTM, GRU = Subject("LSTM", {"cell": "lstm"}), Subject("GRU", {"cell": "gru"})
CHRONO_LSTM = Subject("chrono LSTM", {"cell": "lstm", "init": "chrono"})
IRNN = Subject("IRNN", {"activation": "relu", "init": "identity"})
ORTHOGONAL_RNN = Subject("orthogonal tanh RNN", {"init": "orthogonal"})
SGD_TANH_RNN = Subject("norm-clipped tanh RNN", {"clip": "norm"}, SGD_ONE_LAYER)
SGD_IRNN = Subject("norm-clipped IRNN", {"activation": "relu", "init": "identity", "clip": "norm"}, SGD_ONE_LAYER)
SGD_UNCLIPPED_IRNN = Subject("unclipped IRNN", {"activation": "relu", "init": "identity"}, SGD_ONE_LAYER)


@dataclass(frozen=True)
class Bound:
    """One part of a claim: the subject's value is at least (`at_least`) or at most `threshold`."""

    subject: Subject
    at_least: bool
    threshold: float

    def holds(self, low: float, high: float) -> bool | None:
        """True where the interval [low, high] lies on the claim's side of the threshold, False where it lies on the
        other side, None where it straddles it or is not known (NaN: fewer than two seeds)."""
        if not (np.isfinite(low) and np.isfinite(high)):
            return None
        if self.at_least:
            return True if low >= self.threshold else False if high < self.threshold else None
        return True if high <= self.threshold else False if low > self.threshold else None

    def words(self, measure: str) -> str:
        return f"{self.subject.label} {MEASURES[measure]} {'≥' if self.at_least else '≤'} {self.threshold:g}"


def at_least(subject: Subject, threshold: float) -> Bound:
    return Bound(subject, True, threshold)


def at_most(subject: Subject, threshold: float) -> Bound:
    return Bound(subject, False, threshold)


@dataclass(frozen=True)
class Claim:
    """What the literature reports for `task` at lengths from `min_length` to `max_length`: every bound holds.
    `shown` subjects are reported beside the bounded ones for comparison, not checked. `applies`, where given, must
    hold for the setting to test the claim at all (clipping needs unclipped runs that diverge)."""

    key: str
    says: str  # the claim, naming what is tested
    task: str
    min_length: int
    bounds: tuple[Bound, ...]
    sources: tuple[str, ...]
    measure: str = SCORE  # a record column (MEASURES)
    max_length: int | None = None  # None: no upper length (longer only gets harder for the claim's subject)
    shown: tuple[Subject, ...] = ()
    applies: Bound | None = None
    matched: bool = False  # its subjects compared at one optimizer setting (else each at its own best: select_tuned)
    implementation_check: bool = False  # true by construction: it tests the measurement, not the literature

    @property
    def needed(self) -> tuple[Subject, ...]:
        """The subjects whose values decide the verdict, each once, in order."""
        subjects = [b.subject for b in self.bounds] + ([self.applies.subject] if self.applies else [])
        return tuple(dict.fromkeys(subjects))

    @property
    def subjects(self) -> tuple[Subject, ...]:
        return tuple(dict.fromkeys(self.needed + self.shown))

    @property
    def expects(self) -> str:
        said = "; ".join(b.words(self.measure) for b in self.bounds)
        return said + (f", where {self.applies.words(self.measure)}" if self.applies else "")

    @property
    def title(self) -> str:
        """The claim and its sources, in words; an implementation check says so first."""
        kind = "Implementation check: " if self.implementation_check else ""
        return f"{kind}{self.says} ({'; '.join(self.sources)})"

    def covers(self, length: int) -> bool:
        return self.min_length <= length and (self.max_length is None or length <= self.max_length)

    @property
    def lengths(self) -> str:
        return f"T ≥ {self.min_length}" if self.max_length is None else f"T = {self.min_length}-{self.max_length}"


CLAIMS: tuple[Claim, ...] = (
    Claim("gradient-vanishes-at-init", "true by construction, so a test of the probe rather than a finding: at "
          "PyTorch's default initialisation a tanh RNN's recurrent matrix has a spectral radius of about 1/√3 ≈ 0.58 "
          "and a gated cell's keep gate is about σ(0) = 0.5, so the gradient shrinks geometrically with distance: at "
          "T ≥ 100 the probe must read the gradient of the dependency's loss reaching the input's position below "
          "1e-10 of the one reaching the last step for the tanh RNN, LSTM and GRU at default initialisation, and an "
          "IRNN's within two orders of magnitude", "adding", 100,
          (at_most(TANH_RNN, -10), at_most(LSTM, -10), at_most(GRU, -10), at_least(IRNN, -2)),
          ("Hochreiter 1991 and Bengio et al. 1994 (tanh RNN)", "Jozefowicz et al. 2015 and Tallec & Ollivier 2018 "
           "(gated cells forget at default gate biases)", "Le et al. 2015 (IRNN)"),
          measure=PROBE, implementation_check=True),
    Claim("tanh-rnn-fails-adding", "a tanh RNN does not learn the adding problem at T ≥ 150: it stays at the "
          "memoryless baseline", "adding", 150, (at_most(TANH_RNN, AT_BASELINE),),
          ("Hochreiter & Schmidhuber 1997", "Le et al. 2015")),
    Claim("gated-cells-solve-adding", "an LSTM with its forget gate opened at initialisation (here init=chrono: "
          "Tallec & Ollivier 2018's gate biases) and a GRU solve the adding problem at T = 150-200; PyTorch's default "
          "LSTM (forget bias ≈ 0) is shown beside them, not claimed: the sources' LSTMs keep the gate open "
          "(Hochreiter & Schmidhuber's has no forget gate; Jozefowicz et al. 2015 set its bias to 1)", "adding", 150,
          (at_least(CHRONO_LSTM, SOLVED), at_least(GRU, SOLVED)),
          ("Hochreiter & Schmidhuber 1997", "Le et al. 2015", "Arjovsky et al. 2016", "Tallec & Ollivier 2018",
           "at longer T the evidence splits: Bai et al. 2018 report the LSTM at the baseline at T = 600, the GRU "
           "solving it"), max_length=200, shown=(LSTM,)),
    Claim("irnn-solves-adding", "an identity-initialised ReLU RNN (IRNN) trained as its paper trained it (SGD, one "
          "layer, gradient norm clipping) solves the adding problem at T = 150-200; the tanh RNN trained alike, which "
          "the paper reports failing, is shown beside it", "adding", 150, (at_least(SGD_IRNN, SOLVED),),
          ("Le et al. 2015",), max_length=200, shown=(SGD_TANH_RNN,)),
    Claim("clipping-stops-divergence", "under SGD, gradient norm clipping keeps an RNN from diverging where it mostly "
          "diverges unclipped (here the IRNN, whose identity recurrence SGD's first steps blow up)", "adding", 100,
          (at_most(SGD_IRNN, MOSTLY),), ("Pascanu et al. 2013",), measure=DIVERGED,
          applies=at_least(SGD_UNCLIPPED_IRNN, MOSTLY), matched=True),
    Claim("orthogonal-rnn-beats-gated-cells-on-copy", "on the copy task at long delays (T ≥ 500) the LSTM and GRU "
          "(default initialisation) sit at the memoryless baseline while a tanh RNN with an orthogonal recurrence "
          "does better, one combination each (Arjovsky et al. 2016's better model, the unitary RNN, is not in this "
          "grid)", "copy", 500,
          (at_most(LSTM, AT_BASELINE), at_most(GRU, AT_BASELINE), at_least(ORTHOGONAL_RNN, AT_BASELINE)),
          ("Henaff et al. 2016", "Arjovsky et al. 2016 (the LSTM at the baseline)",
           "Bai et al. 2018 (LSTM and GRU at the baseline)")),
    Claim("chrono-lstm-beats-copy-baseline", "on the copy task at long delays (T ≥ 500) the LSTM at default "
          "initialisation sits at the memoryless baseline while the LSTM with chrono gate biases does better", "copy",
          500, (at_most(LSTM, AT_BASELINE), at_least(CHRONO_LSTM, AT_BASELINE)), ("Tallec & Ollivier 2018",)),
)
