"""A month under cron (issue 23): a bounded store, runs that yield and are all recorded,
JSON logs, and a schedule health knows. Real engine, real subprocesses."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import muse_cmd
from muse.demo import run_demo
from muse.errors import ExitCode

NOW = datetime(2026, 5, 8, 2, 40, tzinfo=timezone.utc)
SMALL = {"days": 4, "scale": 0.1, "until": "ingest-packs"}


def disk_usage(path: Path) -> tuple[int, int]:
    files = size = 0
    for root, dirs, names in os.walk(path):
        files += len(names) + len(dirs)
        size += sum(os.lstat(os.path.join(root, n)).st_size for n in names)
    return size, files


def run_muse(state: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*muse_cmd(), "--state-dir", str(state), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture
def demo_state(settings: Any) -> Path:
    """A store with the (small) demo's data and repos; closed, for subprocesses."""
    result = run_demo(settings, lambda line: None, now=NOW, **SMALL)
    assert result.exit_code == ExitCode.OK, result.steps
    return settings.state_dir


@pytest.mark.slow
def test_200_short_runs_keep_the_store_the_size_of_its_data(demo_state: Path) -> None:
    """Each cron run lives under a second; ClickHouse's own cleanup of replaced parts waits
    longer than that by default, so without the cleanup settings and the bounded wait at
    the end of a run every run left its merges' inputs behind (issue: +948 files per 30 runs)."""
    times: list[float] = []
    sizes: list[tuple[int, int]] = []
    for i in range(200):
        t0 = time.perf_counter()
        proc = run_muse(demo_state, "-q", "ingest", "hearts", "--pending")
        times.append(time.perf_counter() - t0)
        assert proc.returncode == 0, proc.stderr
        if i in (0, 99, 199):
            sizes.append(disk_usage(demo_state / "clickhouse"))
    (b1, f1), (b100, f100), (b200, f200) = sizes
    # Bound: the outdated parts a run may leave (muse.store.OUTDATED_PARTS_BOUND, ~5 files
    # each) plus one run's; nothing that grows with the number of runs.
    assert b200 <= b1 * 1.25 + 4_000_000, sizes
    assert f200 <= f1 + 300, sizes
    assert abs(f200 - f100) <= 300, sizes
    first, last = statistics.median(times[:20]), statistics.median(times[-20:])
    assert last <= first * 1.5, (first, last)
    # Every run is in agent_runs: 200 finished runs, none left running.
    proc = run_muse(demo_state, "query", "--format", "json",
                    "SELECT status, exit_code, count() AS n FROM agent_runs FINAL "
                    "WHERE agent = 'ingest-hearts' GROUP BY status, exit_code")
    rows = json.loads(proc.stdout)
    assert {(r["status"], r["exit_code"]): r["n"] for r in rows}.get(("ok", 0), 0) >= 200, rows


def test_db_maintain_removes_every_replaced_part(demo_state: Path) -> None:
    for _ in range(3):
        assert run_muse(demo_state, "-q", "ingest", "hearts", "--pending").returncode == 0
    proc = run_muse(demo_state, "db", "maintain", "--json", "--wait", "60")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outdated_parts"] == 0 and doc["active_parts"] > 0, doc
    size, files = disk_usage(demo_state / "clickhouse")
    assert doc["store_files"] == files


# -- health judges the configured schedule -----------------------------------------------
def _insert_runs(settings: Any, runs: dict[str, tuple[datetime, str]]) -> None:
    import uuid
    from datetime import timedelta

    from muse.runs import ts_str
    from muse.store import open_store

    with open_store(settings) as st:
        st.insert("agent_runs", [{
            "agent": agent, "run_id": str(uuid.uuid4()), "started": ts_str(started),
            "finished": ts_str(started + timedelta(seconds=3)), "status": status, "exit_code": 0,
            "message": "", "rows_written": 0, "updated_at": ts_str(started + timedelta(seconds=3)),
        } for agent, (started, status) in runs.items()])


def _levels(settings: Any, now: datetime) -> dict[str, tuple[str, str]]:
    from muse.health import run_checks

    checks, _ = run_checks(settings, offline=True, now=now)
    return {c.name: (c.level, c.detail) for c in checks if c.name.startswith("agent ")}


def _settings_with(tmp_path: Path, yaml_text: str) -> Any:
    from muse.config import load_settings

    cfg = tmp_path / "muse.yaml"
    cfg.write_text(yaml_text)
    return load_settings(config_file=str(cfg))


def test_health_judges_a_changed_schedule(migrated: Any, tmp_path: Path) -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)

    _insert_runs(migrated, {"watcher": (at("2026-07-11 11:30"), "ok"), "council": (at("2026-07-11 00:00:05"), "ok")})
    now = at("2026-07-11 12:08")
    # The built-in schedule: watcher every 15 min (due 11:45, late after 11:55).
    default = _levels(migrated, now)
    assert default["agent watcher"][0] == "fail" and "late" in default["agent watcher"][1]
    # Every 30 minutes: due 12:00, late only after 12:10.
    every30 = _settings_with(tmp_path, 'schedule:\n  watcher: "*/30 * * * *"\n')
    levels = _levels(every30, now)
    assert levels["agent watcher"][0] == "ok", levels["agent watcher"]
    assert "expected every 30m" in levels["agent watcher"][1]
    assert _levels(every30, at("2026-07-11 12:11"))["agent watcher"][0] == "fail"

    # A Debian host in Berlin (cron ignores CRON_TZ): the council runs at 02:00 Berlin, which
    # is 00:00 UTC in summer. In UTC it would look late from 03:00 UTC on, all day long.
    later = at("2026-07-12 00:30")
    assert _levels(migrated, later)["agent council"][0] == "fail"
    berlin = _settings_with(tmp_path, "schedule:\n  timezone: Europe/Berlin\n")
    council = _levels(berlin, later)["agent council"]
    assert council[0] == "ok", council
    assert "daily 02:00 Europe/Berlin" in council[1]
    assert _levels(berlin, at("2026-07-12 01:01"))["agent council"][0] == "fail"  # past the 1h grace
