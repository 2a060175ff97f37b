"""A month under cron (issue 23): a bounded store, runs that yield and are all recorded,
JSON logs, and a schedule health knows. Real engine, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from helpers import muse_cmd
from muse.fsutil import disk_usage
from muse.demo.runner import run_demo
from muse.errors import ExitCode

NOW = datetime(2026, 5, 8, 2, 40, tzinfo=timezone.utc)
SMALL = {"days": 4, "scale": 0.1, "until": "ingest-packs"}


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
    sizes: list[tuple[int, int]] = []
    for i in range(200):
        proc = run_muse(demo_state, "-q", "ingest", "hearts", "--pending")
        assert proc.returncode == 0, proc.stderr
        if i in (0, 99, 199):
            sizes.append(disk_usage(demo_state / "clickhouse"))
    (b1, f1), (b100, f100), (b200, f200) = sizes
    # The bound: the replaced parts a run may leave before one waits for their removal
    # (OUTDATED_PARTS_BOUND, ~14 files each, or the byte bound) plus one run's own; a
    # constant, whatever the number of runs. (Without the fix: +948 files per 30 runs.)
    from muse.store import OUTDATED_BYTES_FLOOR, OUTDATED_PARTS_BOUND

    files_bound = (OUTDATED_PARTS_BOUND + 10) * 14
    for b, f in ((b100, f100), (b200, f200)):
        assert b <= b1 * 1.1 + OUTDATED_BYTES_FLOOR + 1_000_000, sizes
        assert f <= f1 + files_bound, (sizes, files_bound)
    # Run time staying flat is a speed target: benchmarks/store_growth.py measures it (a ratio
    # of medians in one run), not this test, which a second test worker's load would decide.
    # Every run is in agent_runs: 200 finished runs, none left running.
    proc = run_muse(demo_state, "query", "--format", "json",
                    "SELECT status, exit_code, count() AS n FROM agent_runs FINAL "
                    "WHERE agent = 'ingest-hearts' GROUP BY status, exit_code")
    rows = json.loads(proc.stdout)
    assert {(r["status"], r["exit_code"]): r["n"] for r in rows}.get(("ok", 0), 0) >= 200, rows


@pytest.mark.slow
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

    from muse.hours import ts_str
    from muse.store import open_store

    with open_store(settings) as st:
        st.insert("agent_runs", [{
            "agent": agent, "run_id": str(uuid.uuid4()), "started": ts_str(started),
            "finished": ts_str(started + timedelta(seconds=3)), "status": status, "exit_code": 0,
            "message": "", "rows_written": 0, "updated_at": ts_str(started + timedelta(seconds=3)),
        } for agent, (started, status) in runs.items()])


def _levels(settings: Any, now: datetime) -> dict[str, tuple[str, str]]:
    from muse.ops.health import run_checks

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


# -- interactive queries yield to agents; every run is recorded ---------------------------
# 40 blocks of 65,536 rows sleeping 2.6 s each: about 100 s, little CPU (no SETTINGS clause:
# the read-only sandbox refuses one).
LONG_QUERY = "SELECT sleepEachRow(0.00004) FROM numbers(2621440)"


def _alerts(state: Path) -> list[dict[str, Any]]:
    path = state / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _start_query(state: Path, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([*muse_cmd(), "--state-dir", str(state), "query", LONG_QUERY], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
    lock = state / "clickhouse.lock"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the query holds the store
        if lock.exists() and '"muse query"' in lock.read_text() and str(proc.pid) in lock.read_text():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the query never took the store")


def test_a_bounded_query_yields_to_an_agent_that_starts_meanwhile(migrated: Any) -> None:
    state = migrated.state_dir
    query = _start_query(state, {"MUSE_QUERY_TIMEOUT_SECONDS": "2"})
    agent = run_muse(state, "--log-format", "json", "analytics", "run",
                     env={"MUSE_STORE_LOCK_TIMEOUT_SECONDS": "30"})
    q_out, q_err = query.communicate(timeout=30)
    assert query.returncode == 1 and "query.timeout_seconds (2 s)" in q_err, q_err
    assert agent.returncode == 0, agent.stderr
    lines = [json.loads(line) for line in agent.stderr.splitlines()]
    waits = [l["message"] for l in lines if "waiting up to" in l["message"]]
    # The holder is named by its subcommand; the SQL text is nobody else's business.
    assert waits and "muse query" in waits[0] and "sleepEachRow" not in agent.stderr + agent.stdout, waits
    assert _alerts(state) == []


@pytest.mark.slow
def test_an_agent_outwaited_by_a_query_warns_is_recorded_and_counted(migrated: Any) -> None:
    state = migrated.state_dir
    query = _start_query(state, {"MUSE_QUERY_TIMEOUT_SECONDS": "60"})
    try:
        agent = run_muse(state, "--log-format", "json", "analytics", "run",
                         env={"MUSE_STORE_LOCK_TIMEOUT_SECONDS": "1"})
    finally:
        query.kill()
        query.communicate(timeout=30)
    assert agent.returncode == ExitCode.STORE_UNAVAILABLE, agent.stderr
    assert _alerts(state) == []  # no page, no warning alert either: a log line says why
    logs = [json.loads(line) for line in agent.stderr.splitlines()]
    assert any(l["level"] == "warning" and "interactive command (muse query)" in l["message"] and
               "not paging" in l["message"] for l in logs), logs
    [result] = [json.loads(line) for line in agent.stdout.splitlines()]
    assert result["kind"] == "result" and result["data"]["status"] == "unavailable"
    assert result["data"]["exit_code"] == 5 and result["level"] == "error"
    assert "sleepEachRow" not in agent.stdout + agent.stderr

    # Health and digest count it at once (from the state dir's run ledger) ...
    health = run_muse(state, "health", "--offline", "--json")
    check = next(c for c in json.loads(health.stdout)["checks"] if c["name"] == "agent analytics")
    assert check["level"] == "warn" and "last status unavailable" in check["detail"], check
    assert "1 store unavailable (exit 5) in 24h" in check["detail"], check
    digest = run_muse(state, "digest")
    assert "Failed agent runs: 1" in digest.stdout and "unavailable" in digest.stdout, digest.stdout
    assert "Agent runs: 1 store unavailable (exit 5)" in digest.stdout, digest.stdout

    # ... and the next run that reaches the store folds it into agent_runs, with its exit code.
    assert run_muse(state, "analytics", "run").returncode == 0
    rows = json.loads(run_muse(state, "query", "--format", "json",
                               "SELECT status, exit_code FROM agent_runs FINAL ORDER BY started").stdout)
    assert [(r["status"], r["exit_code"]) for r in rows] == [("unavailable", 5), ("ok", 0)]
    assert not (state / "runs" / "ledger.jsonl").exists()
    digest = run_muse(state, "digest")
    assert "Agent runs: 1 ok, 1 store unavailable (exit 5)" in digest.stdout, digest.stdout
    health = run_muse(state, "health", "--offline", "--json")
    check = next(c for c in json.loads(health.stdout)["checks"] if c["name"] == "agent analytics")
    assert "1 store unavailable (exit 5) in 24h" in check["detail"], check


def test_a_skipped_run_is_recorded_with_exit_4(migrated: Any) -> None:
    from muse.locks import FileLock

    state = migrated.state_dir
    lock = FileLock(state / "locks" / "analytics.lock", what="agent analytics")
    lock.acquire_nowait()
    try:
        skipped = run_muse(state, "analytics", "run")
    finally:
        lock.release()
    assert skipped.returncode == ExitCode.SKIPPED
    assert run_muse(state, "analytics", "run").returncode == 0
    rows = json.loads(run_muse(state, "query", "--format", "json",
                               "SELECT status, exit_code FROM agent_runs FINAL ORDER BY started").stdout)
    assert [(r["status"], r["exit_code"]) for r in rows] == [("skipped", 4), ("ok", 0)]


# -- signals and runs left running ----------------------------------------------------------
SLOW_AGENT = """
import sys, time
from muse.config import load_settings
from muse.runs import AgentResult, run_agent

def slow(ctx):
    print("started", flush=True)
    time.sleep(60)
    return AgentResult()

sys.exit(int(run_agent(load_settings(), "slowpoke", slow).exit_code))
"""


@pytest.mark.parametrize("signum, code", [(15, 143), (2, 130)])
def test_sigterm_and_sigint_finish_the_row_as_interrupted(migrated: Any, signum: int, code: int) -> None:
    import sys

    proc = subprocess.Popen([sys.executable, "-c", SLOW_AGENT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    rows = json.loads(run_muse(migrated.state_dir, "query", "--format", "json",
                               "SELECT status, exit_code, message, finished IS NOT NULL AS done "
                               "FROM agent_runs FINAL WHERE agent = 'slowpoke'").stdout)
    assert rows == [{"status": "interrupted", "exit_code": code, "done": 1,
                     "message": f"interrupted by {'SIGTERM' if code == 143 else 'SIGINT'}"}], rows


def test_health_reports_a_run_left_running_past_its_timeout(migrated: Any) -> None:
    import uuid
    from datetime import timedelta

    from muse.hours import ts_str
    from muse.store import open_store

    now = datetime.now(timezone.utc)
    with open_store(migrated) as st:  # a watcher killed with SIGKILL 2 hours ago, and one running now
        st.insert("agent_runs", [
            {"agent": "watcher", "run_id": str(uuid.uuid4()), "started": ts_str(now - timedelta(hours=2)),
             "status": "running", "updated_at": ts_str(now - timedelta(hours=2))},
            {"agent": "watcher", "run_id": str(uuid.uuid4()), "started": ts_str(now - timedelta(seconds=30)),
             "status": "running", "updated_at": ts_str(now)}])
    health = run_muse(migrated.state_dir, "health", "--offline", "--json")
    stuck = next(c for c in json.loads(health.stdout)["checks"] if c["name"] == "stuck runs")
    assert stuck["level"] == "warn" and stuck["detail"].startswith("1 run(s) still 'running' past their timeout")
    assert "watcher run" in stuck["detail"] and "started 2 h ago" in stuck["detail"], stuck


# -- logs a shipper can read -----------------------------------------------------------------
@pytest.mark.slow
def test_every_line_of_a_cron_style_log_is_json(demo_state: Path, tmp_path: Path) -> None:
    """What crontab.example does: `muse --log-format json <cmd> >> log 2>&1`, for agents
    that succeed, skip, fail, and commands that print tables or fail before running."""
    import shlex

    log = tmp_path / "muse.log"
    muse = " ".join(shlex.quote(p) for p in muse_cmd())
    state = shlex.quote(str(demo_state))
    commands = [
        "ingest hearts --pending", "ingest packs", "watcher check", "analytics run", "health --offline",
        "digest", "db status", "db maintain", "cron print", "config show",
        "query 'SELECT agent, status FROM agent_runs FINAL LIMIT 3'",
        "query 'SELEC nonsense'",  # a usage error
        "ingest hearts --no-such-flag",  # an argument error
    ]
    for cmd in commands:
        subprocess.run(f"{muse} --log-format json --state-dir {state} {cmd} >> {shlex.quote(str(log))} 2>&1",
                       shell=True, timeout=120, env=dict(os.environ))
    # A server that refuses connections (the driver would print a traceback per attempt).
    subprocess.run(f"{muse} --log-format json --state-dir {state} ingest hearts --pending >> {log} 2>&1",
                   shell=True, timeout=120, env={**os.environ, "MUSE_CLICKHOUSE_URL": "clickhouse://127.0.0.1:1/x"})
    lines = log.read_text().splitlines()
    assert len(lines) > 30
    docs = []
    for n, line in enumerate(lines, 1):
        try:
            docs.append(json.loads(line))
        except ValueError:
            pytest.fail(f"line {n} of the cron log is not JSON: {line[:200]!r}")
    assert all({"ts", "level", "kind", "message"} <= set(d) for d in docs)
    kinds = {d["kind"] for d in docs}
    assert {"log", "result", "error"} <= kinds, kinds
    # Failures are at error level: the bad query's error, and the run that could not reach the server.
    errors = [d for d in docs if d["level"] == "error"]
    assert any(d["kind"] == "error" and d.get("exit_code") == 2 for d in errors), errors
    assert any(d["kind"] == "result" and d["data"]["exit_code"] == 5 for d in errors), errors
    assert not any("Traceback" in d["message"] for d in docs)


def test_log_format_from_the_config_file_is_honoured(migrated: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "muse.yaml"
    cfg.write_text("log:\n  format: json\n")
    proc = run_muse(migrated.state_dir, "--config", str(cfg), "analytics", "run")
    assert proc.returncode == 0, proc.stderr
    for line in (proc.stdout + proc.stderr).splitlines():
        json.loads(line)
    assert json.loads(proc.stdout.splitlines()[-1])["data"]["status"] == "ok"
    # The flag still wins over the file.
    plain = run_muse(migrated.state_dir, "--config", str(cfg), "--log-format", "plain", "analytics", "run")
    assert plain.stdout.splitlines()[-1].startswith("analytics: ok")


# -- runs and config: one clear line with the documented exit code (issue 17) ---------------
@pytest.mark.parametrize("content, expected", [
    (b"watcher:\n  hearts_threshold_minutes: .nan\n", "watcher.hearts_threshold_minutes: expected a finite number"),
    (b"watcher:\n  packs_threshold_minutes: .inf\n", "watcher.packs_threshold_minutes: expected a finite number"),
    (b"log:\n  format: json\n# caf\xe9\n", "not UTF-8 text"),
])
def test_bad_config_values_exit_2_with_one_line(cli, tmp_path: Path, content: bytes, expected: str) -> None:
    cfg = tmp_path / "muse.yaml"
    cfg.write_bytes(content)
    result = cli("--config", str(cfg), "config", "validate")
    assert result.exit_code == 2, result
    assert expected in result.output and "unexpected" not in result.output and "Traceback" not in result.output


def test_a_bad_port_in_the_store_url_exits_2_without_the_password(cli) -> None:
    result = cli("--store-url", "clickhouse://muse:pw-secret-1@127.0.0.1:99999/db", "query", "SELECT 1")
    assert result.exit_code == 2, result
    assert "store.url: bad port" in result.stderr and "pw-secret-1" not in result.output
    assert "unexpected" not in result.output


def test_an_unreachable_server_prints_no_traceback(state_dir: Path) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = run_muse(state_dir, "--log-format", "json", "analytics", "run",
                    env={"MUSE_CLICKHOUSE_URL": f"clickhouse://127.0.0.1:{port}/x"})
    assert proc.returncode == ExitCode.STORE_UNAVAILABLE
    assert "Traceback" not in proc.stdout + proc.stderr
    for line in (proc.stdout + proc.stderr).splitlines():
        json.loads(line)


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 64 MB tmpfs (root only): a state dir that can be made read-only or full."""
    mnt = tmp_path / "mnt"
    if os.geteuid() != 0 or not _tmpfs(mnt, "64m"):
        pytest.skip("needs root and mount (a tmpfs to make read-only or full)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_read_only_state_dir_is_one_clear_line(small_disk: Path) -> None:
    state = small_disk / "state"
    assert run_muse(state, "db", "migrate").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    health = run_muse(state, "health", "--offline", "--json")
    assert health.returncode == 1 and "Traceback" not in health.stderr
    checks = {c["name"]: c for c in json.loads(health.stdout)["checks"]}
    assert checks["state dir"]["level"] == "fail" and "Read-only file system" in checks["state dir"]["detail"]
    for args in (["analytics", "run"], ["watcher", "check"]):
        proc = run_muse(state, *args)
        assert proc.returncode == ExitCode.FAILED, proc.stderr
        assert "Read-only file system" in proc.stdout + proc.stderr and "unexpected" not in proc.stdout + proc.stderr
        assert f"alert [critical] muse {args[0]}" in proc.stderr  # raised (its local record cannot be written)


@pytest.mark.slow
def test_a_full_disk_alerts_instead_of_crashing(small_disk: Path) -> None:
    state = small_disk / "state"
    assert run_muse(state, "db", "migrate").returncode == 0
    subprocess.run(["dd", "if=/dev/zero", f"of={small_disk / 'fill'}", "bs=1M"], capture_output=True)
    for args in (["analytics", "run"], ["watcher", "check"]):
        proc = run_muse(state, *args)
        assert proc.returncode == ExitCode.FAILED, proc.stderr
        out = proc.stdout + proc.stderr
        assert "unexpected" not in out and "Traceback" not in out
        assert "not enough space" in out or "No space left" in out
        assert f"alert [critical] muse {args[0]}" in proc.stderr, proc.stderr  # paged before anything else
