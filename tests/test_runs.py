from __future__ import annotations

import json

from muse.errors import ExitCode, InputError, UsageError
from muse.locks import FileLock
from muse.runs import AgentResult, run_agent
from muse.store import open_store
from muse.telemetry import Telemetry


def _rows(settings):
    with open_store(settings) as st:
        return st.query("SELECT agent, status, rows_written, message, error, finished IS NOT NULL AS done "
                        "FROM agent_runs FINAL ORDER BY started").dicts()


def test_ok_run_writes_one_final_row_and_flushes_metrics(settings, migrated) -> None:
    def agent(ctx, *, n: int) -> AgentResult:
        ctx.telemetry.count("ingest.banterhearts", 1, commit_sha="abc", status="ok")
        return AgentResult(rows_written=n, message=f"wrote {n}")

    out = run_agent(settings, "demo-agent", agent, n=3)
    assert out.exit_code == ExitCode.OK
    rows = _rows(settings)
    assert rows == [{"agent": "demo-agent", "status": "ok", "rows_written": 3, "message": "wrote 3", "error": "",
                     "done": 1}]
    metrics = json.loads((settings.state_dir / "metrics.json").read_text())
    assert metrics["ingest.banterhearts{commit_sha:abc,status:ok}"]["value"] == 1


def test_crash_is_recorded_failed_and_alerted(settings, migrated) -> None:
    tel = Telemetry.from_settings(settings)

    def agent(ctx) -> AgentResult:
        raise ZeroDivisionError("boom")

    out = run_agent(settings, "crashy", agent, telemetry=tel)
    assert out.exit_code == ExitCode.FAILED
    [row] = _rows(settings)
    assert row["status"] == "failed" and "ZeroDivisionError: boom" in row["error"]
    assert tel.alerts_sent[0]["severity"] == "critical"
    assert (settings.state_dir / "alerts.jsonl").read_text().count("muse crashy failed") == 1


def test_expected_failure_keeps_its_message(settings, migrated) -> None:
    def agent(ctx) -> AgentResult:
        raise InputError("report x.json: field results[0].latency_p95_ms: must be >= 0")

    out = run_agent(settings, "picky", agent)
    assert out.exit_code == ExitCode.FAILED
    assert _rows(settings)[0]["message"].startswith("report x.json")


def test_usage_error_exits_2_and_alerts_nobody(settings, migrated) -> None:
    tel = Telemetry.from_settings(settings)

    def agent(ctx) -> AgentResult:
        raise UsageError("episode 21 is draft, not published: nothing to roll back")

    out = run_agent(settings, "picky", agent, telemetry=tel)
    assert out.exit_code == ExitCode.USAGE
    assert out.result.message == "episode 21 is draft, not published: nothing to roll back"
    assert tel.alerts_sent == []


def test_overlapping_run_is_skipped_not_failed(settings, migrated) -> None:
    lock = FileLock(settings.state_dir / "locks" / "busy.lock", what="agent busy")
    lock.acquire_nowait()
    called = []
    try:
        out = run_agent(settings, "busy", lambda ctx: called.append(1) or AgentResult())
    finally:
        lock.release()
    assert out.exit_code == ExitCode.SKIPPED and out.status == "skipped"
    assert "holds the lock" in out.result.message and not called
    assert _rows(settings) == []  # a skipped run did not touch the store


def test_outdated_schema_refuses_with_the_command_to_run(settings) -> None:
    out = run_agent(settings, "eager", lambda ctx: AgentResult())
    assert out.exit_code == ExitCode.USAGE
    assert "out of date" in out.result.message and "run `muse db migrate`" in out.result.message


def test_a_page_is_resolved_by_the_next_successful_run_once(settings, migrated, monkeypatch) -> None:
    from fakes import slack_and_pagerduty
    from muse.config import load_settings

    hooks = slack_and_pagerduty()
    try:
        monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "pd-routing-key-0123")
        monkeypatch.setenv("MUSE_PAGERDUTY_EVENTS_URL", f"{hooks.url}/v2/enqueue")
        s = load_settings()
        outcomes = iter([InputError("store said no"), None, None])

        def agent(ctx) -> AgentResult:
            exc = next(outcomes)
            if exc:
                raise exc
            return AgentResult(message="fine")

        for _ in range(3):
            run_agent(s, "flaky", agent)
        events = [(r.json()["event_action"], r.json()["dedup_key"]) for r in hooks.requests
                  if r.path == "/v2/enqueue"]
        assert events == [("trigger", "muse-flaky-failed"), ("resolve", "muse-flaky-failed")]
    finally:
        hooks.close()
