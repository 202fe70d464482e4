"""A leaderboard section and a table format of a user's own, from a file of theirs (README: Extending the
leaderboard): `rnnbench leaderboard --include FILE` shows the section after rnnbench's own and writes every table in
the format; a name registered twice, an unknown name, a section that raises and a taken key fail in one line."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.leaderboard import SECTIONS, TABLE_FORMATS
from tests.conftest import REPO, cli
from tests.test_leaderboard import ADD_BASE, COPY_BASE, LSTM, RNN, score, write_record

ADDING = {LSTM["cell"]: (0.01, 0.03, 0.02), RNN["cell"]: (0.15, 0.12, 0.16)}  # test mse per seed


def readme_file(folder: Path) -> Path:
    """The README's my_sections.py (its "Extending the leaderboard" section), written into `folder`."""
    section = (REPO / "README.md").read_text().split("## Extending the leaderboard", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README shows one file"
    assert len(blocks[0].splitlines()) <= 30, "the README promises at most 30 lines"
    (folder / "my_sections.py").write_text(blocks[0])
    return folder / "my_sections.py"


def records(folder: Path) -> Path:
    """adding: lstm and rnn, three seeds each; copy: lstm, one seed."""
    for remedy in (LSTM, RNN):
        for seed, mse in enumerate(ADDING[remedy["cell"]]):
            write_record(folder, seed=seed, value=mse, remedy=remedy)
    write_record(folder, task="copy", params={"delay": 100}, metric="ce", baseline=COPY_BASE, value=0.001, remedy=LSTM)
    return folder


def leaderboard(folder: Path, *include: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cli("leaderboard", "--include", *map(str, include), "--results", str(folder / "results"),
                              "--out", str(folder / "site")), cwd=folder, capture_output=True, text=True, timeout=300)


def test_the_readmes_section_and_format_appear_on_the_page_and_for_every_table(tmp_path):
    records(tmp_path / "results")
    proc = leaderboard(tmp_path, readme_file(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = tmp_path / "site"
    table = pd.read_csv(site / "tables" / "seed-spread.csv")
    spread = {(r.task_label, r.label): (r.seeds, r.spread) for r in table.itertuples()}
    for remedy, label in ((LSTM, "lstm"), (RNN, "rnn (baseline)")):  # by hand: the std over seeds of each score
        seeds, std = spread["adding(seq_len=100)", label]
        mses = ADDING[remedy["cell"]]
        assert seeds == 3 and std == pytest.approx(statistics.stdev(score(m, ADD_BASE) for m in mses))
    assert spread["copy(delay=100)", "lstm"][0] == 1 and pd.isna(spread["copy(delay=100)", "lstm"][1])
    assert list(table["spread"].iloc[:2]) == sorted(table["spread"].iloc[:2], reverse=True)  # largest first

    markdown, index = (site / "leaderboard.md").read_text(), (site / "index.html").read_text()
    assert "## Seed spread" in markdown and (site / "tables" / "seed-spread.md").read_text() in markdown
    assert '<section id="section-seed-spread"><h2>Seed spread</h2>' in index and 'id="seed-spread"' in index
    order = [m.group(1) for m in re.finditer(r'<section id="section-([^"]+)"', index)]
    assert order[0] == "overall" and order[-1] == "seed-spread" and "known" in order  # after rnnbench's own
    stems = {p.stem for p in (site / "tables").glob("*.html")}
    assert {p.stem for p in (site / "tables").glob("*.json")} == stems and "seed-spread" in stems
    for stem in stems:  # the user's format, for every table: its rows as the csv has them
        rows = json.loads((site / "tables" / f"{stem}.json").read_text())
        assert len(rows) == len(pd.read_csv(site / "tables" / f"{stem}.csv"))


def test_the_users_file_is_the_origin_of_its_names_alone(tmp_path):
    """The user's file is what first imports the leaderboard: rnnbench's own sections and formats register without
    an origin all the same, the user's with the file's source hash."""
    code = ("import json; from rnnbench.bench.plugins import include; include([%r]); from rnnbench.leaderboard import "
            "SECTIONS as S, TABLE_FORMATS as F; print(json.dumps([[[n, R.origin(n)] for n in R] for R in (S, F)]))"
            % str(readme_file(tmp_path)))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sections, formats = (dict(pairs) for pairs in json.loads(proc.stdout))
    assert list(sections) == [*SECTIONS, "seed-spread"] and list(formats) == [*TABLE_FORMATS, "json"]
    assert all(sections[n] is None for n in SECTIONS) and all(formats[n] is None for n in TABLE_FORMATS)
    assert re.fullmatch(r"[0-9a-f]{16}", sections["seed-spread"]) and formats["json"] == sections["seed-spread"]


MINE = "from rnnbench.leaderboard import SECTIONS, Section\n\n"


@pytest.mark.parametrize("source, needle", [
    (MINE + "SECTIONS.register('overall')(lambda ctx: None)\n",
     "--include {file} (line 3): ValueError: leaderboard section 'overall' is already registered"),
    (MINE + "longest = SECTIONS.get('frontiers')\n",
     "unknown leaderboard section 'frontiers' (did you mean 'frontier'?)"),
    (MINE + "SECTIONS.register('mine')(lambda ctx: ctx.records['no such column'])\n",
     "leaderboard section 'mine': KeyError: 'no such column'"),
    (MINE + "SECTIONS.register('mine')(lambda ctx: Section('overall', 'Mine', '', ctx.overall))\n",
     "leaderboard section 'mine': 'overall' is taken by section 'overall'"),
])
def test_a_bad_section_fails_in_one_line(tmp_path, source, needle):
    records(tmp_path / "results")
    file = tmp_path / "mine.py"
    file.write_text(source)
    proc = leaderboard(tmp_path, file)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert needle.format(file=file) in lines[0], lines[0]
    assert not (tmp_path / "site" / "index.html").exists()
