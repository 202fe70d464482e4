"""The typed run record (bench/record.py): its JSON form both ways, a record written before it had a version, and the
checks a record read from a file must pass. No training: these tests take well under a second (mutation testing
runs them for every mutant, README: Development); tests/test_runner.py checks the records real runs write."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from rnnbench.bench.record import ABSENT, RECORD_VERSION, RecordError, RunRecord
from rnnbench.bench.store import ResultStore

# A record as every rnnbench before RECORD_VERSION 1 wrote it (the keys and their order of a reference run; the
# numbers shortened): no record_version, no length_param.
OLD = {
    "run_id": "adding(seq_len=100)-gru-0", "suite": "reference", "created": "2026-12-06T22:07:45+00:00",
    "config": {"task": {"name": "adding", "params": {"seq_len": 100}, "version": 3}, "seed": 0,
               "budget": {"optimizer": "sgd", "learning_rate": 0.03}},
    "task": "adding", "task_label": "adding(seq_len=100)", "remedies": {"cell": "gru"}, "combo": "gru",
    "tuning": "sgd lr=0.03", "status": "ok", "error": None, "diverged_at_step": None,
    "seeds": {"run": 0, "data": 11, "init": 12, "order": 13, "eval": 2024}, "metrics": {"mse": 0.0012},
    "normalized_score": 0.993, "best_step": 1050, "last": {"step": 1500, "metrics": {"mse": 0.0013},
                                                          "normalized_score": 0.992},
    "model_size": {"params": 19873, "recurrent_params": 19824}, "val_metrics": {"mse": 0.0011}, "val_score": 0.994,
    "steps_trained": 1500, "wall_seconds": 81.2, "history": [{"step": 150, "mse": 0.16}],
    "grad": {"probe": {"start": {"norms": [1e-15, 0.5], "log10_ratio": -13.7, "log_slope": 0.13}},
             "norm_max": 3.71},
    "versions": {"rnnbench": "0.1.0", "torch": "2.13.0", "task_version": 3}, "git_commit": "11fd7a2",
    "device": "cpu (1 thread, x86_64)", "world_size": 1, "primary_metric": "mse", "higher_is_better": False,
    "baseline": {"mse": 0.1667}, "reference": {"mse": 0.0}, "task_data": None,
}


def test_a_record_written_before_versions_reads_as_written_and_writes_back_the_same():
    """Version 0, no length parameter of its own (ABSENT: the leaderboard asks the task), and its JSON object back
    key for key in the same order: a published file rewritten from old records keeps its bytes."""
    record = RunRecord.from_dict(OLD)
    assert (record.version, record.record_version, record.length_param) == (0, ABSENT, ABSENT)
    assert (record.task, record.status, record.metrics, record.normalized_score) == ("adding", "ok", {"mse": 0.0012},
                                                                                   0.993)
    assert list(record.to_dict().items()) == list(OLD.items())


def test_a_record_round_trips_through_json_with_its_version_and_length_parameter():
    """Every field set, through to_dict, JSON text and from_dict: the same record; keys in the fields' order, the
    version and the length parameter among them."""
    names = [f.name for f in dataclasses.fields(RunRecord) if f.name != "extra"]
    record = RunRecord.from_dict({**OLD, "record_version": RECORD_VERSION, "length_param": "seq_len",
                                  "wandb_error": None, "checkpoint": "best.pt"})
    data = record.to_dict()
    assert data["record_version"] == RECORD_VERSION == record.version and data["length_param"] == "seq_len"
    assert list(data) == [n for n in names if n in data]
    assert RunRecord.from_dict(json.loads(json.dumps(data))) == record
    assert pickle.loads(pickle.dumps(record)) == record  # a worker's record, ABSENT fields included


def test_a_task_without_a_length_parameter_says_so_with_null():
    record = RunRecord.from_dict({**OLD, "record_version": 1, "length_param": None})
    assert record.length_param is None and record.to_dict()["length_param"] is None


def test_keys_no_field_names_are_carried_after_the_fields():
    """A key of a later or edited record that no field names (one even called 'extra') is kept, written after them."""
    data = {"note": "hand-made", **OLD, "extra": [1]}
    record = RunRecord.from_dict(data)
    assert record.extra == {"note": "hand-made", "extra": [1]}
    assert list(record.to_dict()) == [*OLD, "note", "extra"] and record.to_dict() == data


def test_a_new_record_writes_only_the_fields_it_has():
    """A field never filled (a run that failed before its task was built has no primary metric) is not written;
    one set to None is written as null."""
    record = RunRecord(record_version=RECORD_VERSION, run_id="r", task="copy", task_label="copy(delay=5)",
                       length_param="delay", remedies={"cell": "rnn"}, combo="rnn", status="failed", error=None)
    assert record.to_dict() == {"record_version": RECORD_VERSION, "run_id": "r", "task": "copy",
                                "task_label": "copy(delay=5)", "length_param": "delay", "remedies": {"cell": "rnn"},
                                "combo": "rnn", "status": "failed", "error": None}
    assert not ABSENT and str(record.created or "") == ""  # an absent field reads like a missing key's None


@pytest.mark.parametrize("change, named", [
    ({"record_version": "1"}, "field 'record_version' must be a whole number >= 0, got '1'"),
    ({"record_version": -1}, "field 'record_version' must be a whole number >= 0, got -1"),
    ({"record_version": RECORD_VERSION + 1}, f"field 'record_version' is {RECORD_VERSION + 1}, newer than this"),
    ({"length_param": 100}, "field 'length_param' must be a string, got 100"),
    ({"normalized_score": "0.9"}, "field 'normalized_score' must be a finite number <= 1e+06, got '0.9'"),
    ({"status": "running"}, "unknown status 'running'; valid choices: ok, diverged, failed"),
    ({"combo": None}, "missing combo"),
])
def test_a_record_with_a_field_of_the_wrong_kind_is_refused_naming_the_field(change, named):
    with pytest.raises(RecordError) as caught:
        RunRecord.from_dict({**OLD, **change})
    assert str(caught.value).startswith(named) and "\n" not in str(caught.value)


def test_without_a_required_field_or_as_no_object_a_record_is_refused():
    with pytest.raises(RecordError, match=r"^missing task, task_label$"):
        RunRecord.from_dict({k: v for k, v in OLD.items() if k not in ("task", "task_label")})
    with pytest.raises(RecordError, match=r"^not a JSON object$"):
        RunRecord.from_dict([OLD])
    assert issubclass(RecordError, ValueError)


def test_the_store_writes_a_record_as_its_json_object(tmp_path):
    """result.json holds to_dict's keys in its order (the runner's), and write returns that object."""
    record = RunRecord.from_dict({**OLD, "record_version": RECORD_VERSION, "length_param": "seq_len"})
    store = ResultStore(tmp_path)
    assert store.write(record) == record.to_dict()
    written = store.path(record.run_id).read_text()
    assert list(json.loads(written)) == list(record.to_dict()) and RunRecord.from_dict(json.loads(written)) == record
