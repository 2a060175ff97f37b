"""The watcher check: real git repos with controlled commit dates and a real chDB store."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from fakes import slack_and_pagerduty
from muse.analysis import circuit
from muse.hours import humanize
from muse.agents import watcher
from muse.errors import ExitCode
from muse.telemetry import Telemetry
from watcher_world import add_bench_rows, add_ui_events, ago, check, fresh_world, now, repos, settings  # noqa: F401


def row(store: Any, run_id: str) -> dict[str, Any]:
    return store.query("SELECT * EXCEPT (ts, run_id) FROM watcher_runs FINAL WHERE run_id = {r:UUID}",
                       {"r": run_id}).first()


def metric(tel: Telemetry, name: str) -> list[tuple[float, dict[str, Any]]]:
    return [(s.value, s.tags) for s in tel.samples if s.name == name]


# -- the status rules, pure -----------------------------------------------------------------

HEARTS, PACKS = watcher.REPOS
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("spec, committed_min_ago, rows, newest_min_ago, expected, lag_s", [
    (HEARTS, 4, 0, None, "valid_pending", 240),
    (HEARTS, 5, 0, None, "valid_pending", 300),     # exactly at the threshold: still in grace
    (HEARTS, 6, 0, None, "missing_hearts", 360),
    (HEARTS, 600, 20, 590, "valid", 0),            # one report per commit: in, so no lag
    (PACKS, 89, 0, None, "valid_pending", 89 * 60),
    (PACKS, 91, 0, None, "missing_packs", 91 * 60),
    (PACKS, 600, 100, 30, "valid", 30 * 60),
    (PACKS, 600, 100, 90, "valid", 90 * 60),       # newest exactly at the threshold: not stalled
    (PACKS, 600, 100, 91, "lag_exceeded", 91 * 60),
    (PACKS, -3, 0, None, "valid_pending", 0),       # commit clock ahead of ours: no negative lag
])
def test_status_rules(spec, committed_min_ago, rows, newest_min_ago, expected, lag_s) -> None:
    newest = T0 - timedelta(minutes=newest_min_ago) if newest_min_ago is not None else None
    threshold = {"banterhearts": 5, "banterpacks": 90}[spec.name] * 60.0
    c = watcher.evaluate(spec, commit="a" * 40, committed_at=T0 - timedelta(minutes=committed_min_ago), rows=rows,
                         newest=newest, now=T0, threshold_seconds=threshold)
    assert (c.status, c.lag_seconds) == (expected, lag_s)
    assert f"(committed {humanize(max(0, committed_min_ago * 60))} ago)" in c.message
    if expected == "valid_pending":
        assert "not a failure" in c.message


def test_worst_status_order() -> None:
    assert circuit.worst(["valid", "valid_pending"]) == "valid_pending"
    assert circuit.worst(["lag_exceeded", "valid_pending"]) == "lag_exceeded"
    assert circuit.worst(["lag_exceeded", "missing_packs"]) == "missing_packs"
    assert circuit.worst(["missing_packs", "missing_hearts"]) == "missing_hearts"


# -- checks against the store ---------------------------------------------------------------

def test_valid_check_records_row_writes_private_status_file_and_opens_gate(settings, store, repos) -> None:
    hearts, packs = fresh_world(repos, store)
    out, tel = check(settings, store)
    assert out.exit_code == ExitCode.OK and out.result.details["status"] == "valid"
    r = row(store, out.run_id)
    assert (r["status"], r["hearts_status"], r["packs_status"]) == ("valid", "valid", "valid")
    assert (r["hearts_commit"], r["packs_commit"]) == (hearts, packs)
    assert (r["hearts_rows_found"], r["packs_rows_found"], r["hearts_lag_seconds"]) == (3, 5, 0)
    assert 295 <= r["packs_lag_seconds"] <= 330 and r["lag_seconds"] == r["packs_lag_seconds"]
    assert not r["alert_sent"] and not r["paged"]
    path = circuit.status_path(settings.state_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["run_id"] == out.run_id
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    gate = circuit.check_gate(settings, store)
    assert gate.open and gate.run_id == out.run_id and gate.age_seconds < 60
    assert (gate.hearts_commit, gate.packs_commit) == (hearts, packs)
    assert "Council unblocked" in gate.reason and out.result.details["council"]["open"]
    assert metric(tel, "watcher.success") == [(1.0, {"status": "valid"})]
    assert metric(tel, "watcher.failure") == []
    lags = {t["repo"]: v for v, t in metric(tel, "watcher.lag_seconds")}
    assert lags["banterhearts"] == 0 and 295 <= lags["banterpacks"] <= 330
    assert tel.alerts_sent == []


def test_counts_use_deduplicated_rows_of_the_latest_commit_only(settings, store, repos) -> None:
    old_hearts = repos.hearts.commit(ago(hours=3))
    add_bench_rows(store, old_hearts, n=4)
    hearts = repos.hearts.commit(ago(minutes=1))
    run_id = add_bench_rows(store, hearts, n=2)
    add_bench_rows(store, hearts, n=2, run_id=run_id)  # the same report ingested again
    packs = repos.packs.commit(ago(hours=1))
    newest = ago(minutes=2)
    add_ui_events(store, packs, n=6, newest=newest)
    add_ui_events(store, packs, n=6, newest=newest)  # a retried insert of the same events
    out, _ = check(settings, store)
    r = row(store, out.run_id)
    assert (r["hearts_rows_found"], r["packs_rows_found"]) == (2, 6)


def test_packs_events_stamped_long_before_the_commit_are_not_counted(settings, store, repos) -> None:
    # Users' clocks may run behind: events up to 7 days before the commit time still count;
    # older stamps fall outside the partition-pruning bound of the count.
    hearts = repos.hearts.commit(ago(minutes=1))
    add_bench_rows(store, hearts)
    packs = repos.packs.commit(ago(hours=1))
    add_ui_events(store, packs, n=1, newest=ago(days=8), first_id=1)
    out, _ = check(settings, store)
    assert row(store, out.run_id)["packs_rows_found"] == 0
    add_ui_events(store, packs, n=1, newest=ago(days=6), first_id=2)
    out, _ = check(settings, store)
    assert row(store, out.run_id)["packs_rows_found"] == 1


def test_grace_period_is_valid_pending_keeps_the_gate_and_does_not_alert(settings, store, repos) -> None:
    fresh_world(repos, store)
    first, _ = check(settings, store)
    repos.hearts.commit(ago(minutes=2), "new benchmark")  # its report is not ingested yet
    out, tel = check(settings, store)
    assert out.exit_code == ExitCode.OK and out.status == "ok"
    assert out.result.details["status"] == "valid_pending"
    assert "not a failure" in out.result.message
    r = row(store, out.run_id)
    assert (r["hearts_status"], r["hearts_rows_found"], r["packs_status"]) == ("valid_pending", 0, "valid")
    assert 110 <= r["hearts_lag_seconds"] <= 150
    assert out.result.details["status_file"]["action"] == "unchanged"
    gate = circuit.check_gate(settings, store)
    assert gate.open and gate.run_id == first.run_id  # still vouched for by the last valid check
    assert metric(tel, "watcher.success") == [(1.0, {"status": "valid_pending"})]
    assert tel.alerts_sent == []


@pytest.mark.parametrize("which", ["hearts", "packs"])
def test_missing_data_fails_removes_status_file_and_alerts(settings, store, repos, which) -> None:
    fresh_world(repos, store)
    check(settings, store)
    assert circuit.status_path(settings.state_dir).exists()
    if which == "hearts":
        sha = repos.hearts.commit(ago(minutes=6))  # 6 min > 5 min threshold, no report
    else:
        sha = repos.packs.commit(ago(minutes=95))  # 95 min > 90 min threshold, no events
    out, tel = check(settings, store)
    assert out.exit_code == ExitCode.FAILED
    status = f"missing_{which}"
    assert out.result.details["status"] == status
    assert out.result.message.startswith(status) and sha[:8] in out.result.message
    assert "Council blocked" in out.result.message
    r = row(store, out.run_id)
    assert r["status"] == status and r["alert_sent"] and not r["paged"]
    assert not circuit.status_path(settings.state_dir).exists()
    gate = circuit.check_gate(settings, store)
    assert not gate.open and "no watcher status file" in gate.reason
    assert metric(tel, "watcher.failure") == [(1.0, {"repo": [f"banter{which}"], "reason": [status]})]
    assert metric(tel, "watcher.success") == []
    [alert] = tel.alerts_sent
    assert alert["severity"] == "warning" and status in alert["text"]


def test_stalled_telemetry_is_lag_exceeded_and_worst_status_wins(settings, store, repos) -> None:
    hearts = repos.hearts.commit(ago(minutes=30))
    add_bench_rows(store, hearts)
    packs = repos.packs.commit(ago(hours=6))
    add_ui_events(store, packs, n=10, newest=ago(hours=3))
    out, tel = check(settings, store)
    assert out.exit_code == ExitCode.FAILED
    r = row(store, out.run_id)
    assert (r["status"], r["hearts_status"], r["packs_status"]) == ("lag_exceeded", "valid", "lag_exceeded")
    assert 3 * 3600 - 5 <= r["packs_lag_seconds"] <= 3 * 3600 + 60
    assert "ingestion looks stalled" in out.result.message
    # Now the hearts report is missing too: the overall status is the worse one.
    repos.hearts.commit(ago(minutes=20))
    out, tel = check(settings, store)
    r = row(store, out.run_id)
    assert (r["status"], r["hearts_status"], r["packs_status"]) == ("missing_hearts", "missing_hearts",
                                                                      "lag_exceeded")
    # One failed check counts once, both failing repos as its tags.
    assert metric(tel, "watcher.failure") == [(1.0, {"repo": ["banterhearts", "banterpacks"],
                                                     "reason": ["lag_exceeded", "missing_hearts"]})]


def _monitor_state(query: str, thresholds: dict[str, float], datagrams: list[str]) -> str:
    """Evaluate a `sum(last_N):sum:metric{tags}.as_count() >= X` monitor over DogStatsD
    datagrams sent within the window: "alert", "warn" or "ok" (Datadog's states)."""
    import re

    m = re.fullmatch(r"sum\(last_\d+m\):sum:([\w.]+)\{([^}]*)\}\.as_count\(\) (>=|>) (\d+(?:\.\d+)?)", query)
    assert m, query
    metric, scope, op = m.group(1), set(m.group(2).split(",")), m.group(3)
    total = 0.0
    for line in datagrams:
        name, rest = line.split(":", 1)
        value, kind, *extra = rest.split("|")
        tags = set(extra[0][1:].split(",")) if extra and extra[0].startswith("#") else set()
        if name == metric and kind == "c" and scope <= tags:
            total += float(value)
    hit = (lambda v, t: v >= t) if op == ">=" else (lambda v, t: v > t)
    if hit(total, thresholds["critical"]):
        return "alert"
    if "warning" in thresholds and hit(total, thresholds["warning"]):
        return "warn"
    return "ok"


def test_watcher_monitor_warns_on_one_failed_check_and_alerts_on_two(settings, store, repos) -> None:
    """The shipped monitor's query, evaluated against the datagrams the watcher really sends:
    one failed check with both repos failing is one failure (warn), not two (alert)."""
    from fakes import UDPSink
    from muse.ops.monitors import definitions_path, load_definitions

    [mon] = [d for d in load_definitions(definitions_path()) if "watcher.failure" in d.query]
    thresholds = {k: float(v) for k, v in mon.options["thresholds"].items()}
    repos.hearts.commit(ago(minutes=20))   # no report: missing_hearts
    repos.packs.commit(ago(hours=3))       # no events: missing_packs
    sink = UDPSink()
    try:
        def one_check() -> list[str]:
            tel = Telemetry(state_dir=settings.state_dir, agent_host="127.0.0.1", agent_port=sink.port,
                            constant_tags=["service:muse"])
            out, _ = check(settings, store, tel)
            assert out.exit_code == ExitCode.FAILED
            return sink.drain()

        sent = one_check()
        assert any(l.startswith("watcher.failure:1|c|") and "repo:banterhearts" in l and "repo:banterpacks" in l
                   for l in sent), sent
        assert _monitor_state(mon.query, thresholds, sent) == "warn"
        sent += one_check()
        assert _monitor_state(mon.query, thresholds, sent) == "alert"
    finally:
        sink.close()


def test_bare_mirror_is_read_like_a_checkout(settings, store, repos, tmp_path, monkeypatch) -> None:
    hearts, packs = fresh_world(repos, store)
    mirror = repos.hearts.mirror(tmp_path / "hearts-mirror.git")
    monkeypatch.setenv("MUSE_REPOS_BANTERHEARTS_PATH", str(mirror))
    from muse.config import load_settings

    s = load_settings()
    out, _ = check(s, store)
    assert out.exit_code == ExitCode.OK
    assert row(store, out.run_id)["hearts_commit"] == hearts
    newer = repos.hearts.commit(ago(minutes=1))  # not fetched into the mirror yet
    assert row(store, check(s, store)[0].run_id)["hearts_commit"] == hearts
    repos.hearts.fetch_into(mirror)
    assert row(store, check(s, store)[0].run_id)["hearts_commit"] == newer


def test_branch_is_configurable(settings, store, repos, monkeypatch) -> None:
    fresh_world(repos, store)
    repos.hearts.repo.git.checkout("-b", "bench")
    side = repos.hearts.commit(ago(hours=2), "side branch")
    monkeypatch.setenv("MUSE_REPOS_BANTERHEARTS_BRANCH", "bench")
    from muse.config import load_settings

    out, _ = check(load_settings(), store)
    assert row(store, out.run_id)["hearts_commit"] == side
    assert out.result.details["status"] == "missing_hearts"


def test_consecutive_failures_page_once_per_streak_and_valid_check_resolves(settings, store, repos,
                                                                             monkeypatch) -> None:
    fake = slack_and_pagerduty()
    try:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", fake.url + "/slack/T000/B000/XXX")
        monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UT1NGKEY0000000000000000000000")
        monkeypatch.setenv("MUSE_PAGERDUTY_EVENTS_URL", fake.url + "/v2/enqueue")
        from muse.config import load_settings

        s = load_settings()
        assert s["watcher.page_after_failures"] == 2
        hearts = repos.hearts.commit(ago(minutes=30))
        packs = repos.packs.commit(ago(hours=1))
        add_ui_events(store, packs, newest=ago(minutes=3))

        def pd() -> list[tuple[str, str]]:
            return [(r.json()["event_action"], r.json()["dedup_key"]) for r in fake.requests
                    if r.path == "/v2/enqueue"]

        def slack() -> int:
            return sum(r.path.startswith("/slack/") for r in fake.requests)

        first, _ = check(s, store)  # one blip: Slack, no page
        assert first.exit_code == ExitCode.FAILED and pd() == [] and slack() == 1
        assert "paging at 2" in first.result.message
        # A new hearts commit inside its grace period: not a failure, and it neither pages
        # nor resets the streak.
        hearts = repos.hearts.commit(ago(minutes=1))
        pending, _ = check(s, store)
        assert pending.exit_code == ExitCode.OK and pending.result.details["status"] == "valid_pending"
        assert pd() == [] and slack() == 1
        # Then a banterpacks commit whose telemetry never arrived: the second failure in a row.
        packs = repos.packs.commit(ago(hours=2))
        second, tel = check(s, store)
        assert second.exit_code == ExitCode.FAILED and second.result.details["status"] == "missing_packs"
        assert second.result.details["consecutive_failures"] == 2 and second.result.details["paged"]
        assert pd() == [("trigger", watcher.PAGE_KEY)]
        assert slack() == 2  # the page's own Slack message; the lifecycle sends no second one
        trigger = [r.json() for r in fake.requests if r.path == "/v2/enqueue"][0]
        assert trigger["payload"]["severity"] == "critical" and "missing_packs" in trigger["payload"]["summary"]
        assert row(store, second.run_id)["paged"]
        third, _ = check(s, store)  # still failing: PagerDuty folds it into the same incident
        assert pd() == [("trigger", watcher.PAGE_KEY)] * 2
        add_bench_rows(store, hearts)
        add_ui_events(store, packs, newest=ago(minutes=1), first_id=100)
        ok, _ = check(s, store)
        assert ok.exit_code == ExitCode.OK and ok.result.details["resolved"]
        assert pd() == [("trigger", watcher.PAGE_KEY)] * 2 + [("resolve", watcher.PAGE_KEY)]
        assert circuit.check_gate(s, store).open
        again, _ = check(s, store)  # nothing open any more: no second resolve
        assert again.exit_code == ExitCode.OK and len(pd()) == 3
        assert all(a["dedup_key"] == watcher.PAGE_KEY for a in
                   map(json.loads, (s.state_dir / "alerts.jsonl").read_text().splitlines()))
    finally:
        fake.close()


def test_valid_check_resolves_the_page_of_a_crashed_run(settings, store, repos, monkeypatch) -> None:
    fake = slack_and_pagerduty()
    try:
        monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UT1NGKEY0000000000000000000000")
        monkeypatch.setenv("MUSE_PAGERDUTY_EVENTS_URL", fake.url + "/v2/enqueue")
        monkeypatch.setenv("MUSE_REPOS_BANTERHEARTS_BRANCH", "gone")
        from muse.config import load_settings

        fresh_world(repos, store)
        crashed, _ = check(load_settings(), store)  # the run lifecycle pages a run that could not check
        assert crashed.exit_code == ExitCode.FAILED
        monkeypatch.delenv("MUSE_REPOS_BANTERHEARTS_BRANCH")
        ok, _ = check(load_settings(), store)
        assert ok.exit_code == ExitCode.OK and ok.result.details["resolved"]
        pd = [(r.json()["event_action"], r.json()["dedup_key"]) for r in fake.requests]
        assert pd == [("trigger", watcher.PAGE_KEY), ("resolve", watcher.PAGE_KEY)]
    finally:
        fake.close()


def test_page_after_failures_is_configurable(settings, store, repos, monkeypatch) -> None:
    monkeypatch.setenv("MUSE_WATCHER_PAGE_AFTER_FAILURES", "1")
    from muse.config import load_settings

    repos.hearts.commit(ago(hours=1))
    repos.packs.commit(ago(hours=1))
    out, tel = check(load_settings(), store)
    assert out.result.details["paged"]
    assert [a["severity"] for a in tel.alerts_sent] == ["critical"]  # one message, not page + warning


def test_thresholds_come_from_config(settings, store, repos, monkeypatch) -> None:
    monkeypatch.setenv("MUSE_WATCHER_HEARTS_THRESHOLD_MINUTES", "60")
    from muse.config import load_settings

    repos.hearts.commit(ago(minutes=30))
    packs = repos.packs.commit(ago(hours=1))
    add_ui_events(store, packs, newest=ago(minutes=1))
    out, _ = check(load_settings(), store)
    assert row(store, out.run_id)["hearts_status"] == "valid_pending"


# -- failing closed -------------------------------------------------------------------------

def test_unconfigured_repo_fails_closed_with_the_key_to_set(settings, store, repos, monkeypatch) -> None:
    fresh_world(repos, store)
    check(settings, store)
    assert circuit.check_gate(settings, store).open
    monkeypatch.delenv("MUSE_REPOS_BANTERPACKS_PATH")
    from muse.config import load_settings

    out, _ = check(load_settings(), store)
    assert out.exit_code == ExitCode.USAGE
    assert "repos.banterpacks.path is not set" in out.result.message
    assert not circuit.status_path(settings.state_dir).exists()


def test_missing_branch_and_missing_repo_are_one_line_errors(settings, store, repos, monkeypatch, tmp_path) -> None:
    fresh_world(repos, store)
    monkeypatch.setenv("MUSE_REPOS_BANTERHEARTS_BRANCH", "nope")
    from muse.config import load_settings

    out, _ = check(load_settings(), store)
    assert out.exit_code == ExitCode.FAILED and "has no branch 'nope'" in out.result.message
    monkeypatch.setenv("MUSE_REPOS_BANTERHEARTS_PATH", str(tmp_path / "gone"))
    out, _ = check(load_settings(), store)
    assert out.exit_code == ExitCode.USAGE and "does not exist" in out.result.message


def test_store_failure_mid_check_removes_status_file(settings, store, repos) -> None:
    fresh_world(repos, store)
    check(settings, store)
    assert circuit.status_path(settings.state_dir).exists()
    store.execute("DROP TABLE watcher_runs")  # the ledger still says migrated: the query fails mid-check
    out, tel = check(settings, store)
    assert out.exit_code == ExitCode.FAILED and "watcher_runs" in out.result.message
    assert not circuit.status_path(settings.state_dir).exists()
    assert tel.alerts_sent[0]["severity"] == "critical"


def test_crash_while_writing_status_file_leaves_no_partial_file(settings, store, repos, monkeypatch) -> None:
    fresh_world(repos, store)
    good, _ = check(settings, store)
    path = circuit.status_path(settings.state_dir)
    before = path.read_text()

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(circuit.os, "replace", boom)
    with pytest.raises(OSError):
        circuit.write_status(settings.state_dir, run_id=good.run_id, checked_at=now(),
                             hearts_commit="b" * 40, packs_commit="c" * 40)
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    out, _ = check(settings, store)  # the same fault during a check fails the check, closed
    assert out.exit_code == ExitCode.FAILED and "No space left" in out.result.message
    assert not path.exists()
