"""`muse health`: live probes against loopback fakes, --offline, and agents against their schedule."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from fake_datadog import FakeDatadog
from fake_deepl import FakeDeepL
from fake_vercel import FakeVercel
from fakes import FakeHTTP, slack_and_pagerduty
from muse.config import load_settings
from muse.ops.probes import deepl_server_url, probe_datadog, probe_deepl, probe_pagerduty, probe_slack, probe_vercel
from muse.hours import ts_str
from muse.schedule import SCHEDULES

UTC = timezone.utc



@pytest.fixture
def deepl() -> Iterator[FakeDeepL]:
    fake = FakeDeepL(char_count=1200, char_limit=500_000)
    yield fake
    fake.close()


@pytest.fixture
def vercel() -> Iterator[FakeVercel]:
    fake = FakeVercel(team_id="team_abc")
    yield fake
    fake.close()


@pytest.fixture
def hooks() -> Iterator[FakeHTTP]:
    fake = slack_and_pagerduty()
    yield fake
    fake.close()


@pytest.fixture
def live_env(dd: FakeDatadog, deepl: FakeDeepL, vercel: FakeVercel, hooks: FakeHTTP,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every integration configured against its loopback fake, with good credentials."""
    env = {
        "DD_API_KEY": dd.api_key, "DD_APP_KEY": dd.app_key, "DD_API_URL": dd.url,
        "DEEPL_AUTH_KEY": deepl.key, "DEEPL_SERVER_URL": deepl.url,
        "VERCEL_TOKEN": vercel.token, "VERCEL_TEAM_ID": "team_abc", "MUSE_VERCEL_API_URL": vercel.url,
        "SLACK_WEBHOOK_URL": hooks.url + "/slack/T000/B000/hooksecret99",
        "PAGERDUTY_ROUTING_KEY": "pd-routing-key-77", "MUSE_PAGERDUTY_EVENTS_URL": hooks.url + "/v2/enqueue",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def _settings() -> Any:
    return load_settings()


# -- probes, one service at a time --------------------------------------------------
def test_datadog_probe_ok_bad_key_and_timeout(live_env, dd: FakeDatadog, monkeypatch) -> None:
    r = probe_datadog(_settings(), 2.0)
    assert (r.level, r.detail) == ("ok", f"API and application keys valid ({dd.url.split('//')[1]})")
    assert dd.requests[0].path == "/api/v1/validate" and dd.requests[0].headers["dd-api-key"] == dd.api_key

    monkeypatch.setenv("DD_APP_KEY", "wrong-app-key")
    r = probe_datadog(_settings(), 2.0)
    assert r.level == "fail" and "application key rejected" in r.detail and "HTTP 403" in r.detail

    monkeypatch.setenv("DD_API_KEY", "wrong-api-key")
    r = probe_datadog(_settings(), 2.0)
    assert r.level == "fail" and r.detail.startswith("API key rejected") and "Forbidden" in r.detail
    assert "wrong-api-key" not in r.detail

    dd.hang = 2.0
    t0 = time.monotonic()
    r = probe_datadog(_settings(), 0.3)
    assert time.monotonic() - t0 < 1.5
    assert (r.level, r.detail) == ("fail", "no answer within 0.3s")


def test_deepl_probe_usage_key_and_quota(live_env, deepl: FakeDeepL, monkeypatch) -> None:
    r = probe_deepl(_settings(), 2.0)
    assert r.level == "ok" and "1,200 of 500,000 characters used this period (0%)" in r.detail
    assert deepl.http.requests[-1].headers["authorization"] == f"DeepL-Auth-Key {deepl.key}"
    deepl.char_count = 480_000
    assert probe_deepl(_settings(), 2.0).level == "warn"
    deepl.fail_next(456, path="/v2/usage")
    r = probe_deepl(_settings(), 2.0)
    assert r.level == "fail" and "quota exceeded" in r.detail
    monkeypatch.setenv("DEEPL_AUTH_KEY", "other-key:fx")
    r = probe_deepl(_settings(), 2.0)
    assert r.level == "fail" and "key rejected" in r.detail and "HTTP 403" in r.detail and "other-key" not in r.detail
    deepl.hang = 2.0
    assert probe_deepl(_settings(), 0.3).detail == "no answer within 0.3s"


def test_deepl_server_url_follows_the_key_kind() -> None:
    assert deepl_server_url("abc:fx") == "https://api-free.deepl.com"
    assert deepl_server_url("abc") == "https://api.deepl.com"
    assert deepl_server_url("abc:fx", "http://127.0.0.1:9/") == "http://127.0.0.1:9"


def test_vercel_probe_token_project_and_team(live_env, vercel: FakeVercel, monkeypatch) -> None:
    r = probe_vercel(_settings(), 2.0)
    assert (r.level, r.detail) == ("ok", f"token valid; project banterblogs ({vercel.project_id})")
    assert vercel.http.requests[-1].path == "/v9/projects/banterblogs?teamId=team_abc"
    monkeypatch.setenv("VERCEL_PROJECT", "nope")
    r = probe_vercel(_settings(), 2.0)
    assert r.level == "fail" and "project 'nope' not found" in r.detail
    monkeypatch.setenv("VERCEL_TOKEN", "stale-token")
    r = probe_vercel(_settings(), 2.0)
    assert r.level == "fail" and r.detail == "token rejected by " + vercel.url.split("//")[1] + \
        ": HTTP 403 (forbidden: Not authorized)"
    vercel.hang = 2.0
    assert probe_vercel(_settings(), 0.3).level == "fail"


def test_slack_and_pagerduty_only_with_send_test(live_env, hooks: FakeHTTP) -> None:
    s = _settings()
    assert probe_slack(s, 2.0, send_test=False).level == "info"
    assert probe_pagerduty(s, 2.0, send_test=False).level == "info"
    assert hooks.requests == []
    r = probe_slack(s, 2.0, send_test=True)
    assert (r.level, r.detail) == ("ok", "test message posted")
    assert "muse health --send-test" in hooks.requests[-1].json()["text"]
    r = probe_pagerduty(s, 2.0, send_test=True)
    assert r.level == "ok"
    trigger, resolve = [q.json() for q in hooks.requests[-2:]]
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] and trigger["dedup_key"].startswith("muse-health-test-")
    assert trigger["payload"]["severity"] == "info"


def test_slack_and_pagerduty_rejections(live_env, hooks: FakeHTTP, monkeypatch) -> None:
    hooks.slack.faults.add(404)  # the webhook was removed: Slack's documented no_service
    hooks.pagerduty.routing_keys = {"another-services-key"}  # PagerDuty knows no service by muse's key
    s = _settings()
    r = probe_slack(s, 2.0, send_test=True)
    assert r.level == "fail" and r.detail == "webhook rejected the test message: HTTP 404 (no_service)"
    assert "hooksecret99" not in r.detail
    r = probe_pagerduty(s, 2.0, send_test=True)
    assert r.level == "fail" and "Invalid routing key" in r.detail and "pd-routing-key-77" not in r.detail


def test_unreachable_service_is_a_failing_check(live_env, monkeypatch) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("DD_API_URL", f"http://127.0.0.1:{port}")
    r = probe_datadog(_settings(), 1.0)
    assert r.level == "fail" and r.detail == "unreachable (ConnectError)"


# -- the command ------------------------------------------------------------------------
def _insert_runs(settings: Any, runs: dict[str, tuple[datetime, str]]) -> None:
    from muse.store import open_store

    with open_store(settings) as st:
        st.insert("agent_runs", [{
            "agent": agent, "run_id": str(uuid.uuid4()), "started": ts_str(started),
            "finished": ts_str(started + timedelta(seconds=3)), "status": status, "message": f"{agent} {status}",
            "rows_written": 1, "updated_at": ts_str(started + timedelta(seconds=3)),
        } for agent, (started, status) in runs.items()])


def _fresh(now: datetime) -> dict[str, tuple[datetime, str]]:
    return {s.agent: (now - timedelta(minutes=1), "ok") for s in SCHEDULES if s.watched}  # (db-maintain is not an agent)


def test_health_offline_all_agents_on_time(cli, migrated, live_env, dd, deepl, vercel, hooks) -> None:
    _insert_runs(migrated, _fresh(datetime.now(UTC)))
    r = cli("health", "--offline", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["healthy"] is True
    checks = {c["name"]: c for c in doc["checks"]}
    for s in SCHEDULES:
        if not s.watched:
            continue
        assert checks[f"agent {s.agent}"]["level"] == "ok", checks[f"agent {s.agent}"]
        assert f"expected {s.every}" in checks[f"agent {s.agent}"]["detail"]
    assert checks["datadog"]["detail"].endswith("not probed (--offline)")
    # --offline: not one request to any service, although all are configured.
    assert dd.requests == [] and deepl.http.requests == [] and vercel.http.requests == [] and hooks.requests == []


def test_send_test_and_offline_exclude_each_other(cli, migrated) -> None:
    r = cli("health", "--offline", "--send-test")
    assert r.exit_code == 2 and "cannot be combined with --offline" in r.stderr


def test_health_reports_a_late_agent_and_exits_1(cli, migrated) -> None:
    now = datetime.now(UTC)
    runs = _fresh(now)
    runs["watcher"] = (now - timedelta(hours=3), "ok")
    _insert_runs(migrated, runs)
    r = cli("health", "--offline")
    assert r.exit_code == 1, r
    line = next(l for l in r.stdout.splitlines() if l.startswith("agent watcher"))
    assert "\tfail\tlate: last run 3 h ago, expected every 15m" in line
    assert r.stdout.strip().endswith("1 check(s) failing: agent watcher")


def test_health_failed_never_run_and_waiting(cli, migrated) -> None:
    now = datetime.now(UTC)
    runs = _fresh(now)
    runs["ingest-packs"] = (now - timedelta(minutes=2), "failed")
    runs["council"] = (now - timedelta(minutes=2), "blocked")
    runs["publish"] = (now - timedelta(days=2), "ok")
    del runs["i18n"]
    _insert_runs(migrated, runs)
    doc = json.loads(cli("health", "--offline", "--json").stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["agent ingest-packs"]["level"] == "fail" and "last status failed" in checks["agent ingest-packs"]["detail"]
    assert checks["agent council"]["level"] == "warn"
    # The council was blocked, so cron's `&&` did not start publish: not publish's fault.
    assert checks["agent publish"]["level"] == "info" and "council run was blocked" in checks["agent publish"]["detail"]
    assert checks["agent i18n"]["level"] == "warn" and checks["agent i18n"]["detail"].startswith("never run")
    assert doc["healthy"] is False


def test_health_live_probes_run_concurrently_and_keep_secrets(cli, migrated, live_env, dd, deepl, vercel,
                                                              hooks) -> None:
    _insert_runs(migrated, _fresh(datetime.now(UTC)))
    r = cli("health", "--send-test", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    levels = {p["name"]: p["level"] for p in doc["probes"]}
    assert levels == {"datadog": "ok", "deepl": "ok", "vercel": "ok", "slack": "ok", "pagerduty": "ok"}
    # Every service hangs: the probes share the wait instead of adding it up.
    dd.hang = deepl.hang = vercel.hang = 1.5
    t0 = time.monotonic()
    r = cli("health", "--timeout", "0.4")
    elapsed = time.monotonic() - t0
    assert r.exit_code == 1
    assert elapsed < 3.0, elapsed
    for name in ("datadog", "deepl", "vercel"):
        assert any(l.startswith(f"{name}\tfail\tno answer within 0.4s") for l in r.stdout.splitlines()), r.stdout
    for value in live_env.values():
        if "127.0.0.1" not in value or "hooksecret" in value:
            assert value not in r.output and value not in json.dumps(doc)


def test_grants_beyond_the_store_database_are_named() -> None:
    from muse.sandbox import excess_grants

    needed = ["GRANT SELECT, INSERT, ALTER UPDATE, ALTER DELETE, CREATE TABLE, DROP TABLE, OPTIMIZE ON muse.* TO muse",
              "GRANT SELECT(name, engine) ON system.tables TO muse"]
    assert excess_grants(needed, "muse") == []
    too_much = needed + ["GRANT FILE, URL ON *.* TO muse", "GRANT S3 ON *.* TO muse",
                         "GRANT SELECT ON secrets.* TO muse", "GRANT ALL ON *.* TO muse WITH GRANT OPTION",
                         "GRANT READ, WRITE ON URL TO muse", "GRANT admin TO muse"]
    assert excess_grants(too_much, "muse") == [
        "FILE, URL ON *.*", "S3 ON *.*", "SELECT ON secrets.* (beyond database muse)", "ALL ON *.*",
        "READ, WRITE ON URL", "role(s) admin (check their grants too)"]


def test_a_risky_privilege_after_a_column_list_is_still_named() -> None:
    """`SELECT(a, b)` carries commas of its own: the privileges after it must still be read."""
    from muse.sandbox import excess_grants

    assert excess_grants(["GRANT SELECT(name, engine), FILE ON *.* TO muse"], "muse") == ["FILE ON *.*"]
    assert excess_grants(["GRANT SELECT(a, b), INSERT(c), S3 ON muse.* TO muse"], "muse") == ["S3 ON muse.*"]


SERVER_URL = os.environ.get("MUSE_TEST_CLICKHOUSE_URL", "")


@pytest.mark.skipif(not SERVER_URL, reason="MUSE_TEST_CLICKHOUSE_URL is not set; needs a ClickHouse server")
def test_health_checks_the_server_users_grants() -> None:
    from muse.config import load_settings
    from muse.ops.health import grants_check
    from muse.store import open_store

    with open_store(load_settings(overrides={"store.url": SERVER_URL})) as store:
        check = grants_check(store)
    assert check.name == "store grants" and check.level in ("ok", "warn")
