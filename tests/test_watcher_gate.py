"""The council's gate: only a status file backed by a valid, recent watcher_runs row opens it."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import timedelta

import pytest

from muse import circuit
from muse.config import load_settings
from watcher_world import ago, check, fresh_world, now, repos, settings  # noqa: F401


@pytest.fixture
def valid_run(settings, store, repos):
    """A passing check: its run, and the file it wrote."""
    hearts, packs = fresh_world(repos, store)
    out, _ = check(settings, store)
    assert out.status == "ok"
    return out


def write_file(settings, **fields) -> None:
    """A status file as someone other than the watcher might make it."""
    doc = {"version": 1, "run_id": str(uuid.uuid4()), "checked_at": now().isoformat(),
           "hearts_commit": "a" * 40, "packs_commit": "b" * 40, **fields}
    path = circuit.status_path(settings.state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    path.chmod(0o600)


def test_no_file_keeps_the_council_blocked(settings, store) -> None:
    gate = circuit.check_gate(settings, store)
    assert not gate.open and gate.run_id is None
    assert gate.reason.startswith("Council blocked: there is no watcher status file")
    assert "muse watcher status" in gate.reason


def test_hand_made_file_naming_a_run_that_never_happened(settings, store) -> None:
    run_id = str(uuid.uuid4())
    circuit.write_status(settings.state_dir, run_id=run_id, checked_at=now(), hearts_commit="a" * 40,
                         packs_commit="b" * 40)
    gate = circuit.check_gate(settings, store)
    assert not gate.open and gate.run_id == run_id
    assert "not in watcher_runs" in gate.reason and "hand-made" in gate.reason


def test_hand_made_file_naming_a_failed_run(settings, store, repos) -> None:
    repos.hearts.commit(ago(hours=1))
    repos.packs.commit(ago(hours=1))
    failed, _ = check(settings, store)
    assert failed.result.details["status"] == "missing_hearts"
    d = failed.result.details["repos"]
    circuit.write_status(settings.state_dir, run_id=failed.run_id, checked_at=now(),
                         hearts_commit=d[0]["commit"], packs_commit=d[1]["commit"])
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "found missing_hearts, not valid" in gate.reason


def test_valid_run_with_altered_commits_or_time(settings, store, valid_run) -> None:
    doc = json.loads(circuit.status_path(settings.state_dir).read_text())
    assert circuit.check_gate(settings, store).open
    write_file(settings, **{**doc, "hearts_commit": "f" * 40})
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "commits differ" in gate.reason
    write_file(settings, **{**doc, "checked_at": (now() + timedelta(minutes=10)).isoformat()})
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "time" in gate.reason and "altered" in gate.reason


def test_status_older_than_the_limit_blocks_and_the_limit_is_configurable(settings, store, valid_run,
                                                                          monkeypatch) -> None:
    later = now() + timedelta(minutes=31)
    assert circuit.check_gate(settings, store, now=now() + timedelta(minutes=29)).open
    gate = circuit.check_gate(settings, store, now=later)
    assert not gate.open and gate.age_seconds > 30 * 60
    assert "31 min ago, older than the 30 min limit" in gate.reason
    # Touching the file does not make it younger: the age is the age of the run's row.
    os.utime(circuit.status_path(settings.state_dir), (later.timestamp(), later.timestamp()))
    assert not circuit.check_gate(settings, store, now=later).open
    monkeypatch.setenv("MUSE_WATCHER_STATUS_MAX_AGE_MINUTES", "60")
    assert circuit.check_gate(load_settings(), store, now=later).open


def test_a_later_failed_check_blocks_even_if_the_old_file_is_put_back(settings, store, repos, valid_run,
                                                                      tmp_path) -> None:
    path = circuit.status_path(settings.state_dir)
    shutil.copy(path, tmp_path / "saved.json")
    repos.hearts.commit(ago(minutes=20))
    failed, _ = check(settings, store)
    assert failed.status == "failed" and not path.exists()
    shutil.copy(tmp_path / "saved.json", path)
    gate = circuit.check_gate(settings, store)
    assert not gate.open and f"later watcher check (run {failed.run_id[:8]}" in gate.reason
    assert "missing_hearts" in gate.reason


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "is not a JSON object"),
    (json.dumps({"run_id": "x", "checked_at": "yesterday", "hearts_commit": "abc", "packs_commit": None}),
     "is malformed: run_id is not a UUID; checked_at is not an ISO time; hearts_commit is not"),
    (json.dumps({"run_id": str(uuid.uuid4()), "checked_at": "2026-01-01T00:00:00", "hearts_commit": "a" * 40,
                 "packs_commit": "b" * 40}), "checked_at has no timezone"),
])
def test_malformed_file_is_ignored(settings, store, content, problem) -> None:
    path = circuit.status_path(settings.state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(0o600)
    gate = circuit.check_gate(settings, store)
    assert not gate.open and problem in gate.reason and "ignored" in gate.reason


def test_file_others_can_write_is_ignored(settings, store, valid_run) -> None:
    path = circuit.status_path(settings.state_dir)
    path.chmod(0o666)
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "can be changed by other users (mode 666)" in gate.reason
    path.chmod(0o600)
    assert circuit.check_gate(settings, store).open


def test_store_error_keeps_the_gate_closed_instead_of_raising(settings, store, valid_run) -> None:
    store.execute("DROP TABLE watcher_runs")
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "could not verify" in gate.reason


def test_clear_status_is_idempotent(settings, store, valid_run) -> None:
    circuit.clear_status(settings.state_dir)
    circuit.clear_status(settings.state_dir)
    assert not circuit.status_path(settings.state_dir).exists()
    assert not circuit.check_gate(settings, store).open


def test_write_status_refuses_naive_time(tmp_path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        circuit.write_status(tmp_path, run_id=str(uuid.uuid4()), checked_at=now().replace(tzinfo=None),
                             hearts_commit="a" * 40, packs_commit="b" * 40)


def test_humanize_seconds() -> None:
    assert [circuit.humanize_seconds(s) for s in (5, 89, 90, 7199, 7200, 7260, 3 * 86400 + 3600)] == [
        "5 s", "89 s", "1 min", "119 min", "2 h", "2 h 1 min", "3 d 1 h"]
