from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from fakes import UDPSink, slack_and_pagerduty
from muse.telemetry import Telemetry


def test_dogstatsd_datagrams_of_a_short_run_arrive_before_exit(settings, migrated, isolated_env) -> None:
    sink = UDPSink()
    code = textwrap.dedent("""
        from muse.config import load_settings
        from muse.runs import AgentResult, run_agent

        def agent(ctx):
            ctx.telemetry.count("ingest.banterpacks", 1, commit_sha="c0ffee", status="ok")
            ctx.telemetry.gauge("ingest.lag_seconds", 42, repo="banterpacks")
            return AgentResult()

        raise SystemExit(run_agent(load_settings(), "udp", agent).exit_code)
    """)
    env = {**os.environ, **isolated_env, "DD_AGENT_HOST": "127.0.0.1", "DD_DOGSTATSD_PORT": str(sink.port)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = sink.drain()
    sink.close()
    assert any(l.startswith("ingest.banterpacks:1|c|#") and "commit_sha:c0ffee" in l and "status:ok" in l
               for l in lines), lines
    assert any(l.startswith("ingest.lag_seconds:42|g|#") and "repo:banterpacks" in l for l in lines), lines
    assert all("service:muse" in l for l in lines)


def test_alert_routing_and_failing_sink_does_not_hide_the_alert(tmp_path) -> None:
    fake = slack_and_pagerduty()
    try:
        tel = Telemetry(state_dir=tmp_path, slack_webhook_url=fake.url + "/slack/T/B/X",
                        pagerduty_routing_key="rk-1", pagerduty_events_url=fake.url + "/v2/enqueue")
        assert tel.alert("warning", "lag", "packs lag 2h", dedup_key="k1") == ["slack"]
        assert tel.alert("critical", "watcher failed", "missing_hearts", dedup_key="watch") == ["slack", "pagerduty"]
        assert tel.resolve(dedup_key="watch", title="watcher ok") == ["pagerduty"]
        assert tel.alert("info", "fyi", "x", dedup_key="i") == []
        pd = [r.json() for r in fake.requests if r.path == "/v2/enqueue"]
        assert [(p["event_action"], p["dedup_key"]) for p in pd] == [("trigger", "watch"), ("resolve", "watch")]
        assert pd[0]["payload"]["severity"] == "critical" and pd[0]["payload"]["summary"].startswith("watcher failed")
        fake.slack.faults.add(500, times=10)  # Slack's documented rollup_error, on every attempt
        assert tel.alert("critical", "deploy failed", "ERROR", dedup_key="d") == ["pagerduty"]
        fake.slack.faults.clear()
        tel.slack_webhook_url = "http://127.0.0.1:9/unreachable"
        assert tel.alert("critical", "deploy failed", "ERROR", dedup_key="d") == ["pagerduty"]
        assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 6
    finally:
        fake.close()


def test_metrics_over_http_api_when_no_agent(tmp_path) -> None:
    from fake_datadog import FakeDatadog

    fake = FakeDatadog(api_key="dd-key")
    try:
        tel = Telemetry(state_dir=tmp_path, api_key="dd-key", api_url=fake.url)
        tel.count("watcher.success")
        tel.gauge("watcher.lag_seconds", 12, repo="banterhearts")
        tel.flush()
        [req] = fake.requests
        assert req.path == "/api/v1/series" and req.headers["dd-api-key"] == "dd-key"
        series = {s["metric"]: s for s in req.json()["series"]}
        assert series["watcher.lag_seconds"]["tags"] == ["repo:banterhearts"]
        assert series["watcher.success"]["type"] == "count"
        assert {p["metric"] for p in fake.points} == {"watcher.success", "watcher.lag_seconds"}  # accepted
        tel.flush()
        assert len(fake.requests) == 1  # nothing sent twice
    finally:
        fake.close()
