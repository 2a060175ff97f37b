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
