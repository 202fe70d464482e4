"""What holds against hostile records, bad input, concurrent sweeps and faults, tried with real files, processes and
the real command line at tiny sizes (the README's section "Reliability" counts these tests' cases)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, cli
from tests.test_leaderboard import LSTM, RNN, write_record

# Hostile or damaged records: valid JSON, each with one field of the wrong type or an absurd value, as a merged
# folder from another machine or a hand edit can hold them. Each is skipped with one warning naming its file and
# the field; none changes a number in a table.
HOSTILE = {
    "metrics": [0.01],
    "combo": 7,
    "remedies": {"cell": 3},
    "remedies ": "rnn",  # (a trailing space: a second case of one field)
    "normalized_score": True,
    "normalized_score ": 1e308,
    "normalized_score  ": "0.99",
    "val_score": 5e6,
    "metrics ": {"mse": 1e308},
    "metrics  ": {"mse": True},
    "wall_seconds": math.nan,
    "baseline": {"mse": math.inf},
    "higher_is_better": "no",
    "status": ["ok"],
    "config.seed": "zero",
    "config.task": [],
    "config.budget.learning_rate": "fast",
    "best_step": -3,
    "history": ["step 100"],
    "grad.probe.start.norms": ["a", "b"],
    "versions": "0.1.0",
    "created": 20261127,
    "last": {"metrics": {"mse": [1]}},
}


def _plant(root: Path, field: str, value) -> Path:
    """A finished lstm record on adding with a score of 1 (it would head every table), `field` set to `value`."""
    path = write_record(root, seed=7, value=0.0, remedy=LSTM, run_id=f"hostile-{len(list(root.glob('runs/*')))}")
    record = json.loads(path.read_text())
    *parents, name = field.strip().split(".")
    holder = record
    for parent in parents:
        holder = holder.setdefault(parent, {})
    holder[name] = value
    path.write_text(json.dumps(record))  # NaN and Infinity as Python's json writes them
    return path


def _folder(root: Path) -> Path:
    """Three seeds of two combos on adding, as the runner writes them."""
    for seed, (lstm, rnn) in enumerate([(0.01, 0.15), (0.02, 0.16), (0.04, 0.12)]):
        write_record(root, seed=seed, value=lstm, remedy=LSTM)
        write_record(root, seed=seed, value=rnn, remedy=RNN)
    return root


def test_hostile_records_are_skipped_by_name_and_change_no_table(tmp_path):
    """`rnnbench leaderboard` over a folder with one hostile record per case: exit 0, one warning per record naming
    its file and its field, and every table exactly as without them."""
    clean, hostile = _folder(tmp_path / "clean"), _folder(tmp_path / "hostile")
    planted = {field: _plant(hostile, field, value) for field, value in HOSTILE.items()}
    runs = {}
    for name, folder in (("clean", clean), ("hostile", hostile)):
        site = tmp_path / f"{name}-site"
        runs[name] = subprocess.run(cli("leaderboard", "--results", str(folder), "--out", str(site)), cwd=REPO,
                                    capture_output=True, text=True, timeout=300)
        assert runs[name].returncode == 0 and "Traceback" not in runs[name].stderr, runs[name].stderr
    warned = [line for line in runs["hostile"].stderr.splitlines() if line.startswith("rnnbench: warning: skipping")]
    assert len(warned) == len(HOSTILE), runs["hostile"].stderr
    for field, path in planted.items():
        lines = [line for line in warned if str(path) in line]
        assert len(lines) == 1, (field, warned)
        assert f"field {field.strip().split('.')[0]!r}" in lines[0] or f"field {field.strip()!r}" in lines[0] \
            or (field == "last" and "field 'last.metrics'" in lines[0]), lines[0]
    def page(site: str, table: str) -> list[str]:  # the page but the minute it was built at
        return [line for line in (tmp_path / site / table).read_text().splitlines() if not line.startswith("- **built**")]

    for table in ("leaderboard.md", "tables/overall.csv"):
        assert page("hostile-site", table) == page("clean-site", table)


def test_known_results_warn_of_each_hostile_record_as_the_leaderboard_does(tmp_path):
    """`rnnbench known` over a folder with one hostile record per case states its verdicts and says, one line per
    record, which it skipped and why: the leaderboard's own warnings, word for word."""
    hostile = _folder(tmp_path / "hostile")
    planted = [_plant(hostile, field, value) for field, value in HOSTILE.items()]
    said = {}
    for prog, args in (("rnnbench known", ["known", str(hostile)]),
                       ("rnnbench", ["leaderboard", "--results", str(hostile), "--out", str(tmp_path / "site")])):
        proc = subprocess.run(cli(*args), cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
        said[prog] = sorted(line.removeprefix(f"{prog}: warning: ") for line in proc.stderr.splitlines()
                            if line.startswith(f"{prog}: warning: skipping"))
    assert len(said["rnnbench known"]) == len(planted)
    assert all(sum(str(path) in line for line in said["rnnbench known"]) == 1 for path in planted)
    assert said["rnnbench known"] == said["rnnbench"]


def test_a_bool_or_absurd_score_is_refused_and_a_real_exploded_run_counts_zero(tmp_path):
    """true is not a score of 1, a score above 1e6 is refused; a score of -1.2e7 (an exploded Adam run's) is kept
    and counts as the baseline's 0 (the score rule)."""
    from rnnbench.leaderboard import load_results
    from rnnbench.leaderboard.tables import seed_score

    root = _folder(tmp_path)
    with pytest.warns(UserWarning, match=r"field 'normalized_score' must be a finite number <= 1e\+06, got True"):
        _plant(root, "normalized_score", True)
        n = len(load_results(root))
    assert n == 6
    exploded = write_record(root, seed=9, value=2e6, remedy=RNN)
    with pytest.warns(UserWarning, match="hostile"):
        df = load_results(root).set_index("source")
    assert df.loc[str(exploded), "normalized_score"] == pytest.approx(-1.2e7)
    assert seed_score(df).loc[str(exploded)] == 0.0


def test_the_leaderboard_step_of_a_sweep_and_the_known_results_survive_a_hostile_record(tiny_suite, tmp_path):
    """A sweep into a folder holding a hostile record trains, builds its leaderboard and exits 0; leaderboard.known
    over it states its verdicts (no traceback)."""
    out = tmp_path / "out"
    for field in ("metrics", "combo", "normalized_score"):
        _plant(out, field, HOSTILE[field])
    suite = tmp_path / "one.yaml"
    suite.write_text(tiny_suite.read_text().replace("axes:\n  - {cell: [rnn, lstm]}\n  - {cell: [rnn], clip: [norm]}\n",
                                                    "axes: {cell: [rnn]}\n"))
    proc = subprocess.run(cli("run", "--suite", str(suite), "--tasks", "adding", "--out", str(out), "--workers", "0",
                              "--quiet"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert (out / "leaderboard" / "index.html").exists()
    assert len(re.findall(r"rnnbench: warning: skipping result file .*hostile-\d/result.json: field", proc.stderr)) == 3
    known = subprocess.run(cli("known", str(out)), cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert known.returncode in (0, 1) and "Traceback" not in known.stderr, known.stderr
    assert len(re.findall(r"rnnbench known: warning: skipping result file .*hostile-\d/result.json: field",
                          known.stderr)) == 3, known.stderr


# ---------------------------------------------------------------- bad input: one line, exit 2, before any training
def _suite(tmp_path: Path, text: str, name: str = "suite.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _corpus(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    return str(path)


TEXT_SUITE = "tasks: {{text: {{corpus: {corpus}, bptt: 4, vocab_size: 20}}}}\nbudget: {{max_steps: 2, eval_every: 1}}\n"
BAD_INPUTS = {  # (arguments (SUITE: a suite file of the text), what the one line says)
    "a missing suite file": (lambda t: ["--suite", "./my_suite.yaml"], "suite file ./my_suite.yaml does not exist"),
    "a missing suite in a folder": (lambda t: ["--suite", "suites/mine"], "suite file suites/mine does not exist"),
    "a hundred million seeds": (lambda t: ["--suite", _suite(t, "tasks: {adding: {}}\nseeds: 100000000\n")],
                                "the grid holds 100,000,000 runs, more than 200,000"),
    "a hundred million seeds given as a flag": (lambda t: ["--suite", "quick", "--seeds", "100000000"],
                                                "runs, more than 200,000; fewer seeds"),
    "max_steps of 10^21": (lambda t: ["--suite", _suite(t, "tasks: {adding: {}}\nbudget: {max_steps: "
                                                         "1000000000000000000000}\n")],
                           "budget max_steps must be <= 100,000,000, got 1,000,000,000,000,000,000,000"),
    "a batch of ten million": (lambda t: ["--suite", _suite(t, "tasks: {adding: {}}\nbudget: {batch_size: "
                                                              "10000000}\n")],
                               "budget batch_size must be <= 1,000,000, got 10,000,000"),
    "a warmup of a billion steps": (lambda t: ["--suite", _suite(t, "tasks: {adding: {}}\nbudget: {warmup_steps: "
                                                                        "1000000000}\n")],
                                        "budget warmup_steps must be <= 100,000,000"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_in_one_line_at_once_even_in_a_dry_run(case, tmp_path):
    args, needle = BAD_INPUTS[case]
    proc = subprocess.run(cli("run", *args(tmp_path), "--out", str(tmp_path / "out"), "--dry-run"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0], lines[0]


def test_a_grid_above_the_limit_needs_the_explicit_flag(tiny_suite, tmp_path, monkeypatch, capsys):
    import rnnbench.bench.grid as grid
    from rnnbench.bench.cli import main
    from rnnbench.bench.grid import expand, grid_size
    from rnnbench.bench.suite import load_suite

    suite = load_suite(str(tiny_suite))
    assert grid_size(suite) == len(expand(suite)) == 6
    assert grid_size(suite, ["copy"], 5) == len(expand(suite, ["copy"], 5)) == 15
    monkeypatch.setattr(grid, "GRID_LIMIT", 5)
    assert main(["run", "--suite", str(tiny_suite), "--out", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "rnnbench: error: suite tiny: the grid holds 6 runs, more than 5; fewer seeds, tasks or levels" in err
    assert main(["run", "--suite", str(tiny_suite), "--out", str(tmp_path), "--dry-run", "--allow-large"]) == 0
    assert "suite tiny: 6 runs" in capsys.readouterr().out


@pytest.mark.parametrize("content, needle", [
    (b"the cat sat\n" * 30 + b"caf\xe9 latin-1\n", "its data is not UTF-8 text (byte 0xe9 at offset 363)"),
    (b"five lines\n" * 5, "has 5 lines; need at least 20"),
])
def test_a_bad_corpus_fails_once_at_start_naming_its_file(content, needle, tmp_path):
    corpus = _corpus(tmp_path, content)
    suite = _suite(tmp_path, TEXT_SUITE.format(corpus=corpus))
    out = tmp_path / "out"
    proc = subprocess.run(cli("run", "--suite", suite, "--out", str(out), "--workers", "0"), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0] and corpus in lines[0], lines[0]
    assert not (out / "runs").exists() and "[1/" not in proc.stdout  # nothing trained, no run recorded failed


def _in_a_small_file_system(command: list[str], setup: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`command` run with a fresh 256 KiB tmpfs at /mnt (in a user and mount namespace of its own: no root needed, and
    nothing outside sees it), after the shell lines `setup` prepared it. Skips where namespaces are not allowed."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user namespaces here (unshare -rm)")
    script = f"mount -t tmpfs -o size=256k tmpfs /mnt && {setup} && exec \"$@\""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *command], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("setup, needle", [
    ("mkdir /mnt/out && mount -o remount,ro /mnt", "cannot write there (Read-only file system)"),
    ("mkdir /mnt/out && (head -c 1000000 /dev/zero > /mnt/fill 2>/dev/null || true)",
     "cannot write there (No space left on device)"),
])
def test_a_read_only_or_full_out_fails_in_one_line_before_training(setup, needle, tiny_suite):
    proc = _in_a_small_file_system(cli("run", "--suite", str(tiny_suite), "--out", "/mnt/out", "--workers", "0"),
                                   setup)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0] == f"rnnbench: error: --out /mnt/out: {needle}; free some space or choose a writable folder"
    assert "[1/" not in proc.stdout  # before any training


# A disk that fills mid-sweep, made real in the sweep's processes through a sitecustomize: once AFTER records are
# under OUT, the next process to open a record's temp file either lowers its own file-size limit (RLIMIT_FSIZE: its
# writes past 64 bytes fail with EFBIG, on any POSIX system, no root) or fills the file system (ENOSPC).
FULL_DISK = """
import os, sys
from pathlib import Path
env = os.environ.get
out, after, how = env("RNNBENCH_TEST_OUT"), env("RNNBENCH_TEST_FULL_AFTER"), env("RNNBENCH_TEST_FULL_HOW")
if out and after:
    def fill(event, args):
        if event != "open" or ".result." not in str(args[0]):
            return
        if len(list(Path(out).glob("runs/*/result.json"))) < int(after):
            return
        if how == "fsize":
            import resource
            resource.setrlimit(resource.RLIMIT_FSIZE, (64, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        elif not Path(how).exists():  # a file filling the file system
            try:
                with open(how, "wb") as f:
                    while True:
                        f.write(bytes(65536))
                        f.flush()
            except OSError:
                pass
    sys.addaudithook(fill)
"""
# (the sweep's output through pipes: a file-size limit holds for its stdout and stderr where they are files)
SWEEP_AND_RESUME = """
{ { "$@"; echo $? >"$T/stop.rc"; } 2>&1 1>&3 | cat >"$T/stop.err"; } 3>&1 | cat >"$T/stop.out"
cp -a "$OUT" "$T/after-stop"
if [ "$HOW" != fsize ]; then rm -f "$HOW"; fi
unset RNNBENCH_TEST_FULL_AFTER
{ { "$@"; echo $? >"$T/resume.rc"; } 2>&1 1>&3 | cat >"$T/resume.err"; } 3>&1 | cat >"$T/resume.out"
cp -a "$OUT" "$T/after-resume"
"""


@pytest.mark.parametrize("how, workers", [("file-size limit", "1"), ("file-size limit", "0"),
                                          ("full file system", "1")])
def test_a_disk_that_fills_mid_sweep_loses_nothing_and_stops_the_sweep_in_one_line(how, workers, tiny_suite,
                                                                                     tmp_path):
    """Two records written, then no record can be written: the sweep stops at once, exit 1, with one line naming the
    record it could not write and why; the two records are whole and no temp file is left; the same command, once
    space is back, trains the other runs and keeps the two as they were. `file-size limit` runs anywhere (EFBIG), in
    a worker process and in the sweep's own (--workers 0); `full file system` fills a 512 KiB tmpfs (ENOSPC; needs
    user namespaces, else skipped)."""
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(FULL_DISK)
    (tmp_path / "script.sh").write_text(SWEEP_AND_RESUME)
    if how == "file-size limit":
        out, mode, reason, prefix = tmp_path / "out", "fsize", "File too large", ["sh"]
    else:
        if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
            pytest.skip("no user namespaces here (unshare -rm)")
        out, mode, reason = Path("/mnt/out"), "/mnt/fill", "No space left on device"
        prefix = ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=512k tmpfs /mnt && exec sh "$0" "$@"']
    path = os.pathsep.join(filter(None, [str(tmp_path / "inject"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "T": str(tmp_path), "OUT": str(out), "HOW": mode,
           "RNNBENCH_TEST_OUT": str(out), "RNNBENCH_TEST_FULL_AFTER": "2", "RNNBENCH_TEST_FULL_HOW": mode}
    subprocess.run([*prefix, str(tmp_path / "script.sh"), *cli("run", "--suite", str(tiny_suite), "--out", str(out),
                                                                "--workers", workers, "--no-leaderboard")],
                   cwd=REPO, env=env, capture_output=True, timeout=500, check=True)
    said = {phase: ((tmp_path / f"{phase}.out").read_text(), (tmp_path / f"{phase}.err").read_text(),
                    int((tmp_path / f"{phase}.rc").read_text())) for phase in ("stop", "resume")}
    stdout, stderr, rc = said["stop"]
    errors = [line for line in stderr.splitlines() if line.startswith("rnnbench: error: ")]
    assert rc == 1 and len(errors) == 1 and "Traceback" not in stderr, stderr
    assert re.fullmatch(rf"rnnbench: error: cannot write {out}/runs/\w+/result\.json \({reason}\): the sweep stopped; "
                        rf"the 2 records in {out}/runs/ are kept as they were; free some space and run the same "
                        r"command again to resume", errors[0]), errors[0]
    stopped = {p.relative_to(tmp_path / "after-stop"): p.read_bytes() for p in (tmp_path / "after-stop").rglob("*")
               if p.is_file()}
    records = {p: json.loads(b) for p, b in stopped.items() if p.name == "result.json"}
    assert len(records) == 2 and all(r["status"] == "ok" for r in records.values()), stdout
    assert not [p for p in stopped if p.suffix == ".tmp"], list(stopped)
    stdout, stderr, rc = said["resume"]
    assert rc == 0 and "6 runs in the grid, 2 already finished, 4 to train" in stdout, stdout + stderr
    resumed = {p.relative_to(tmp_path / "after-resume"): p for p in (tmp_path / "after-resume").rglob("result.json")}
    assert len(resumed) == 6 and all(json.loads(p.read_text())["status"] == "ok" for p in resumed.values())
    assert all(resumed[p].read_bytes() == stopped[p] for p in records)  # the two as they were


def test_a_leaderboard_build_that_cannot_write_a_file_fails_in_one_line_and_leaves_the_old_one_whole(tmp_path):
    """A build whose page exceeds the file-size limit the process runs under (RLIMIT_FSIZE, above the start's probe):
    exit 1, one line naming the page and why, the page of the build before it as it was, no temp file left."""
    from rnnbench.bench.commands.output import PROBE_BYTES

    results, site = _folder(tmp_path / "results"), tmp_path / "site"
    args = ["leaderboard", "--results", str(results), "--out", str(site)]
    assert subprocess.run(cli(*args), cwd=REPO, capture_output=True, timeout=300).returncode == 0
    page = (site / "index.html").read_bytes()
    limit = PROBE_BYTES + 4096
    assert len(page) > limit
    limited = [cli()[0], "-c", "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, "
               f"({limit}, resource.RLIM_INFINITY)); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
               *cli(*args)[1:]]
    proc = subprocess.run(limited, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rnnbench: error: ")]
    assert errors == [f"rnnbench: error: cannot write {site / 'index.html'} (File too large)"], proc.stderr
    assert (site / "index.html").read_bytes() == page and not list(site.rglob("*.tmp"))


# ---------------------------------------------------------------- where records come from; a worker's death
def _one_run_suite(tiny_suite: Path, tmp_path: Path) -> str:
    text = tiny_suite.read_text().replace("axes:\n  - {cell: [rnn, lstm]}\n  - {cell: [rnn], clip: [norm]}\n",
                                          "axes: {cell: [rnn]}\n")
    return _suite(tmp_path, text, "one.yaml")


def test_records_of_another_version_or_a_dirty_checkout_are_named_with_counts(tiny_suite, tmp_path):
    """Three real records, one edited to another rnnbench version, one to another torch version made in a dirty
    checkout: the dry run and the start of a resumed sweep (against this installation) and the leaderboard (among
    the records) say so, with counts."""
    from rnnbench.bench.recorder import versions

    suite, out = _one_run_suite(tiny_suite, tmp_path), tmp_path / "out"
    args = ["run", "--suite", suite, "--tasks", "adding", "--seeds", "3", "--out", str(out), "--workers", "0"]
    assert subprocess.run(cli(*args, "--quiet", "--no-leaderboard"), cwd=REPO, capture_output=True,
                          timeout=300).returncode == 0
    paths = sorted(out.glob("runs/*/result.json"))
    assert len(paths) == 3
    here = versions()
    for i, path in enumerate(paths):
        record = json.loads(path.read_text())
        record["git_commit"] = "48207aa" + ("-dirty" if i == 1 else "")
        record["versions"].update({0: {"rnnbench": "0.0.1"}, 1: {"torch": "1.0.0"}}.get(i, {}))
        path.write_text(json.dumps(record))
    expected = [
        f"note: 1 of the 3 records were made by another rnnbench version than this one ({here['rnnbench']}): 0.0.1 (1)",
        f"note: 1 of the 3 records were made by another torch version than this one ({here['torch']}): 1.0.0 (1)",
        "note: 1 of the 3 records were made in a checkout with uncommitted changes (git_commit ...-dirty): their code "
        "is no commit's"]
    for mode in ("--dry-run", "--no-leaderboard"):  # the dry run, and the start of the sweep that keeps them
        proc = subprocess.run(cli(*args, mode), cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert [line for line in proc.stdout.splitlines() if line.startswith("note: ")] == expected, proc.stdout
    assert "3 runs in the grid, 3 already finished, 0 to train" in proc.stdout
    assert all(json.loads(p.read_text())["git_commit"].startswith("48207aa") for p in paths)  # noted, not retrained
    board = subprocess.run(cli("leaderboard", "--results", str(out)), cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert board.returncode == 0, board.stderr
    assert (f"rnnbench: warning: the 3 records were made by 2 rnnbench versions: 0.0.1 (1), {here['rnnbench']} (2)"
            in board.stderr.splitlines()), board.stderr
    assert f"2 torch versions: 1.0.0 (1), {here['torch']} (2)" in board.stderr
    assert "rnnbench: warning: 1 of the 3 records were made in a checkout with uncommitted changes" in board.stderr


def test_a_recovered_worker_death_is_reported_in_one_line(tiny_suite, tmp_path):
    """A worker SIGKILLed once (through the workers' sitecustomize, as the out-of-memory killer would) breaks the pool;
    the runs in flight, rerun alone, all train: the sweep says so in one line, and in its summary."""
    from rnnbench.bench.grid import expand
    from rnnbench.bench.suite import load_suite
    from tests.test_runner import KILLER

    grid = expand(load_suite(str(tiny_suite)))
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "inject"), str(REPO)]),
           "RNNBENCH_TEST_KILL_RUN": grid[0].run_id, "RNNBENCH_TEST_KILL_ONCE": str(tmp_path / "killed")}
    out = tmp_path / "res"
    done = subprocess.run(cli("run", "--suite", str(tiny_suite), "--out", str(out), "--workers", "2",
                              "--no-leaderboard"), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and (tmp_path / "killed").exists(), done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("a worker process died")]
    assert len(lines) == 1, done.stdout
    n = int(re.search(r"with (\d+) run\(s\) in flight", lines[0]).group(1))
    assert 1 <= n <= 4 and lines[0].endswith(f"each rerun alone, {n} trained to the end, 0 died again and recorded "
                                              "failed"), lines[0]
    assert f"{n} trained after a worker process died (each rerun alone)" in done.stdout
    assert all(json.loads(p.read_text())["status"] == "ok" for p in out.glob("runs/*/result.json"))


def test_a_killed_builds_temp_files_are_removed_and_a_build_in_progress_kept(tmp_path):
    """A leaderboard build killed mid-write leaves atomic_write's temp files ('.<name>.<random>.tmp'): the next build
    removes those older than an hour, and keeps a young one (another shard's build about to rename it)."""
    import os

    from rnnbench.leaderboard import build
    from tests.test_leaderboard import write_record

    results = tmp_path / "results"
    write_record(results, value=0.01)
    out = tmp_path / "site"
    (out / "plots").mkdir(parents=True)
    old, young = out / "plots" / ".heatmap.png.x1.tmp", out / ".index.html.x2.tmp"
    for path in (old, young):
        path.write_bytes(b"partial")
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    build([results], out)
    assert not old.exists() and young.exists()
    assert (out / "index.html").is_file()


def test_a_sweep_starts_by_removing_the_temp_files_killed_writers_left_anywhere_under_out(tiny_suite, tmp_path):
    """Temp files of killed writers (a record's, a checkpoint's, a leaderboard page's) older than an hour, anywhere
    under --out, are gone once `rnnbench run` has started; a young one (another sweep's write in progress) stays."""

    out = tmp_path / "out"
    old = [out / "runs" / "0123abcd" / ".result.k1.tmp", out / "runs" / "0123abcd" / ".best.k2.tmp",
           out / "leaderboard" / "plots" / ".heatmap.png.k3.tmp"]
    young = out / "leaderboard" / ".index.html.w1.tmp"
    for path in (*old, young):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    hour_ago = time.time() - 3700
    for path in old:
        os.utime(path, (hour_ago, hour_ago))
    proc = subprocess.run(cli("run", "--suite", _one_run_suite(tiny_suite, tmp_path), "--tasks", "adding", "--out",
                              str(out), "--workers", "0", "--quiet", "--no-leaderboard"), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not any(path.exists() for path in old) and young.exists()
