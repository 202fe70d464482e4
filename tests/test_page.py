"""What people paste: the leaderboard's LaTeX tables compile as they are written (real pdflatex, where installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rnnbench.leaderboard import build
from rnnbench.leaderboard.render import latex_escape
from tests.test_leaderboard import LSTM, RELU, RNN, write_record

PDFLATEX = shutil.which("pdflatex")
DOCUMENT = r"""\documentclass{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage{booktabs}
\usepackage[margin=1cm,landscape]{geometry}
\begin{document}
\input{%s}
\end{document}
"""


def _compile(tex: Path, workdir: Path) -> subprocess.CompletedProcess:
    doc = workdir / f"{tex.stem}-doc.tex"
    doc.write_text(DOCUMENT % tex.as_posix())
    return subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=workdir,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(PDFLATEX is None and not os.environ.get("RNNBENCH_REQUIRE_TEX"),
                    reason="needs pdflatex with booktabs (apt-get install texlive-latex-base texlive-latex-recommended)")
def test_every_latex_table_compiles_as_a_float_with_caption_label_and_aligned_numbers(tmp_path):
    assert PDFLATEX, "RNNBENCH_REQUIRE_TEX is set but pdflatex is not on the PATH"
    results = tmp_path / "results"
    for seed in range(2):
        write_record(results, seed=seed, value=0.01 + seed / 100, remedy=LSTM)
        write_record(results, seed=seed, value=0.15, remedy=RNN)
        write_record(results, seed=seed, status="diverged", remedy=RELU)
    out = tmp_path / "site"
    build([results], out)
    tables = sorted((out / "tables").glob("*.tex"))
    assert {t.stem for t in tables} >= {"overall", "effects", "known"}
    for tex in tables:
        text = tex.read_text()
        assert text.startswith("\\begin{table}") and f"\\label{{tab:{tex.stem}}}" in text and "\\caption{" in text
        assert "\\toprule" in text and "\\bottomrule" in text
        proc = _compile(tex, tmp_path)
        assert proc.returncode == 0, (tex.name, proc.stdout[-2000:])
        assert (tmp_path / f"{tex.stem}-doc.pdf").stat().st_size > 1000
    overall = (out / "tables" / "overall.tex").read_text()
    columns = overall.split("\\begin{tabular}{", 1)[1].split("}", 1)[0]
    assert columns.startswith("l") and "r" in columns  # the combo left, its numbers right-aligned
    known = (out / "tables" / "known.tex").read_text()
    assert "p{" in known  # the claims' long text wraps instead of running off the page


def test_latex_escape_writes_symbols_as_math_and_unknown_ones_as_code_points():
    assert latex_escape("50% of $x_1 ≤ √2 ≈ σ") == r"50\% of \$x\_1 $\leq$ $\surd$2 $\approx$ $\sigma$"
    assert latex_escape("é") == "é" and latex_escape("∂") == r"$\partial$" and latex_escape("⊕") == "[U+2295]"
