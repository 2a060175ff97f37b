"""`muse digest`: the last N days from a real store, as a dict, plain text, Rich and JSON."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from muse.ops.digest import build_digest, render_digest_text, sparkline
from muse.hours import ts_str

UTC = timezone.utc
NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
SHA = "a" * 40


def day(n: int, hour: int = 12) -> datetime:
    """n days before NOW's date, at the given hour."""
    return (NOW - timedelta(days=n)).replace(hour=hour, minute=0, second=0, microsecond=0)


def _id(*parts: Any) -> str:
    """Deterministic ids, so that seeding twice is a retried write, not new rows."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def seed(store: Any) -> None:
    bench = []
    for n, p95s in ((0, [100, 300]), (1, [120]), (3, [400, 400, 400]), (9, [999])):  # day 9 is out of range
        for i, p95 in enumerate(p95s):
            bench.append({"ts": ts_str(day(n)), "run_id": str(uuid.UUID(int=n * 100 + i)), "commit_sha": SHA,
                          "model": "llama3", "quant": "q4", "dataset": f"d{i}", "latency_p50_ms": 50,
                          "latency_p95_ms": p95, "latency_p99_ms": p95 + 10, "tokens_per_sec": 40.0,
                          "cost_per_1k": 0.002, "memory_peak_mb": 900})
    store.insert("bench_runs", bench)
    # Two hours on the same day: 100 events at 200 ms and 300 events at 400 ms -> 350 ms, not 300.
    store.insert("session_stats", [
        {"hour": day(1, 9).strftime("%Y-%m-%d %H:%M:%S"), "commit_sha": SHA, "total_sessions": 10, "total_events": 100,
         "avg_latency_ms": 200.0, "p95_latency_ms": 500, "error_rate": 0.10, "abandonment_rate": 0.0},
        {"hour": day(1, 10).strftime("%Y-%m-%d %H:%M:%S"), "commit_sha": SHA, "total_sessions": 30,
         "total_events": 300, "avg_latency_ms": 400.0, "p95_latency_ms": 700, "error_rate": 0.02,
         "abandonment_rate": 0.0},
    ])
    store.insert("watcher_runs", [
        {"ts": ts_str(day(n, h)), "run_id": _id("watcher", n, h), "hearts_commit": SHA, "packs_commit": SHA,
         "hearts_rows_found": 1, "packs_rows_found": 1, "lag_seconds": 10, "status": status, "message": msg}
        for n, h, status, msg in ((2, 8, "valid", ""), (2, 9, "missing_hearts", "no rows for aaaa"),
                                  (0, 8, "valid", ""), (0, 9, "lag_exceeded", "packs 2h behind"))
    ])
    store.insert("llm_events", [
        {"ts": ts_str(day(n)), "event_id": n * 10 + i, "run_id": str(uuid.uuid4()), "source": src, "model": model,
         "operation": "chat", "tokens_in": 100, "tokens_out": 50, "latency_ms": 300, "cost_usd": cost,
         "status": "ok"}
        for n, i, src, model, cost in ((0, 1, "banterhearts", "gpt-4o", 0.5), (0, 2, "council", "gpt-4o", 0.25),
                                       (1, 1, "banterpacks", "haiku", 0.125), (8, 1, "council", "gpt-4o", 99.0))
    ])
    store.insert("episodes", [{
        "ts": ts_str(day(0, 2)), "episode": 7, "lang": "en", "run_id": str(uuid.uuid4()), "hearts_commit": SHA,
        "packs_commit": SHA, "title": "Latency regression on llama3", "path": "posts/ep-7.md",
        "confidence_score": 0.52, "correlation_strength": 0.4, "tokens_total": 1000, "cost_total": 0.1,
        "status": "draft"}])
    store.insert("deployments", [
        {"ts": ts_str(day(1, 2) + timedelta(seconds=s)), "episode": 6, "vercel_deployment_id": "dpl_1",
         "commit_sha": SHA, "status": status, "build_time_ms": bt, "url": "https://blog.example/ep-6"}
        for s, status, bt in ((0, "building", 0), (40, "ready", 40000))])
    store.insert("agent_runs", [
        {"agent": "ingest-packs", "run_id": _id("packs", 1), "started": ts_str(day(1, 3)), "status": "failed",
         "message": "telemetry dir missing", "error": "InputError"},
        {"agent": "watcher", "run_id": _id("watcher", 0), "started": ts_str(day(0, 9)), "status": "ok"},
    ])


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([None, 5, 5]) == " ▅▅"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([None, None]) == "  "
    assert sparkline([10, float("nan"), 20]) == "▁ █"


def test_empty_store_digest(store) -> None:
    d = build_digest(store, days=7, now=NOW)
    assert [r["day"] for r in d["daily"]] == [f"2026-03-{n:02d}" for n in range(4, 11)]
    assert d["totals"] == {"bench_results": 0, "sessions": 0, "llm_calls": 0, "llm_cost_usd": 0}
    assert d["insights"] == {"available": True, "note": "", "open": [], "counts": {}, "open_total": 0}
    text = render_digest_text(d)
    assert "Open insights: none" in text and "Watcher: no checks yet" in text
    assert "Failed agent runs: none" in text and "LLM cost: no LLM events in this period" in text


def test_digest_figures(store) -> None:
    seed(store)
    d = build_digest(store, days=7, now=NOW)
    by_day = {r["day"]: r for r in d["daily"]}
    assert by_day["2026-03-10"]["bench_results"] == 2 and by_day["2026-03-10"]["bench_avg_p95_ms"] == 200.0
    assert by_day["2026-03-07"]["bench_avg_p95_ms"] == 400.0
    assert by_day["2026-03-08"]["bench_results"] == 0 and by_day["2026-03-08"]["bench_avg_p95_ms"] is None
    assert d["totals"]["bench_results"] == 6  # the day-9 report is outside the 7 days
    users = by_day["2026-03-09"]
    assert users["sessions"] == 40
    assert users["user_avg_latency_ms"] == 350.0  # weighted by events
    assert users["user_error_rate"] == pytest.approx(0.04)  # (0.1*10 + 0.02*30) / 40, weighted by sessions
    assert by_day["2026-03-10"]["llm_cost_usd"] == 0.75
    assert d["totals"]["llm_cost_usd"] == 0.875 and d["totals"]["llm_calls"] == 3
    assert [(r["source"], r["model"], r["cost_usd"]) for r in d["llm_cost"]] == [
        ("banterhearts", "gpt-4o", 0.5), ("council", "gpt-4o", 0.25), ("banterpacks", "haiku", 0.125)]
    assert d["watcher"]["statuses"] == ["lag_exceeded", "missing_hearts", "valid"]
    assert by_day["2026-03-08"]["watcher_checks"] == 2 and by_day["2026-03-08"]["watcher_failing"] == 1
    assert d["watcher"]["last"]["status"] == "lag_exceeded"
    assert [e["episode"] for e in d["episodes"]] == [7] and d["episodes"][0]["status"] == "draft"
    assert [(x["vercel_deployment_id"], x["status"], x["build_time_ms"]) for x in d["deployments"]] == \
        [("dpl_1", "ready", 40000)]
    assert [f["agent"] for f in d["failed_runs"]] == ["ingest-packs"]
    assert d["sparklines"]["bench_avg_p95_ms"] == "   █ ▁▃"  # days without benchmarks stay blank
    assert len(d["sparklines"]["sessions"]) == 7
    # Re-inserting the same rows (a retried ingest) changes nothing: the digest reads FINAL.
    seed(store)
    assert build_digest(store, days=7, now=NOW)["daily"] == d["daily"]


def test_digest_text(store) -> None:
    seed(store)
    text = render_digest_text(build_digest(store, days=7, now=NOW))
    assert text.startswith("muse digest: 2026-03-04 .. 2026-03-10 (7 days, UTC)\n")
    lines = text.splitlines()
    p95 = next(l for l in lines if l.strip().startswith("bench avg p95 ms"))
    assert "   █ ▁▃" in p95 and "200.0" in p95
    assert any(l.strip().startswith("2026-03-09") and "350.0" in l and "4.00%" in l for l in lines)
    assert "Watcher: last check lag_exceeded at 2026-03-10 09:00:00.000 UTC (packs 2h behind)" in text
    assert "Failed agent runs: 1" in text and "telemetry dir missing" in text
    assert "LLM cost by source and model: 0.8750 USD, 3 calls" in text
    assert "\x1b[" not in text


def test_open_insights_critical_first(store) -> None:
    from muse.analysis.insights import Insight, acknowledge, insight_id, upsert

    rows = [("warning", "outlier", "p95 outlier on d1", day(1)),
            ("critical", "latency_regression", "p95 regression llama3 q4", day(2)),
            ("critical", "cost_anomaly", "cost 3x baseline", day(0)),
            ("critical", "ingestion_gap", "acknowledged gap", day(0))]
    upsert(store, [Insight(insight_id=insight_id(title), type=t, severity=sev, title=title, description=title,
                           observed_at=when) for sev, t, title, when in rows], run_id=str(uuid.uuid4()))
    acknowledge(store, insight_id("acknowledged gap"), by="oncall")
    ins = build_digest(store, days=7, now=NOW)["insights"]
    assert ins["available"] and ins["counts"] == {"critical": 2, "warning": 1}
    assert [i["title"] for i in ins["open"]] == ["cost 3x baseline", "p95 regression llama3 q4", "p95 outlier on d1"]


def test_digest_cli_plain_json_and_rich(cli, migrated, monkeypatch) -> None:
    from muse.store import open_store

    with open_store(migrated) as st:
        seed(st)
    r = cli("digest", "--days", "30")
    assert r.exit_code == 0, r
    assert r.stdout.startswith("muse digest: ") and "(30 days, UTC)" in r.stdout
    r = cli("digest", "--json")
    doc = json.loads(r.stdout)
    assert doc["days"] == 7 and len(doc["daily"]) == 7 and set(doc["sparklines"]) >= {"bench_avg_p95_ms", "sessions"}
    assert cli("digest", "--days", "0").exit_code == 2
    import muse.cli.digest_cmd as digest_cmd

    monkeypatch.setattr(digest_cmd, "stdout_is_tty", lambda: True)
    r = cli("digest", "--days", "400")
    assert r.exit_code == 2
    r = cli("digest", "--days", "366")
    assert r.exit_code == 0, r
    assert "muse digest" in r.stdout and "LLM cost by source and model" in r.stdout and "┃" in r.stdout
