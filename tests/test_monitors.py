"""`muse monitors sync` against a loopback Datadog v1 monitor API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from fake_datadog import FakeDatadog
from muse.config import load_settings
from muse.errors import ConfigError
from muse.ops.monitors import MANAGED_TAG, DatadogMonitorsAPI, definitions_path, load_definitions

SHIPPED = definitions_path()
N = len(load_definitions(SHIPPED))


@pytest.fixture
def dd(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDatadog]:
    fake = FakeDatadog()
    monkeypatch.setenv("DD_API_KEY", fake.api_key)
    monkeypatch.setenv("DD_APP_KEY", fake.app_key)
    monkeypatch.setenv("DD_API_URL", fake.url)
    monkeypatch.setenv("MUSE_HTTP_RETRY_BACKOFF_SECONDS", "0.01")
    yield fake
    fake.close()


def _copy(tmp_path: Path, replace: tuple[str, str] | None = None) -> Path:
    text = SHIPPED.read_text()
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "monitors.yaml"
    path.write_text(text)
    return path


def test_the_shipped_file_holds_the_five_alerts_of_the_design() -> None:
    defs = {d.name: d for d in load_definitions(SHIPPED)}
    # Five alerts; the ingestion lag alert has one monitor per repo (one threshold each).
    assert N == 6
    q = {name: d.query for name, d in defs.items()}
    assert any("watcher.failure" in v for v in q.values())
    assert any("repo:banterhearts} > 600" in v for v in q.values())
    assert any("repo:banterpacks} > 5400" in v for v in q.values())
    assert any("episodes.confidence_score" in v and "< 0.6" in v for v in q.values())
    assert any("publish.failed" in v for v in q.values())
    assert any(v.startswith("pct_change(sum(last_1h),1d_ago):sum:llm.cost_usd") and v.endswith("> 100")
               for v in q.values())
    for d in defs.values():
        assert MANAGED_TAG in d.tags and "service:muse" in d.tags
        assert "${" not in d.message
        # One paging path per failure kind: muse pages itself (with its dedup keys), so no
        # monitor pages as well (docs/alerts.md).
        assert "@pagerduty-muse" not in d.message, d.name
        assert "@slack-muse-alerts" in d.message
    lag = [d for d in defs.values() if "ingest.lag_seconds" in d.query]
    assert len(lag) == 2 and all(d.options["notify_no_data"] is True for d in lag)


def test_first_sync_creates_then_second_changes_nothing(cli, dd: FakeDatadog) -> None:
    r = cli("monitors", "sync", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"create": N}
    assert len(dd.monitors) == N
    for m in dd.monitors.values():
        assert MANAGED_TAG in m["tags"]
    # Everything written was validated first.
    paths = [q.path.split("?")[0] for q in dd.requests if q.method == "POST"]
    assert paths.count("/api/v1/monitor/validate") == N and paths.count("/api/v1/monitor") == N

    writes = len(dd.writes)
    r = cli("monitors", "sync")
    assert r.exit_code == 0, r
    assert r.stdout.strip().splitlines()[-1] == f"monitors: {N} unchanged"
    assert len(dd.writes) == writes


def test_a_changed_threshold_updates_one_monitor(cli, dd: FakeDatadog, tmp_path: Path) -> None:
    assert cli("monitors", "sync").exit_code == 0
    before = {m["name"]: m for m in dd.monitors.values()}
    path = _copy(tmp_path, ("repo:banterhearts} > 600\"", "repo:banterhearts} > 900\"")) \
        .read_text().replace("thresholds: {critical: 600}", "thresholds: {critical: 900}")
    (tmp_path / "m.yaml").write_text(path)
    r = cli("monitors", "sync", "--file", str(tmp_path / "m.yaml"), "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"update": 1, "unchanged": N - 1}
    change = next(c for c in doc["changes"] if c["action"] == "update")
    assert change["name"] == "[muse] Ingestion lag: banterhearts"
    assert {d["field"] for d in change["diffs"]} == {"query", "options.thresholds.critical"}
    crit = next(d for d in change["diffs"] if d["field"] == "options.thresholds.critical")
    assert (crit["before"], crit["after"]) == (600.0, 900)
    after = dd.monitors[change["id"]]
    assert after["query"].endswith("> 900") and after["options"]["thresholds"]["critical"] == 900.0
    assert after["id"] == before[change["name"]]["id"]  # updated in place, not recreated
    assert [w for w in dd.writes if w[0] == "PUT"] == [("PUT", f"/api/v1/monitor/{change['id']}")]


def test_dry_run_writes_nothing(cli, dd: FakeDatadog, tmp_path: Path) -> None:
    r = cli("monitors", "sync", "--dry-run")
    assert r.exit_code == 0, r
    assert dd.writes == [] and dd.monitors == {}
    assert r.stdout.count("\twould create\t") == N
    assert "(dry run: nothing written)" in r.stdout
    cli("monitors", "sync")
    writes = list(dd.writes)
    path = _copy(tmp_path, ("priority: 2", "priority: 4"))
    r = cli("monitors", "sync", "--dry-run", "--file", str(path))
    assert "\twould update\t" in r.stdout and "priority: 2 -> 4" in r.stdout
    assert dd.writes == writes


def test_monitors_muse_did_not_create_are_never_touched(cli, dd: FakeDatadog, tmp_path: Path) -> None:
    other = dd.add("Disk full on db-1", tags=["team:dba"])
    same_name = dd.add("[muse] Deploy failure", query="sum(last_5m):sum:deploys.failed{*}.as_count() > 3",
                       options={"thresholds": {"critical": 3}})
    snapshot = {i: dict(dd.monitors[i]) for i in (other, same_name)}
    r = cli("monitors", "sync", "--prune")
    assert r.exit_code == 1, r  # the name clash needs a decision
    assert "\tconflict\t" in r.stdout and "--adopt" in r.stdout
    assert dd.monitors[other] == snapshot[other] and dd.monitors[same_name] == snapshot[same_name]
    assert len(dd.monitors) == 2 + N - 1
    # --adopt takes the same-named one over (and tags it); the other one stays as it was.
    r = cli("monitors", "sync", "--adopt", "--json")
    assert r.exit_code == 0, r
    assert MANAGED_TAG in dd.monitors[same_name]["tags"] and dd.monitors[same_name]["query"].startswith("sum(last_15m)")
    assert dd.monitors[other] == snapshot[other]


def test_only_managed_orphans_are_pruned(cli, dd: FakeDatadog, tmp_path: Path) -> None:
    cli("monitors", "sync")
    other = dd.add("Someone else's monitor", tags=["team:web"])
    text = SHIPPED.read_text()
    cut = text.index('  # 5. Cost anomaly')
    path = tmp_path / "fewer.yaml"
    path.write_text(text[:cut])
    r = cli("monitors", "sync", "--file", str(path), "--json")
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"unchanged": N - 1, "orphan": 1}
    assert len(dd.monitors) == N + 1
    r = cli("monitors", "sync", "--file", str(path), "--prune", "--json")
    assert json.loads(r.stdout)["counts"] == {"unchanged": N - 1, "delete": 1}
    names = {m["name"] for m in dd.monitors.values()}
    assert "[muse] LLM cost anomaly" not in names and other in dd.monitors


def test_bad_keys_are_a_clear_error(cli, dd: FakeDatadog) -> None:
    r = cli("monitors", "sync", env={"DD_APP_KEY": "not-the-app-key"})
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: Datadog GET /api/v1/monitor: Datadog rejected the API or application key "
                               "(HTTP 403: Forbidden)")
    assert "Hint: check DD_API_KEY / DD_APP_KEY" in r.stderr
    assert "not-the-app-key" not in r.output and dd.api_key not in r.output
    assert len([q for q in dd.requests]) == 1  # a 403 is not retried


def test_missing_keys_are_a_config_error(cli, dd: FakeDatadog, monkeypatch) -> None:
    monkeypatch.delenv("DD_APP_KEY")
    r = cli("monitors", "sync", "--dry-run")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "Error: muse monitors sync needs datadog.app_key (DD_APP_KEY)"
    assert dd.requests == []


def test_server_errors_are_retried_then_fail(cli, dd: FakeDatadog) -> None:
    dd.fail(503, times=100)
    r = cli("monitors", "sync")
    assert r.exit_code == 1
    assert "Error: Datadog GET /api/v1/monitor failed after 3 attempts: HTTP 503: Internal Server Error" in r.stderr
    assert len(dd.requests) == 3 and dd.writes == []


def test_a_transient_error_is_retried_and_succeeds(cli, dd: FakeDatadog) -> None:
    dd.fail(502, times=1, method="POST")
    dd.fail(429, times=1, method="GET")
    r = cli("monitors", "sync", "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["counts"] == {"create": N} and len(dd.monitors) == N


def test_a_lost_create_answer_does_not_duplicate(cli, dd: FakeDatadog) -> None:
    # The first create is applied, but its answer is lost (HTTP 500): the retry must find it.
    dd.fail(500, times=1, method="POST", path="/api/v1/monitor", after_apply=True)
    r = cli("monitors", "sync", "--json")
    assert r.exit_code == 0, r
    assert len(dd.monitors) == N, "the retried create found the first monitor instead of making a second"
    first = json.loads(r.stdout)["changes"][0]
    assert first["action"] == "create" and first["id"] == min(dd.monitors)
    assert "was created by the failed attempt" in r.stderr


def test_datadog_validation_errors_name_the_monitor(cli, dd: FakeDatadog, tmp_path: Path) -> None:
    path = _copy(tmp_path, ('query: "min(last_1d):min:episodes.confidence_score{service:muse} < 0.6"',
                            'query: "min:episodes.confidence_score{service:muse} < 0.6"'))
    r = cli("monitors", "sync", "--file", str(path))
    assert r.exit_code == 1
    assert ("Error: monitor '[muse] Low confidence episode: review needed' is invalid: Datadog POST "
            "/api/v1/monitor/validate: HTTP 400: The value provided for parameter 'query' is invalid") in r.stderr
    assert dd.writes == []  # nothing is written when one definition is bad


@pytest.mark.parametrize("edit, message", [
    (("thresholds: {critical: 600}", "thresholds: {critical: 700}"),
     "monitor '[muse] Ingestion lag: banterhearts': field options.thresholds.critical: 700 differs from the "
     "query's threshold 600"),
    (("${slack}", "${teams}"), "field message: uses ${teams}, which `handles` does not define"),
    (("priority: 2", "priority: 9"), "monitor '[muse] LLM cost anomaly': field priority: must be 1-5, got 9"),
    (("type: query alert", "type: metric thing"), "field type: 'metric thing' is not a Datadog monitor type"),
])
def test_definition_errors_name_file_monitor_and_field(tmp_path: Path, edit, message) -> None:
    path = _copy(tmp_path, edit)
    with pytest.raises(ConfigError) as exc:
        load_definitions(path)
    assert exc.value.message.startswith(f"monitors file {path}: ")
    assert message in exc.value.message


def test_list_reads_pages_until_a_short_one(dd: FakeDatadog) -> None:
    for i in range(5):
        dd.add(f"m{i}", tags=[MANAGED_TAG])
    dd.add("unmanaged")
    with DatadogMonitorsAPI(dd.url, dd.api_key, dd.app_key, retries=1) as api:
        got = api.list(monitor_tags=MANAGED_TAG, page_size=2)
    assert [m["name"] for m in got] == [f"m{i}" for i in range(5)]
    pages = [q.path for q in dd.requests]
    assert len(pages) == 3 and all("monitor_tags=managed-by%3Amuse" in p for p in pages)


def test_list_command_is_offline(cli, dd: FakeDatadog) -> None:
    r = cli("monitors", "list", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert len(doc["monitors"]) == N and dd.requests == []


def test_api_url_setting_is_used(dd: FakeDatadog) -> None:
    assert load_settings()["datadog.api_url"] == dd.url


def test_a_rate_limited_sync_waits_for_x_ratelimit_reset(cli, dd: FakeDatadog) -> None:
    """Datadog's 429 says when the limit resets; retrying after the 0.01 s backoff would
    just be refused again."""
    import time

    dd.fail(429, times=1, method="GET", headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Period": "60",
                                                 "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"})
    t0 = time.monotonic()
    r = cli("monitors", "sync", "--json")
    assert r.exit_code == 0, r
    assert time.monotonic() - t0 >= 1.9
    assert json.loads(r.stdout)["counts"] == {"create": N}
    gets = [q for q in dd.requests if q.method == "GET"]
    assert len(gets) >= 2
