"""The council's gate: only a status file backed by a valid, recent watcher_runs row opens it."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import timedelta

import pytest

from muse.analysis import circuit
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


def test_the_age_limit_is_exactly_the_configured_minutes(settings, store, valid_run) -> None:
    t0 = now()
    ran_at = t0 - timedelta(seconds=circuit.check_gate(settings, store, now=t0).age_seconds)
    limit = timedelta(minutes=settings.watcher.status_max_age_minutes)
    assert circuit.check_gate(settings, store, now=ran_at + limit - timedelta(seconds=5)).open
    gate = circuit.check_gate(settings, store, now=ran_at + limit + timedelta(seconds=5))
    assert not gate.open and "older than the 30 min limit" in gate.reason


def test_aged_out_while_waiting_for_a_new_commit_says_it_is_not_a_failure(settings, store, repos,
                                                                          valid_run) -> None:
    repos.packs.commit(ago(minutes=10), "deploy")
    pending, _ = check(settings, store)
    assert pending.result.details["status"] == "valid_pending"
    assert circuit.check_gate(settings, store).run_id == valid_run.run_id
    gate = circuit.check_gate(settings, store, now=now() + timedelta(minutes=31))
    assert not gate.open and "older than the 30 min limit" in gate.reason
    assert "wait for the data of a new commit (valid_pending, not a failure)" in gate.reason
    assert "within its 90 min grace period" in gate.reason and "Is cron" not in gate.reason


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


@pytest.mark.parametrize("change", ["packs", "both", "swapped"])
def test_file_naming_a_passing_run_for_other_commits_is_ignored(settings, store, valid_run, change) -> None:
    """A forged file borrowing a real passing run's id but naming other commits (either one,
    both, or the two swapped) must not open the gate."""
    doc = json.loads(circuit.status_path(settings.state_dir).read_text())
    forged = {"packs": {"packs_commit": "e" * 40},
              "both": {"hearts_commit": "d" * 40, "packs_commit": "e" * 40},
              "swapped": {"hearts_commit": doc["packs_commit"], "packs_commit": doc["hearts_commit"]}}[change]
    write_file(settings, **{**doc, **forged})
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "commits differ" in gate.reason and "altered" in gate.reason
    write_file(settings, **doc)
    assert circuit.check_gate(settings, store).open


def test_status_file_from_the_future_blocks_and_names_the_clock(settings, store, valid_run) -> None:
    """Clock skew: the run is dated after this machine's now. A minute of skew is tolerated,
    ten minutes blocks with a hint about the clock, not a claim that the data is fresh."""
    assert circuit.check_gate(settings, store, now=now() - timedelta(seconds=30)).open
    gate = circuit.check_gate(settings, store, now=now() - timedelta(minutes=10))
    assert not gate.open and "in the future" in gate.reason and "clock" in gate.reason
    assert gate.age_seconds is not None and gate.age_seconds < -500
    # The tolerance is one minute exactly: 59 s of skew passes, 61 s blocks.
    t = now()
    ran_at = t - timedelta(seconds=circuit.check_gate(settings, store, now=t).age_seconds)
    assert circuit.check_gate(settings, store, now=ran_at - timedelta(seconds=59)).open
    assert "in the future" in circuit.check_gate(settings, store, now=ran_at - timedelta(seconds=61)).reason


def test_status_time_moved_a_few_seconds_is_an_alteration(settings, store, valid_run) -> None:
    doc = json.loads(circuit.status_path(settings.state_dir).read_text())
    from datetime import datetime, timezone
    checked = datetime.fromisoformat(doc["checked_at"])
    for shift in (-10, 10):
        write_file(settings, **{**doc, "checked_at": (checked + timedelta(seconds=shift)).isoformat()})
        gate = circuit.check_gate(settings, store)
        assert not gate.open and "altered" in gate.reason, shift
    # The same instant written with another UTC offset is not an alteration.
    write_file(settings, **{**doc, "checked_at": checked.astimezone(timezone(timedelta(hours=5))).isoformat()})
    assert circuit.check_gate(settings, store).open


def test_status_file_that_is_not_text_is_ignored(settings, store, valid_run) -> None:
    path = circuit.status_path(settings.state_dir)
    path.write_bytes(b"\xff\xfe{\x00")
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "cannot be read" in gate.reason and "ignored" in gate.reason


def test_status_path_that_is_a_directory_is_ignored(settings, store) -> None:
    path = circuit.status_path(settings.state_dir)
    path.mkdir(parents=True)
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "is not a regular file" in gate.reason


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_status_file_owned_by_another_user_is_ignored(settings, store, valid_run) -> None:
    path = circuit.status_path(settings.state_dir)
    os.chown(path, 54321, -1)
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "belongs to another user (uid 54321)" in gate.reason


def test_status_file_whose_folder_cannot_be_read_is_unusable(tmp_path) -> None:
    not_a_dir = tmp_path / "state"
    not_a_dir.write_text("")
    status, problem = circuit.read_status(not_a_dir)
    assert status is None and problem.startswith("cannot be read (")


def test_store_failing_on_the_later_failures_check_keeps_the_gate_closed(settings, store, valid_run) -> None:
    """The run itself verifies, then the store fails while looking for later failed checks:
    doubt keeps the gate closed (it must not open just because that question went unanswered)."""
    from muse.errors import StoreUnavailableError

    class FailingLater:
        def named(self, name, params=None):
            if name == "watcher_failures_after":
                raise StoreUnavailableError("query failed after 3 attempts: Connection reset by peer")
            return store.named(name, params)

    assert circuit.check_gate(settings, store).open
    gate = circuit.check_gate(settings, FailingLater())
    assert not gate.open and gate.reason.startswith("Council blocked: could not verify")
    assert "Connection reset by peer" in gate.reason


def test_aged_out_after_a_later_failure_is_not_called_waiting(settings, store, repos, valid_run, tmp_path) -> None:
    """Aged out, and the check since then failed: the reason must not say it is only waiting
    for data (valid_pending, not a failure)."""
    path = circuit.status_path(settings.state_dir)
    shutil.copy(path, tmp_path / "saved.json")
    repos.hearts.commit(ago(minutes=20))
    failed, _ = check(settings, store)
    assert failed.status == "failed"
    shutil.copy(tmp_path / "saved.json", path)
    gate = circuit.check_gate(settings, store, now=now() + timedelta(minutes=31))
    assert not gate.open and "older than the 30 min limit" in gate.reason
    assert "not a failure" not in gate.reason and "Is cron still running" in gate.reason
