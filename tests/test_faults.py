"""The fault suite: what happens when cron overlaps, the store is gone, or a run is killed.

These run `muse` as real subprocesses against a real store, as cron would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import muse_cmd
from muse.errors import ExitCode
from muse.locks import FileLock


def _muse(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen:
    return subprocess.Popen(muse_cmd() + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _alerts(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def env(isolated_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**os.environ, **isolated_env, "MUSE_REPOS_BANTERHEARTS_PATH": str(tmp_path / "none-h"),
            "MUSE_REPOS_BANTERPACKS_PATH": str(tmp_path / "none-p")}


def test_two_cron_runs_of_one_agent_one_runs_one_skips(settings: Any, migrated: Any, env: dict[str, str]) -> None:
    # Hold the store so the first run sits inside its agent lock while the second starts.
    store_lock = FileLock(settings.state_dir / "clickhouse.lock", what="the embedded store")
    store_lock.acquire(timeout=5)
    try:
        first = _muse(["watcher", "check"], env)
        deadline = time.monotonic() + 30
        agent_lock = FileLock(settings.state_dir / "locks" / "watcher.lock", what="agent watcher")
        while agent_lock.try_acquire():  # wait until the first run holds its agent lock
            agent_lock.release()
            assert time.monotonic() < deadline, "first run never took its lock"
            time.sleep(0.05)
        second = _muse(["watcher", "check"], env)
        out2, err2 = second.communicate(timeout=60)
    finally:
        store_lock.release()
    out1, err1 = first.communicate(timeout=60)
    assert second.returncode == ExitCode.SKIPPED, err2
    assert "holds the lock" in out2 + err2 and f"pid {first.pid}" in out2 + err2
    # The first ran for real (it fails: the repos do not exist, a config error).
    assert first.returncode == ExitCode.USAGE and "does not exist" in out1 + err1


def test_server_store_unreachable_retries_alerts_and_exits_5(settings: Any, env: dict[str, str]) -> None:
    env = {**env, "MUSE_CLICKHOUSE_URL": f"clickhouse://muse:pw-ssh@127.0.0.1:{_closed_port()}/muse"}
    t0 = time.monotonic()
    proc = _muse(["watcher", "check"], env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.STORE_UNAVAILABLE, err
    assert "after 3 attempts" in out + err and "pw-ssh" not in out + err
    assert time.monotonic() - t0 >= 0.02  # backoff between attempts
    [alert] = _alerts(settings.state_dir)
    assert alert["severity"] == "critical" and "could not run" in alert["title"]


def test_embedded_store_locked_alerts_and_exits_5_writing_nothing(settings: Any, migrated: Any,
                                                                 env: dict[str, str]) -> None:
    lock = FileLock(settings.state_dir / "clickhouse.lock", what="the embedded store")
    lock.acquire(timeout=5)
    try:
        proc = _muse(["watcher", "check"], {**env, "MUSE_STORE_LOCK_TIMEOUT_SECONDS": "0.5"})
        out, err = proc.communicate(timeout=60)
    finally:
        lock.release()
    assert proc.returncode == ExitCode.STORE_UNAVAILABLE
    assert "locked by pid" in err
    assert _alerts(settings.state_dir)[0]["severity"] == "critical"
    from muse.store import open_store

    with open_store(settings) as st:
        assert st.query("SELECT count() FROM agent_runs").scalar() == 0
        assert st.query("SELECT count() FROM watcher_runs").scalar() == 0
