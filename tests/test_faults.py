"""The fault suite: what happens when cron overlaps, the store is gone, or a run is killed.

These run `muse` as real subprocesses against a real store, as cron would.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import muse_cmd
from fakes import closed_port
from muse.errors import ExitCode
from muse.locks import FileLock


def _muse(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen:
    return subprocess.Popen(muse_cmd() + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


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
        first = _muse(["watcher", "check"], {**env, "MUSE_STORE_LOCK_TIMEOUT_SECONDS": "300"})
        deadline = time.monotonic() + 120  # generous: CI machines are busy
        agent_lock = FileLock(settings.state_dir / "locks" / "watcher.lock", what="agent watcher")
        # Wait until the first run holds its agent lock, reading the holder it writes into the
        # lock file (probing with try_acquire would itself hold the lock for a moment, and a
        # first run starting just then would skip).
        while agent_lock.holder_info().get("pid") != first.pid:
            assert first.poll() is None and time.monotonic() < deadline, "first run never took its lock"
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
    env = {**env, "MUSE_CLICKHOUSE_URL": f"clickhouse://muse:pw-ssh@127.0.0.1:{closed_port()}/muse"}
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
    from muse import locks

    # Held by another agent (an interactive holder warns instead: tests/test_cron.py).
    lock = FileLock(settings.state_dir / "clickhouse.lock", what="the embedded store")
    locks.set_role("agent")
    try:
        lock.acquire(timeout=5)
    finally:
        locks.set_role("interactive")
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


def _telemetry(tdir: Path, hours: int, per_hour: int) -> int:
    """Valid telemetry: ``hours`` files of ``per_hour`` events from T0 on; returns the count."""
    from datetime import timedelta

    from ingest_world import T0, event, hour_file, write_jsonl

    for h in range(hours):
        start = T0 + timedelta(hours=h)
        write_jsonl(hour_file(tdir, start), (event(start + timedelta(seconds=i * 3600 / per_hour),
                                                   "llm_call" if i % 4 == 0 else "query_submit")
                                             for i in range(per_hour)))
    return hours * per_hour


def _wait_for_first_part(store_dir: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Block until the ingest starts writing May 2026 data parts (a tmp_insert_ or a new part dir)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        if any(p.name.startswith(("tmp_insert_202605", "202605_")) for p in store_dir.rglob("*2026*")
               if p.is_dir()):
            return
        time.sleep(0.005)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_sigkill_half_way_through_an_ingest_then_rerun_leaves_no_duplicates_and_no_loss(
        settings: Any, migrated: Any, env: dict[str, str], tmp_path: Path, delay: float) -> None:
    import signal

    from ingest_world import T0

    tdir = tmp_path / "telemetry"
    # Big enough that 0.3 s after the first part the load is still running: since the load
    # writes 128K-row blocks as it parses, the first part comes early and 240K events could
    # finish within that time.
    expected = _telemetry(tdir, hours=24, per_hour=20_000)
    window = ["ingest", "packs", "--since", T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "--until", "2026-05-05T10:00:00Z"]
    env = {**env, "MUSE_TELEMETRY_DIR": str(tdir)}
    proc = _muse(window, env)
    # Kill once the run has started writing data (then ``delay`` later): mid-write by construction.
    _wait_for_first_part(settings.state_dir / "clickhouse", proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before the kill: make the data bigger"
    from muse.store import open_store

    with open_store(settings) as st:
        partial = st.query("SELECT count() FROM ui_events").scalar()
        state = st.query("SELECT status FROM agent_runs FINAL WHERE agent = 'ingest-packs'").rows
    # The kill landed mid-run: the run's agent_runs row still says running (a SIGKILLed run
    # cannot write its final row), with anything from none to all of the raw rows loaded.
    assert state == [("running",)], "the run finished before the kill: make the data bigger"
    assert 0 <= partial <= expected
    rerun = _muse(window, env)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    with open_store(settings) as st:
        st.execute("OPTIMIZE TABLE ui_events FINAL")
        st.execute("OPTIMIZE TABLE llm_events FINAL")
        assert st.query("SELECT count() FROM ui_events").scalar() == expected  # no loss, no duplicate
        assert st.query("SELECT count() FROM llm_events").scalar() == expected // 4
        hours = st.query("SELECT count(), sum(total_events) FROM session_stats FINAL").rows[0]
        assert hours == (24, expected)


def test_nan_huge_and_truncated_values_are_rejected_one_by_one(settings: Any, migrated: Any,
                                                               env: dict[str, str], tmp_path: Path) -> None:
    import json as _json

    from ingest_world import T0, event, hour_file, write_jsonl

    tdir = tmp_path / "telemetry"
    good = [event(T0.replace(minute=i)) for i in range(5)]
    import re as _re

    def with_latency(raw: str) -> str:
        return _re.sub(r'"latency_ms": [^,}]+', f'"latency_ms": {raw}', _json.dumps(event(T0)))

    bad = [with_latency("NaN"), with_latency("Infinity"), with_latency("1e308"), _json.dumps(event(T0))[:40]]
    write_jsonl(hour_file(tdir, T0), [good[0], bad[0], good[1], bad[1], good[2], bad[2], good[3], bad[3], good[4]])
    proc = _muse(["ingest", "packs", "--since", "2026-05-04T10:00:00Z", "--until", "2026-05-04T11:00:00Z", "--json"],
                 {**env, "MUSE_TELEMETRY_DIR": str(tdir)})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _json.loads(out)["details"]["quarantined"] == 4
    quarantine = [_json.loads(line) for f in (settings.state_dir / "quarantine").glob("*.jsonl")
                  for line in f.read_text().splitlines()]
    assert sorted(q["line"] for q in quarantine) == [2, 4, 6, 8]
    assert all(q["reason"] and "\n" not in q["reason"] for q in quarantine)
    from muse.store import open_store

    with open_store(settings) as st:
        assert st.query("SELECT count() FROM ui_events FINAL").scalar() == 5
