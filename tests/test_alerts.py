"""Alert delivery against the fakes of Slack, PagerDuty, Datadog and a real UDP DogStatsD:
the outbox, retries (Retry-After within the deadline), lost replies, crashes, resolves,
expiry, hostile text, truncation, DogStatsD events, and the run metric of every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from fake_datadog import FakeDatadog
from fakes import UDPSink, slack_and_pagerduty
from muse.outbox import Outbox
from muse.telemetry import Telemetry

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


@pytest.fixture
def hooks() -> Iterator[Any]:
    fake = slack_and_pagerduty()
    yield fake
    fake.close()



@pytest.fixture
def sink() -> Iterator[UDPSink]:
    fake = UDPSink()
    yield fake
    fake.close()


@pytest.fixture
def env(hooks: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "SLACK_WEBHOOK_URL": hooks.url + "/services/T000/B000/hooksecret",
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "MUSE_PAGERDUTY_EVENTS_URL": hooks.url + "/v2/enqueue",
        "MUSE_HTTP_RETRY_BACKOFF_SECONDS": "0.01",
        "MUSE_ALERTS_DELIVERY_DEADLINE_SECONDS": "5",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _settings() -> Any:
    from muse.config import load_settings

    return load_settings()


def _tel(state_dir: Path, hooks: Any, **kw: Any) -> Telemetry:
    return Telemetry(state_dir=state_dir, slack_webhook_url=hooks.url + "/services/T/B/x",
                     pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=hooks.url + "/v2/enqueue",
                     http_backoff=0.01, **kw)


def _pd_actions(hooks: Any) -> list[tuple[str, str]]:
    return [(r.json()["event_action"], r.json()["dedup_key"]) for r in hooks.requests if r.path == "/v2/enqueue"]


# -- the outbox survives failures ---------------------------------------------------------------
def test_alert_survives_a_503_and_the_next_run_of_any_agent_delivers_it(env, hooks, settings, migrated) -> None:
    from muse.runs import AgentResult, run_agent

    hooks.pagerduty.faults.add(503, times=3)  # every attempt of this run
    tel = Telemetry.from_settings(_settings())
    reached = tel.alert("critical", "muse watcher failed", "missing_hearts", dedup_key="muse-watcher-failed")
    assert reached == ["slack"]  # PagerDuty said 503 three times
    assert hooks.pagerduty.incidents == {}
    assert Outbox(settings.state_dir).depth()["pagerduty"]["pending"] == 1
    record = json.loads((settings.state_dir / "alerts.jsonl").read_text().splitlines()[-1])
    assert record["sinks"] == ["slack"] and record["queued"] == ["pagerduty"]
    # Another agent's run (an ok one, alerting nothing) delivers it.
    out = run_agent(_settings(), "digest", lambda ctx: AgentResult())
    assert out.exit_code == 0
    assert hooks.pagerduty.incidents == {"muse-watcher-failed": "triggered"}
    assert Outbox(settings.state_dir).depth() == {}


def test_alert_written_before_a_crash_is_delivered_by_the_next_run(env, hooks, settings, migrated,
                                                                  isolated_env) -> None:
    from muse.runs import AgentResult, run_agent

    code = textwrap.dedent("""
        import os
        from muse.config import load_settings
        from muse.outbox import Outbox
        from muse.telemetry import Telemetry

        Outbox.drain = lambda *a, **k: os._exit(9)  # the process dies before any delivery
        Telemetry.from_settings(load_settings()).alert(
            "critical", "muse publisher failed", "deploy failed", dedup_key="muse-publisher-failed")
    """)
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 9, res.stderr
    assert hooks.requests == []
    run_agent(_settings(), "watcher", lambda ctx: AgentResult())
    assert hooks.pagerduty.incidents == {"muse-publisher-failed": "triggered"}
    assert hooks.slack.messages and "muse publisher failed" in hooks.slack.messages[0]


def test_a_lost_reply_is_retried_and_pagerduty_dedups_it(tmp_path, hooks) -> None:
    hooks.pagerduty.faults.add(lost=True)  # PagerDuty opens the incident, the answer never arrives
    tel = _tel(tmp_path, hooks)
    assert tel.alert("critical", "deploy failed", "x", dedup_key="d-1") == ["slack", "pagerduty"]
    assert _pd_actions(hooks) == [("trigger", "d-1"), ("trigger", "d-1")]
    assert hooks.pagerduty.incidents == {"d-1": "triggered"}  # one incident
    assert Outbox(tmp_path).depth() == {}


def test_a_torn_last_line_is_skipped_and_nothing_else_is_lost(tmp_path, hooks) -> None:
    hooks.slack.faults.add(500, times=3)
    tel = _tel(tmp_path, hooks)
    tel.alert("warning", "lag", "packs lag 2h", dedup_key="k1")
    with open(tmp_path / "outbox" / "outbox.jsonl", "a") as fh:
        fh.write('{"op": "add", "id": "torn", "sink": "sla')  # a crash mid-write
    tel2 = _tel(tmp_path, hooks)
    tel2.deliver_pending()
    assert hooks.slack.messages == ["*lag*\npacks lag 2h"]
    assert Outbox(tmp_path).depth() == {}


# -- resolves ------------------------------------------------------------------------------------
def test_a_lost_resolve_is_retried_until_accepted_and_the_page_stays_open_until_then(env, hooks, settings,
                                                                                    migrated) -> None:
    from muse.runs import AgentResult, run_agent

    def crash(ctx: Any) -> AgentResult:
        raise RuntimeError("boom")

    marker = settings.state_dir / "pages" / "analytics.open"
    out = run_agent(_settings(), "analytics", crash)
    assert out.exit_code == 1 and marker.exists()
    assert hooks.pagerduty.incidents == {"muse-analytics-failed": "triggered"}
    # Recovered, but PagerDuty answers the resolve with 503 for the whole run.
    hooks.pagerduty.faults.add(503, times=1000)
    out = run_agent(_settings(), "analytics", lambda ctx: AgentResult())
    assert out.exit_code == 0
    assert marker.exists(), "the page marker was cleared although the resolve was not accepted"
    assert hooks.pagerduty.incidents == {"muse-analytics-failed": "triggered"}
    hooks.pagerduty.faults.clear()
    # The next run of any agent retries it; PagerDuty accepts; the marker goes.
    run_agent(_settings(), "digest", lambda ctx: AgentResult())
    assert hooks.pagerduty.incidents == {"muse-analytics-failed": "resolved"}
    assert not marker.exists()
    # And a later ok run of the agent does not resolve again.
    n = len(_pd_actions(hooks))
    run_agent(_settings(), "analytics", lambda ctx: AgentResult())
    assert len(_pd_actions(hooks)) == n


def test_the_watchers_own_resolve_is_retried_by_the_next_run(tmp_path, hooks) -> None:
    tel = _tel(tmp_path, hooks)
    tel.alert("critical", "muse watcher: council blocked, 2 failed checks in a row", "x",
              dedup_key="muse-watcher-failed")
    hooks.pagerduty.faults.add(502, times=3)
    assert tel.resolve(dedup_key="muse-watcher-failed", title="data fresh again") == []
    assert hooks.pagerduty.incidents["muse-watcher-failed"] == "triggered"
    _tel(tmp_path, hooks).flush()  # any later run
    assert hooks.pagerduty.incidents["muse-watcher-failed"] == "resolved"


def test_a_resolve_never_overtakes_its_trigger(tmp_path, hooks) -> None:
    hooks.pagerduty.faults.add(503, times=3)
    tel = _tel(tmp_path, hooks)
    tel.alert("critical", "boom", "x", dedup_key="k")
    hooks.pagerduty.faults.add(503, times=3)
    tel.resolve(dedup_key="k", title="ok again")
    assert hooks.pagerduty.incidents == {}
    _tel(tmp_path, hooks).flush()
    assert _pd_actions(hooks)[-2:] == [("trigger", "k"), ("resolve", "k")]
    assert hooks.pagerduty.incidents == {"k": "resolved"}


# -- Retry-After and the deadline -------------------------------------------------------------------
def test_retry_after_is_honoured_within_the_deadline(tmp_path, hooks) -> None:
    hooks.slack.faults.add(429, headers={"Retry-After": "1"})
    tel = _tel(tmp_path, hooks, delivery_deadline_seconds=10)
    t0 = time.monotonic()
    assert tel.alert("warning", "lag", "2h", dedup_key="k") == ["slack"]
    posts = [r for r in hooks.requests if r.path.startswith("/services/")]
    assert len(posts) == 2
    assert time.monotonic() - t0 >= 0.95  # waited what Slack asked, not the 0.01 s backoff


def test_a_retry_after_past_the_deadline_is_not_waited_for_and_the_alert_stays_queued(tmp_path, hooks) -> None:
    hooks.slack.faults.add(429, headers={"Retry-After": "120"})
    tel = _tel(tmp_path, hooks, delivery_deadline_seconds=2)
    t0 = time.monotonic()
    assert tel.alert("warning", "lag", "2h", dedup_key="k") == []
    assert time.monotonic() - t0 < 2
    assert Outbox(tmp_path).depth()["slack"]["pending"] == 1
    _tel(tmp_path, hooks).flush()
    assert hooks.slack.messages == ["*lag*\n2h"]


def test_an_undelivered_critical_alert_expires_and_health_reports_it(env, hooks, settings, monkeypatch) -> None:
    from muse.ops.health import outbox_checks

    hooks.pagerduty.faults.add(503, times=100)
    tel = Telemetry.from_settings(_settings())
    tel.alert_expiry_hours = 0.5 / 3600  # half a second
    tel.alert("critical", "muse publisher failed", "deploy failed", dedup_key="p")
    checks = {c.name: c for c in outbox_checks(_settings())}
    assert checks["alert outbox pagerduty"].level == "warn"
    assert "1 undelivered (1 critical)" in checks["alert outbox pagerduty"].detail
    time.sleep(0.6)
    Telemetry.from_settings(_settings()).flush()
    checks = {c.name: c for c in outbox_checks(_settings())}
    assert "alert outbox pagerduty" not in checks
    assert checks["alert outbox expired"].level == "fail"
    assert "'muse publisher failed'" in checks["alert outbox expired"].detail


# -- hostile text and limits ------------------------------------------------------------------------
def test_slack_text_is_escaped_so_a_branch_cannot_notify_the_channel(tmp_path, hooks) -> None:
    tel = _tel(tmp_path, hooks)
    tel.alert("critical", "push of <!channel> & co failed", "branch <!channel> & co: <http://evil|click>",
              dedup_key="x")
    [text] = hooks.slack.messages
    assert "<!channel>" not in text and "<http" not in text
    assert "&lt;!channel&gt; &amp; co" in text
    assert text.startswith(":rotating_light: *push of &lt;!channel&gt; &amp; co failed*")


def test_long_texts_are_truncated_with_a_marker_for_pagerduty_and_datadog(dd, tmp_path, hooks) -> None:
    tel = _tel(tmp_path, hooks, api_key=dd.api_key, api_url=dd.url)
    reached = tel.alert("critical", "T" * 300, "x" * 10_000, dedup_key="long", tags={"run_id": "abc-123"})
    assert reached == ["datadog event", "slack", "pagerduty"]
    [pd] = [e for e in hooks.pagerduty.events if e["event_action"] == "trigger"]
    summary = pd["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith("[truncated]")
    [event] = dd.events
    assert len(event["text"]) <= 4000 and event["text"].endswith("[truncated]")
    assert len(event["title"]) <= 100 and event["title"].endswith("[truncated]")


def test_a_page_carries_the_run_id_in_custom_details_and_a_page_without_one_has_none(tmp_path, hooks) -> None:
    tel = _tel(tmp_path, hooks)
    tel.alert("critical", "muse watcher failed", "stale", dedup_key="w", source="muse-watcher",
              tags={"run_id": "11111111-aaaa", "episode": 7, "status": "missing_hearts"})
    tel.alert("critical", "muse council failed", "boom", dedup_key="c")
    with_run, without = [e for e in hooks.pagerduty.events if e["event_action"] == "trigger"]
    assert with_run["payload"] == {"summary": "muse watcher failed: stale", "source": "muse-watcher",
                                   "severity": "critical", "class": "muse-watcher-failed",
                                   "custom_details": {"episode": "7", "run_id": "11111111-aaaa"}}
    assert "custom_details" not in without["payload"]  # no empty or null details on the page
    assert without["payload"]["source"] == "muse" and without["dedup_key"] == "c"


def test_datadog_events_carry_the_run_id_in_text_and_an_aggregation_key_per_kind(dd, tmp_path, hooks) -> None:
    tel = _tel(tmp_path, hooks, api_key=dd.api_key, api_url=dd.url, constant_tags=["service:muse"])
    for streak, run in ((2, "11111111-aaaa"), (3, "22222222-bbbb")):
        tel.alert("critical", f"muse watcher: council blocked, {streak} failed checks in a row", "stale",
                  dedup_key="muse-watcher-failed", tags={"run_id": run, "status": "missing_hearts"})
    tel.alert("warning", "banterpacks telemetry gap", "12:00", dedup_key="gap")
    first, second, gap = dd.events
    assert not any(t.startswith("run_id:") for e in dd.events for t in e["tags"])
    assert "run_id: 11111111-aaaa" in first["text"] and "run_id: 22222222-bbbb" in second["text"]
    assert first["tags"] == ["service:muse", "status:missing_hearts"]
    assert first["aggregation_key"] == second["aggregation_key"] != gap["aggregation_key"]
    assert first["alert_type"] == "error" and gap["alert_type"] == "warning"
    tel.alert("warning", "push of @pagerduty-muse failed", "branch @slack-all", dedup_key="at")
    assert "@pagerduty-muse" not in dd.events[-1]["title"] and "@slack-all" not in dd.events[-1]["text"]
    assert dd.events[-1]["text"] == "branch @\u200bslack-all"


def test_datadog_event_429_waits_for_x_ratelimit_reset(dd, tmp_path, hooks) -> None:
    dd.fail(429, path="/api/v1/events", headers={"X-RateLimit-Reset": "1"})
    tel = _tel(tmp_path, hooks, api_key=dd.api_key, api_url=dd.url)
    t0 = time.monotonic()
    assert tel.alert("info", "fyi", "x", dedup_key="i") == ["datadog event"]
    assert time.monotonic() - t0 >= 0.95 and len(dd.events) == 1


# -- DogStatsD only ---------------------------------------------------------------------------------
def test_with_only_a_dogstatsd_agent_alerts_arrive_as_dogstatsd_events(sink, tmp_path) -> None:
    tel = Telemetry(state_dir=tmp_path, agent_host="127.0.0.1", agent_port=sink.port,
                    constant_tags=["service:muse"])
    assert tel.alert("critical", "muse watcher failed", "missing_hearts\nrun it", dedup_key="w",
                     tags={"run_id": "r-1", "status": "missing_hearts"}) == ["dogstatsd"]
    tel.flush()
    lines = sink.drain()
    [event] = [line for line in lines if line.startswith("_e{")]
    title = "muse watcher failed"
    assert event.startswith(f"_e{{{len(title)},")
    assert f":{title}|missing_hearts\\nrun it" in event
    assert "|t:error" in event and "|k:muse-watcher-failed" in event
    tags = event.rsplit("|#", 1)[1].split(",")
    assert sorted(tags) == ["service:muse", "status:missing_hearts"]  # the run id is in the text
    assert "run_id: r-1" in event.split("|")[1]


def test_health_checks_that_the_dogstatsd_host_resolves(monkeypatch) -> None:
    from muse.ops.health import dogstatsd_checks

    monkeypatch.setenv("DD_AGENT_HOST", "127.0.0.1")
    [c] = dogstatsd_checks(_settings())
    assert c.level == "ok"
    monkeypatch.setenv("DD_AGENT_HOST", "no-such-host.invalid")
    [c] = dogstatsd_checks(_settings())
    assert c.level == "fail" and "does not resolve" in c.detail


# -- metrics ----------------------------------------------------------------------------------------
def test_series_survive_a_5xx_and_backfills_keep_their_own_timestamps(dd, tmp_path) -> None:
    dd.fail(503, times=1, path="/api/v1/series")
    tel = Telemetry(state_dir=tmp_path, api_key=dd.api_key, api_url=dd.url, http_backoff=0.01)
    now = time.time()
    tel.count("llm.cost_usd", 1.5, timestamp=now - 1800, source="banterpacks", model="m")
    tel.count("llm.cost_usd", 9.0, timestamp=now - 13 * 86400, source="banterpacks", model="m")
    tel.count("watcher.success")
    tel.flush()
    costs = [p for p in dd.points if p["metric"] == "llm.cost_usd"]
    # The half-hour-old point is sent stamped with its time; the 13-day-old one is not
    # sent at all (Datadog would drop it), and nothing is stamped now.
    assert [(int(p["ts"]), p["value"]) for p in costs] == [(int(now - 1800), 1.5)]
    assert [p["metric"] for p in dd.points].count("watcher.success") == 1
    assert len([r for r in dd.requests if r.path == "/api/v1/series"]) == 2


def test_a_backfill_is_not_sent_over_dogstatsd_stamped_now(sink, tmp_path) -> None:
    tel = Telemetry(state_dir=tmp_path, agent_host="127.0.0.1", agent_port=sink.port)
    tel.count("llm.cost_usd", 9.0, timestamp=time.time() - 13 * 86400, model="old")
    tel.count("llm.cost_usd", 1.0, model="new")
    tel.flush()
    lines = sink.drain()
    assert [line.split("|")[0] for line in lines if line.startswith("llm.cost_usd")] == ["llm.cost_usd:1"]


def test_every_exit_5_run_emits_its_run_metric(sink, settings, migrated, isolated_env) -> None:
    """The store is held by another process: the run never reaches it, and still counts."""
    from muse.store import open_store

    code = textwrap.dedent("""
        from muse.config import load_settings
        from muse.runs import AgentResult, run_agent

        raise SystemExit(run_agent(load_settings(), "analytics", lambda ctx: AgentResult()).exit_code)
    """)
    env = {**os.environ, **isolated_env, "DD_AGENT_HOST": "127.0.0.1", "DD_DOGSTATSD_PORT": str(sink.port),
           "MUSE_STORE_LOCK_TIMEOUT_SECONDS": "0.2"}
    with open_store(settings):
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    lines = sink.drain()
    assert res.returncode == 5, res.stderr
    runs = [line for line in lines if line.startswith("agent.run:1|c|#")]
    assert len(runs) == 1, lines
    assert "agent:analytics" in runs[0] and "status:unavailable" in runs[0] and "exit_code:5" in runs[0]


def test_every_run_counts_once_whatever_its_outcome(settings, migrated) -> None:
    from muse.errors import UsageError
    from muse.runs import AgentResult, run_agent

    def usage(ctx: Any) -> AgentResult:
        raise UsageError("bad flag")

    seen = []
    for fn in (lambda ctx: AgentResult(), lambda ctx: AgentResult(status="blocked"), usage):
        tel = Telemetry(state_dir=settings.state_dir)
        run_agent(settings, "council", fn, telemetry=tel)
        [s] = [s for s in tel.samples if s.name == "agent.run"]
        seen.append((s.tags["status"], s.tags["exit_code"]))
    assert seen == [("ok", 0), ("blocked", 3), ("failed", 2)]


# -- the retry policy itself ------------------------------------------------------------------------
def test_the_retry_policy_does_not_retry_missing_files_or_permissions() -> None:
    from muse import retry

    for exc in (FileNotFoundError("x"), PermissionError("x")):
        calls = []

        def fail(exc: Exception = exc) -> None:
            calls.append(1)
            raise exc

        with pytest.raises(type(exc)):
            retry.call(fail, what="t", attempts=3, backoff=0)
        assert len(calls) == 1
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset")
        return "ok"

    assert retry.call(flaky, what="t", attempts=3, backoff=0) == "ok" and len(calls) == 3
    # A service asking for an hour is not waited for (no deadline given: max_wait bounds it).
    calls = []

    def limited() -> None:
        calls.append(1)
        raise retry.TransientHTTPError("t", 429, retry_after=3600)

    t0 = time.monotonic()
    with pytest.raises(retry.TransientHTTPError):
        retry.call(limited, what="t", attempts=3, backoff=0)
    assert len(calls) == 1 and time.monotonic() - t0 < 1


def test_retry_after_parses_seconds_dates_and_datadog_reset() -> None:
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from muse.retry import retry_after_seconds

    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    assert retry_after_seconds({"retry-after": format_datetime(now + timedelta(seconds=30), usegmt=True)},
                               now=now) == 30
    assert retry_after_seconds({"X-RateLimit-Reset": "4"}) == 4
    assert retry_after_seconds({}) is None


def test_concurrent_processes_share_the_outbox_without_losing_or_doubling(env, hooks, settings, isolated_env) -> None:
    """Cron starts agents at the same minute: two processes alert (and drain) at once."""
    code = textwrap.dedent("""
        import sys
        from muse.config import load_settings
        from muse.telemetry import Telemetry

        tel = Telemetry.from_settings(load_settings())
        for i in range(15):
            tel.alert("critical", f"p{sys.argv[1]} alert {i}", "x", dedup_key=f"p{sys.argv[1]}-{i}")
        tel.flush()
    """)
    hooks.pagerduty.faults.add(503, times=4)  # a few retries on the way
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], env={**os.environ}, stderr=subprocess.PIPE,
                              text=True) for n in (1, 2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    Telemetry.from_settings(_settings()).flush()  # whatever a busy outbox left for the next run
    assert sorted(hooks.pagerduty.incidents) == sorted(f"p{n}-{i}" for n in (1, 2) for i in range(15))
    assert Outbox(settings.state_dir).depth() == {}
    triggers = [e["dedup_key"] for e in hooks.pagerduty.events if e["event_action"] == "trigger"]
    assert len(triggers) == 30  # each accepted exactly once (no lost replies scripted here)
