"""The circuit breaker fails closed: a check that cannot verify the data leaves the council blocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from muse.analysis import circuit
from muse.errors import ExitCode
from muse.store import open_store
from watcher_world import add_ui_events, ago, fresh_world, repos, settings  # noqa: F401

HOLD = """
import sys, time
from pathlib import Path
from muse.store import EmbeddedStore
st = EmbeddedStore(Path(sys.argv[1]), lock_timeout=30)
st.query("SELECT 1")
print("holding", flush=True)
sys.stdin.readline()
st.close()
"""


@pytest.fixture
def unblocked(settings, migrated, cli, repos):
    with open_store(settings) as st:
        fresh_world(repos, st)
    assert cli("watcher", "check").exit_code == ExitCode.OK
    assert cli("watcher", "status").exit_code == ExitCode.OK
    assert circuit.status_path(settings.state_dir).exists()
    return settings


def test_a_check_that_cannot_open_the_store_blocks_the_council(unblocked, cli, isolated_env, monkeypatch) -> None:
    settings = unblocked
    # Another process really holds the embedded store (chDB session and its lock).
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(settings.embedded_store_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, **isolated_env})
    try:
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setenv("MUSE_STORE_LOCK_TIMEOUT_SECONDS", "0.5")
        res = cli("watcher", "check")
        assert res.exit_code == ExitCode.STORE_UNAVAILABLE, res
        # Decided before the store was reached: the gate is closed while the store is still held.
        assert not circuit.status_path(settings.state_dir).exists()
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=60)
    monkeypatch.delenv("MUSE_STORE_LOCK_TIMEOUT_SECONDS")
    res = cli("watcher", "status")
    assert res.exit_code == ExitCode.BLOCKED, res
    assert res.stdout.startswith("BLOCKED.") and "no watcher status file" in res.stdout
    with open_store(settings, readonly=True) as st:
        assert not circuit.check_gate(settings, st).open
    # The next check that reaches the store opens the gate again.
    assert cli("watcher", "check").exit_code == ExitCode.OK
    assert cli("watcher", "status").exit_code == ExitCode.OK


def test_a_check_killed_midway_leaves_the_council_blocked(unblocked, cli) -> None:
    settings = unblocked
    from muse.agents import watcher

    # What a check does before the store opens; then the process dies (nothing else runs).
    watcher.before_store(settings)
    res = cli("watcher", "status")
    assert res.exit_code == ExitCode.BLOCKED, res
    # A later pending check must not resurrect the file a dead check set aside.
    repos_pending = cli("watcher", "check")
    assert repos_pending.exit_code == ExitCode.OK
    assert cli("watcher", "status").exit_code == ExitCode.OK


def test_a_pending_check_keeps_the_gate_as_it_was(unblocked, cli, repos) -> None:
    settings = unblocked
    before = circuit.status_path(settings.state_dir).read_text()
    repos.hearts.commit(ago(minutes=1))  # a new commit whose data is not in yet: valid_pending
    res = cli("watcher", "check", "--json")
    assert res.exit_code == ExitCode.OK
    assert json.loads(res.stdout)["details"]["status_file"]["action"] == "unchanged"
    assert circuit.status_path(settings.state_dir).read_text() == before
    assert not (settings.state_dir / circuit.SUSPENDED_FILE).exists()


@pytest.mark.parametrize("checked_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_absurd_checked_at_is_blocked_not_a_crash(unblocked, cli, checked_at) -> None:
    settings = unblocked
    path = circuit.status_path(settings.state_dir)
    doc = json.loads(path.read_text())
    doc["checked_at"] = checked_at
    path.write_text(json.dumps(doc))
    res = cli("watcher", "status")
    assert res.exit_code == ExitCode.BLOCKED, res
    assert "checked_at is out of range" in res.stdout and "Traceback" not in res.output
    res = cli("council", "generate")
    assert res.exit_code == ExitCode.BLOCKED, res
    assert "OverflowError" not in res.output
