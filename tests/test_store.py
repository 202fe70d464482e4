"""The result store (bench/store.py) on real files, in this process: atomic writes and their mode, temp-file cleaning,
the published records file, what a sweep does with each record (state), which record stands (write), claims on runs.
No training: these tests take about a second, so mutation testing runs them for every mutant (README: Development);
tests/test_runner.py drives the same store through real sweeps."""

from __future__ import annotations

import fcntl
import gzip
import json
import math
import os
import stat
import time
from pathlib import Path

import pytest

from rnnbench.bench.config import ModelConfig, RunConfig
from rnnbench.bench.record import RunRecord
from rnnbench.bench.store import (PUBLISHED, ResultStore, atomic_write, clean_temp_files, read_published,
                                  write_published)
from rnnbench.leaderboard.collect import read_records
from rnnbench.tasks.corpus import corpus_digest, corpus_path

CFG = RunConfig("adding", {"seq_len": 8}, ModelConfig())


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_old(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_atomic_write_leaves_the_content_with_a_plain_new_files_mode_and_no_temp_file(tmp_path):
    """The file holds the text or bytes given, with the mode open() would give a new file under this process's umask
    (0o644 under 022; mkstemp's own 0600 would hide a published page from a web server), and nothing else is left."""
    text = atomic_write(tmp_path / "a.json", "{\"x\": 1}\n")
    data = atomic_write(tmp_path / "b.bin", b"\x00\x01")
    assert text.read_text() == "{\"x\": 1}\n" and data.read_bytes() == b"\x00\x01"
    plain = tmp_path / "plain"
    plain.write_text("")  # a file made the ordinary way, for the mode to compare with
    expected = 0o666 & ~current_umask()
    assert stat.S_IMODE(plain.stat().st_mode) == expected
    assert {stat.S_IMODE(p.stat().st_mode) for p in (text, data)} == {expected}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin", "plain"]


def test_an_atomic_write_goes_through_a_temp_file_beside_its_target_that_cleaning_recognizes(tmp_path, monkeypatch):
    """The temp file is renamed over the target from the same folder (a rename within one file system is atomic), and
    its name, ".<prefix>...tmp", is what clean_temp_files removes once a killed writer left it."""
    renamed = []
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append((Path(src), Path(dst))), replace(src, dst)))
    atomic_write(tmp_path / "page.html", "<p>")
    ResultStore(tmp_path).write({"run_id": "r1", "status": "ok"})
    (page_tmp, page), (record_tmp, record) = renamed
    assert (page, record) == (tmp_path / "page.html", tmp_path / "runs" / "r1" / "result.json")
    assert page_tmp.parent == page.parent and record_tmp.parent == record.parent
    assert page_tmp.name.startswith(".") and record_tmp.name.startswith(".result.")
    assert page_tmp.suffix == record_tmp.suffix == ".tmp"
    assert all(p.match(".*.tmp") for p in (page_tmp, record_tmp))


def test_the_store_writes_each_record_where_the_leaderboard_reads_it(tmp_path):
    """runs/<run_id>/result.json: the files leaderboard.collect reads, and what has_records looks for."""
    store = ResultStore(tmp_path)
    assert not store.has_records()
    record = {"run_id": "r1", "status": "ok", "task": "adding", "task_label": "adding(seq_len=8)", "combo": "rnn",
              "remedies": {"cell": "rnn"}}
    store.write(record)
    assert json.loads((tmp_path / "runs" / "r1" / "result.json").read_text()) == record
    assert store.has_records() and store.records() == [record]
    assert read_records([tmp_path]) == [(str(tmp_path / "runs" / "r1" / "result.json"), RunRecord.from_dict(record))]


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = atomic_write(tmp_path / "r.json", "old")
    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # neither text nor bytes: fails after the temp file was made
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_cleaning_removes_only_temp_files_older_than_the_limit_anywhere_under_the_folder(tmp_path):
    """".<name>.<random>.tmp" files an hour old (a killed writer's) go, in any subfolder; a younger one (a write in
    progress elsewhere) stays, and so do old files that are not temp files."""
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    old_tmp = [tmp_path / ".index.html.ab12.tmp", tmp_path / "runs" / "r1" / ".result.cd34.tmp"]
    young_tmp = tmp_path / "runs" / ".result.ef56.tmp"
    kept_old = [tmp_path / "runs" / "r1" / "result.json", tmp_path / "notes.tmp", tmp_path / ".hidden"]
    for path in [*old_tmp, young_tmp, *kept_old]:
        path.write_text("x")
    for path in [*old_tmp, *kept_old]:
        make_old(path, 3700)
    make_old(young_tmp, 3500)
    assert clean_temp_files(tmp_path) == 2
    assert not any(p.exists() for p in old_tmp) and young_tmp.exists() and all(p.exists() for p in kept_old)
    assert clean_temp_files(tmp_path, older_than=60) == 1 and not young_tmp.exists()
    assert clean_temp_files(tmp_path / "missing") == 0
    store_tmp = tmp_path / "runs" / "r1" / ".result.gh78.tmp"
    store_tmp.write_text("x")
    make_old(store_tmp, 120)
    assert ResultStore(tmp_path).clean() == 0 and ResultStore(tmp_path).clean(older_than=60) == 1


def test_published_records_are_one_json_object_a_line_the_same_bytes_for_the_same_records(tmp_path):
    """In the order given, keys sorted, NaN and infinities (which JSON lacks) as null at any depth, gzipped without a
    timestamp: the same records give the same file, so a published folder's diff shows only what changed."""
    records = [{"run_id": "b", "normalized_score": float("nan"), "history": [{"val": float("inf")}, (1.5, -math.inf)]},
               {"run_id": "a", "metrics": {"mse": 0.25}, "status": "ok"}]
    path = write_published(tmp_path / PUBLISHED, records)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines == ['{"history":[{"val":null},[1.5,null]],"normalized_score":null,"run_id":"b"}',
                     '{"metrics":{"mse":0.25},"run_id":"a","status":"ok"}']
    first = path.read_bytes()
    assert first[4:8] == bytes(4)  # the gzip header's modification time (RFC 1952): none
    assert write_published(tmp_path / PUBLISHED, records).read_bytes() == first
    assert read_published(path) == [(1, json.loads(lines[0])), (2, json.loads(lines[1]))]


def test_a_damaged_line_of_published_records_reads_as_its_error_the_others_as_records(tmp_path):
    path = tmp_path / PUBLISHED
    path.write_bytes(gzip.compress(b'{"run_id": "a"}\n{not json\n[1, 2]\n'))
    (one, first), (two, damaged), (three, other) = read_published(path)
    assert (one, first, two, three, other) == (1, {"run_id": "a"}, 2, 3, [1, 2])
    assert isinstance(damaged, ValueError)
    path.write_bytes(gzip.compress(b'{"run_id": "a"}\n')[:-8])  # cut off
    with pytest.raises(EOFError):
        read_published(path)


def test_a_run_without_its_own_file_reads_its_published_record_and_a_damaged_file_reads_none(tmp_path):
    store = ResultStore(tmp_path)
    write_published(tmp_path / PUBLISHED, [{"run_id": "pub", "status": "ok"}, {"run_id": 7}, ["x"]])
    assert store.read("pub") == {"run_id": "pub", "status": "ok"}
    assert store.read("missing") is None
    assert store.has_records() and store.records() == []  # records() lists the runs' own files only
    own = store.path("own")
    own.parent.mkdir(parents=True)
    for text in ("{cut", "[1, 2]", '"ok"'):  # unreadable or not an object: no record, not the published one
        own.write_text(text)
        assert store.read("own") is None
    store.path("pub").parent.mkdir(parents=True)
    store.path("pub").write_text('{"run_id": "pub", "status": "failed"}')  # its own file comes first
    assert store.read("pub")["status"] == "failed"
    assert [r["run_id"] for r in store.records()] == ["pub"]


def test_a_rewritten_published_file_is_read_again(tmp_path):
    """A store reads the published file once (a worker's stores share it by the file's time and size): a file rewritten
    since, with another time or another size, is read again."""
    path = tmp_path / PUBLISHED
    write_published(path, [{"run_id": "a", "status": "failed"}])
    assert ResultStore(tmp_path).read("a")["status"] == "failed"
    write_published(path, [{"run_id": "a", "status": "ok", "normalized_score": 0.5}])
    assert ResultStore(tmp_path).read("a") == {"run_id": "a", "status": "ok", "normalized_score": 0.5}
    size, when = path.stat().st_size, path.stat().st_mtime_ns
    write_published(path, [{"run_id": "a", "status": "ok", "normalized_score": 0.7}])  # the same size...
    assert path.stat().st_size == size
    os.utime(path, ns=(when + 10**9, when + 10**9))  # ...a second later
    assert ResultStore(tmp_path).read("a")["normalized_score"] == 0.7
    write_published(path, [{"run_id": "a", "status": "ok", "normalized_score": 0.75}])  # another size...
    assert path.stat().st_size != size
    os.utime(path, ns=(when + 10**9, when + 10**9))  # ...with the time of the last
    assert ResultStore(tmp_path).read("a")["normalized_score"] == 0.75
    (tmp_path / PUBLISHED).write_bytes(b"not gzip")
    assert ResultStore(tmp_path).read("a") is None and not ResultStore(tmp_path).has_records()


def test_an_empty_folder_has_no_records(tmp_path):
    store = ResultStore(tmp_path / "results")
    assert not store.has_records() and store.records() == [] and store.published() == {}
    store.runs.mkdir(parents=True)
    assert not store.has_records()


@pytest.mark.parametrize("content, state", [
    (None, "todo"), ("{cut", "todo"), ("[]", "todo"),
    ('{"status": "ok"}', "ok"), ('{"status": "diverged"}', "diverged"),
    ('{"status": "failed"}', "failed"), ('{"status": "running"}', "failed"), ("{}", "failed"),
])
def test_the_state_of_a_run_says_what_a_sweep_does_with_it(tmp_path, content, state):
    store = ResultStore(tmp_path)
    if content is not None:
        store.path(CFG.run_id).parent.mkdir(parents=True)
        store.path(CFG.run_id).write_text(content)
    assert store.state(CFG) == state
    assert store.finished(CFG) is (state in ("ok", "diverged"))


def test_a_finished_run_on_a_corpus_file_rewritten_since_is_stale(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n" * 20)
    cfg = RunConfig("text", {"corpus": str(corpus), "bptt": 5, "vocab_size": 12}, ModelConfig())
    store = ResultStore(tmp_path / "res")
    store.write({"run_id": cfg.run_id, "status": "ok", "task_data": corpus_digest(str(corpus))})
    assert store.state(cfg) == "ok"
    corpus.write_text("a dog ran to the park\n" * 20)
    corpus_digest.cache_clear(), corpus_path.cache_clear()  # a later sweep is a new process
    assert store.state(cfg) == "stale" and not store.finished(cfg)


def test_a_failed_record_never_replaces_a_finished_one_and_any_other_write_stands(tmp_path):
    store = ResultStore(tmp_path)
    for finished in ("ok", "diverged"):
        run = f"run-{finished}"
        assert store.write({"run_id": run, "status": "failed", "error": "first"})["error"] == "first"
        assert store.write({"run_id": run, "status": "failed", "error": "again"})["error"] == "again"
        kept = {"run_id": run, "status": finished, "normalized_score": 0.5}
        assert store.write(kept) == kept
        assert store.write({"run_id": run, "status": "failed", "error": "late"}) == kept  # the one that stands
        assert store.read(run) == kept
        newer = {"run_id": run, "status": "ok", "normalized_score": 0.75}
        assert store.write(newer) == newer and store.read(run) == newer
    store.path("bad").parent.mkdir(parents=True)
    store.path("bad").write_text('["ok"]')  # not a record: a failed attempt replaces it
    assert store.write({"run_id": "bad", "status": "failed"}) == {"run_id": "bad", "status": "failed"}
    assert json.loads(store.path("bad").read_text()) == {"run_id": "bad", "status": "failed"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_record_with_nan_is_written_as_json_with_null(tmp_path):
    store = ResultStore(tmp_path)
    store.write({"run_id": "r", "status": "diverged", "normalized_score": float("nan"), "last": {"x": float("inf")}})
    assert json.loads(store.path("r").read_text()) == {"run_id": "r", "status": "diverged",
                                                        "normalized_score": None, "last": {"x": None}}


def test_a_claimed_run_is_held_by_one_claimant_until_it_lets_go(tmp_path):
    """A claim is an exclusive lock on runs/<id>/.claim: a second claimant (another open file, as another sweep's)
    holds only the runs the first does not; once the first lets go, the runs are free."""
    store = ResultStore(tmp_path)
    with store.claim(["a", "b"]) as first:
        assert first == {"a", "b"}
        with ResultStore(tmp_path).claim(["b", "c"]) as second:
            assert second == {"c"}
        other = open(store.runs / "a" / ".claim")
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other.close()
    with ResultStore(tmp_path).claim(["a", "b", "c"]) as again:
        assert again == {"a", "b", "c"}


def test_provenance_names_each_other_version_and_the_dirty_checkouts_with_their_counts():
    """Records of one code say nothing; against `here`, every record of another rnnbench or torch version counts
    (a record naming none as "(none recorded)"); without `here`, several versions among the records are named with
    their counts, sorted; records made in a checkout with uncommitted changes are counted apart."""
    from rnnbench.bench.store import provenance

    here = {"rnnbench": "0.3.0", "torch": "2.13.0"}
    same = {"versions": dict(here), "git_commit": "abc123"}
    assert provenance([same, same], here) == []
    assert provenance([same, same]) == []
    assert provenance([]) == [] and provenance([], here) == []
    records = [
        same,
        {"versions": {"rnnbench": "0.2.0", "torch": "2.13.0"}, "git_commit": "abc123-dirty"},
        {"versions": {"rnnbench": "0.2.0", "torch": "2.12.1"}, "git_commit": "def456"},
        {"versions": {"torch": "2.13.0"}, "git_commit": None},
        {"git_commit": "def456-dirty"},
    ]
    assert provenance(records, here) == [
        "4 of the 5 records were made by another rnnbench version than this one (0.3.0): (none recorded) (2), "
        "0.2.0 (2)",
        "2 of the 5 records were made by another torch version than this one (2.13.0): (none recorded) (1), "
        "2.12.1 (1)",
        "2 of the 5 records were made in a checkout with uncommitted changes (git_commit ...-dirty): their code is "
        "no commit's",
    ]
    assert provenance(records) == [
        "the 5 records were made by 3 rnnbench versions: (none recorded) (2), 0.2.0 (2), 0.3.0 (1)",
        "the 5 records were made by 3 torch versions: (none recorded) (1), 2.12.1 (1), 2.13.0 (3)",
        "2 of the 5 records were made in a checkout with uncommitted changes (git_commit ...-dirty): their code is "
        "no commit's",
    ]
    one_torch = [{"versions": {"rnnbench": v, "torch": "2.13.0"}} for v in ("0.3.0", "0.2.0")]
    assert provenance(one_torch) == ["the 2 records were made by 2 rnnbench versions: 0.2.0 (1), 0.3.0 (1)"]
    assert provenance(one_torch, here) == [
        "1 of the 2 records were made by another rnnbench version than this one (0.3.0): 0.2.0 (1)"
    ]


def test_a_write_that_fails_names_the_file_and_why_and_leaves_nothing_behind(tmp_path):
    """Where a file cannot be written (here without a full disk: a missing folder, a folder in the target's place, a
    file in the records folder's place), the error is a WriteFailed naming the file meant and the system's reason,
    with its errno, and no temp file is left. An error already naming its file passes through as it is."""
    import errno

    from rnnbench.bench.store import WriteFailed, write_failed

    missing = tmp_path / "gone" / "index.html"
    with pytest.raises(WriteFailed) as err:
        atomic_write(missing, "page")
    assert err.value.errno == errno.ENOENT and err.value.filename == str(missing)
    assert str(err.value) == f"cannot write {missing} (No such file or directory)"

    taken = tmp_path / "site" / "index.html"
    (taken / "inside").mkdir(parents=True)  # a non-empty folder where the page goes: the rename fails
    with pytest.raises(WriteFailed) as err:
        atomic_write(taken, b"page")
    assert err.value.filename == str(taken) and err.value.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST)
    assert str(err.value).startswith(f"cannot write {taken} (") and sorted(p.name for p in taken.parent.iterdir()) \
        == ["index.html"]

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "runs").write_text("a file where the records folder goes")
    store = ResultStore(tmp_path / "out")
    with pytest.raises(WriteFailed) as err:
        store.write({"run_id": CFG.run_id, "status": "ok"})
    assert err.value.filename == str(store.path(CFG.run_id)) and err.value.errno in (errno.ENOTDIR, errno.EEXIST)
    assert str(err.value).startswith(f"cannot write {store.path(CFG.run_id)} (")

    named = WriteFailed(errno.ENOSPC, "No space left on device", "/elsewhere/result.json")
    assert write_failed(named, tmp_path / "other") is named
    bare = write_failed(OSError("quota exceeded"), tmp_path / "big")  # no errno, no strerror: its text
    assert str(bare) == f"cannot write {tmp_path / 'big'} (quota exceeded)" and bare.filename == str(tmp_path / "big")
