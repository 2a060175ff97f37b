"""`muse watcher check` and `muse watcher status` as a person (or cron) runs them."""

from __future__ import annotations

import json

from muse.errors import ExitCode
from muse.locks import FileLock
from muse.store import open_store
from watcher_world import add_ui_events, ago, fresh_world, repos, settings  # noqa: F401


def test_status_before_any_check_says_so_and_exits_blocked(settings, migrated, cli) -> None:
    res = cli("watcher", "status")
    assert res.exit_code == ExitCode.BLOCKED, res
    assert res.stdout.startswith("BLOCKED. Council blocked: there is no watcher status file")
    assert "No watcher check has run yet" in res.stdout
    data = json.loads(cli("watcher", "status", "--json").stdout)
    assert data["council"]["open"] is False and data["last_check"] is None
    assert data["consecutive_failures"] == 0 and data["page_open"] is False


def test_check_then_status_when_the_data_is_fresh(settings, migrated, cli, repos) -> None:
    with open_store(settings) as st:
        hearts, packs = fresh_world(repos, st)
    res = cli("watcher", "check")
    assert res.exit_code == ExitCode.OK, res
    lines = res.stdout.splitlines()
    assert lines[0].split("\t") == ["item", "status", "rows", "message"]
    assert lines[1].startswith(f"banterhearts\tok\t3\tvalid: banterhearts {hearts[:8]} (committed 10 min ago)")
    assert lines[2].startswith("banterpacks\tok\t5\tvalid: banterpacks")
    assert any(line.startswith("Council unblocked: watcher run") for line in lines)
    assert lines[-1].startswith("watcher: ok - valid:")

    res = cli("watcher", "status")
    assert res.exit_code == ExitCode.OK, res
    out = res.stdout
    assert out.startswith("UNBLOCKED. Council unblocked")
    assert f"banterhearts\t{hearts[:12]}\t3\tvalid\t0 s\t5 min" in out
    assert f"banterpacks\t{packs[:12]}\t5\tvalid\t" in out and "\t90 min" in out
    assert "names run" in out and "trusted for 30 min" in out
    assert "Failed checks in a row: 0 (PagerDuty pages at 2)." in out

    data = json.loads(cli("watcher", "status", "--json").stdout)
    assert data["council"]["open"] is True and data["council"]["hearts_commit"] == hearts
    assert data["last_check"]["status"] == "valid"
    assert [r["repo"] for r in data["last_check"]["repos"]] == ["banterhearts", "banterpacks"]
    assert data["status_file"]["exists"] and data["status_file"]["problem"] == ""
    assert data["status_file"]["run_id"] == data["last_check"]["run_id"] == data["council"]["run_id"]
    assert data["thresholds_minutes"] == {"banterhearts": 5.0, "banterpacks": 90.0}


def test_failing_check_exit_code_json_and_status_in_words(settings, migrated, cli, repos) -> None:
    repos.hearts.commit(ago(minutes=42))
    packs = repos.packs.commit(ago(minutes=30))
    with open_store(settings) as st:
        add_ui_events(st, packs, newest=ago(minutes=1))
    res = cli("watcher", "check", "--json")
    assert res.exit_code == ExitCode.FAILED, res
    data = json.loads(res.stdout)
    assert data["status"] == "failed" and data["exit_code"] == 1 and data["details"]["status"] == "missing_hearts"
    assert data["details"]["status_file"]["action"] == "removed"
    assert data["details"]["council"]["open"] is False
    assert [i["status"] for i in data["items"]] == ["failed", "ok"]

    res = cli("watcher", "status")
    assert res.exit_code == ExitCode.BLOCKED
    assert res.stdout.startswith("BLOCKED. Council blocked by the last watcher check (")
    assert "Gate: Council blocked: there is no watcher status file" in res.stdout
    assert ": missing_hearts" in res.stdout and "(committed 42 min ago): no bench_runs rows" in res.stdout
    assert "Status file: none at" in res.stdout
    assert "Failed checks in a row: 1 (PagerDuty pages at 2)." in res.stdout
    assert "Last valid check: never." in res.stdout


def test_pending_check_exits_ok_and_says_it_is_not_a_failure(settings, migrated, cli, repos) -> None:
    repos.hearts.commit(ago(minutes=1))
    packs = repos.packs.commit(ago(minutes=1))
    res = cli("watcher", "check")
    assert res.exit_code == ExitCode.OK, res
    assert "watcher: ok - valid_pending, not a failure" in res.stdout
    assert "within its 5 min grace period" in res.stdout and "within its 90 min grace period" in res.stdout


def test_overlapping_check_is_skipped(settings, migrated, cli, repos) -> None:
    lock = FileLock(settings.state_dir / "locks" / "watcher.lock", what="agent watcher")
    lock.acquire_nowait()
    try:
        res = cli("watcher", "check")
    finally:
        lock.release()
    assert res.exit_code == ExitCode.SKIPPED and "holds the lock" in res.stdout


def test_unmigrated_store_asks_for_migrate(settings, cli, repos) -> None:
    res = cli("watcher", "status")
    assert res.exit_code == ExitCode.USAGE and "muse db migrate" in res.stderr
    res = cli("watcher", "check")
    assert res.exit_code == ExitCode.USAGE and "out of date" in res.stdout


def test_cron_run_in_a_real_process_sends_its_metrics_to_dogstatsd(settings, migrated, repos, isolated_env) -> None:
    import os
    import subprocess

    from helpers import muse_cmd
    from fakes import UDPSink

    repos.hearts.commit(ago(minutes=42))
    packs = repos.packs.commit(ago(hours=1))
    with open_store(settings) as st:
        add_ui_events(st, packs, newest=ago(minutes=2))
    sink = UDPSink()
    try:
        env = {**os.environ, "DD_AGENT_HOST": "127.0.0.1", "DD_DOGSTATSD_PORT": str(sink.port)}
        res = subprocess.run([*muse_cmd(), "--log-format", "plain", "watcher", "check"], env=env,
                             capture_output=True, text=True, timeout=120)
        lines = sink.drain()
    finally:
        sink.close()
    assert res.returncode == ExitCode.FAILED, res.stderr
    assert "alert [warning] muse watcher failed: missing_hearts" in res.stderr
    assert any(line.startswith("watcher.failure:1|c|#") and "reason:missing_hearts" in line
               and "repo:banterhearts" in line for line in lines), lines
    assert any(line.startswith("watcher.lag_seconds:") and "|g|#" in line and "repo:banterpacks" in line
               for line in lines), lines
    assert not any(line.startswith("watcher.success") for line in lines)
