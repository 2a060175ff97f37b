"""The analytics worker's statistics on a real chDB store: level shifts, false-discovery
control of outlier hours, outliers folded into a cost anomaly; and the helpers in muse.analysis.stats."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from analytics_data import bench, llm, sha, ts
from muse.analysis import insights
from muse.analysis import stats
from muse.agents import analytics
from muse.config import load_settings
from muse.runs import run_agent
from muse.telemetry import Telemetry

UTC = timezone.utc
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def analyse(settings: Any, store: Any, **options: Any):
    return run_agent(settings, "analytics", analytics.run, store=store, telemetry=Telemetry(state_dir=None), **options)


def _call(at: datetime, rng: random.Random, *, model: str = "gpt-4o-mini", slow: float = 1.0) -> dict[str, Any]:
    """One chat call: 200 ms plus 12 ms per output token, x noise (a heavier tail than normal)."""
    out = int(rng.lognormvariate(5.0, 0.5))
    noise = rng.lognormvariate(0, 0.08) * (rng.uniform(1.5, 2.5) if rng.random() < 0.01 else 1.0)
    return llm(at, model=model, tokens_in=400, tokens_out=out, latency_ms=int((200 + 12 * out) * noise * slow),
               cost=(400 * 0.5e-6 + out * 1.5e-6) * rng.uniform(0.97, 1.03))


def _hours(first: datetime, hours: int, per_hour: int, rng: random.Random, **kw: Any) -> list[dict[str, Any]]:
    return [_call(first + timedelta(hours=h, minutes=k * 60 / per_hour + 1), rng, **kw)
            for h in range(hours) for k in range(per_hour)]


# -- level shifts ---------------------------------------------------------------------------

def test_a_sustained_shift_is_one_level_shift_insight_with_its_start_hour_and_commit(store) -> None:
    rng = random.Random(21)
    t0 = (datetime.now(UTC) - timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    start = t0 + timedelta(hours=60)

    def traffic(lo: int, hi: int) -> list[dict[str, Any]]:
        rows = []
        for h in range(lo, hi):
            at = t0 + timedelta(hours=h)
            rows += _hours(at, 1, 20, rng, slow=1.5 if at >= start else 1.0)  # x1.5 from the start hour on
            # Another model of the same operation: steady, but three hours of a transient x3 bump.
            rows += _hours(at, 1, 20, rng, model="llama3-8b", slow=3.0 if 30 <= h < 33 else 1.0)
        return rows

    store.insert("bench_runs", [bench(start - timedelta(minutes=25), sha("culprit"), run="culprit"),
                                bench(t0 + timedelta(hours=20), sha("older"), run="older")])
    store.insert("llm_events", traffic(0, 66))  # 6 hours of the shift: too few to call it yet
    settings = load_settings()
    assert analyse(settings, store).status == "ok"
    assert [i for i in insights.list_insights(store) if i.type == "level_shift"] == []
    store.insert("llm_events", traffic(66, 100))
    out = analyse(settings, store)
    assert out.status == "ok", out.result.message
    store.insert("llm_events", traffic(100, 104))  # a later run re-finds it: the same insight
    assert analyse(settings, store).status == "ok"
    shifts = insights.list_insights(store, type="level_shift")  # a type `muse insights list --type` knows
    assert len(shifts) == 1, [i.title for i in shifts]
    [shift] = shifts
    m = shift.metrics
    assert (shift.model, shift.metric, shift.severity) == ("gpt-4o-mini", "latency", "warning")
    assert m["start_hour"] == ts(start) and shift.observed_at == start
    assert m["ratio_low"] < 1.5 < m["ratio_high"] and m["ratio"] == pytest.approx(1.5, abs=0.05)
    assert m["after_median"] / m["before_median"] == pytest.approx(m["ratio"])
    assert m["hours_before"] >= 12 and m["hours_after"] >= 36 and m["p_value"] < 1e-6
    assert shift.commit_sha == sha("culprit") and [c["commit_sha"] for c in m["commits"]] == [sha("culprit")]
    assert "x1.50" in shift.title or "x1.49" in shift.title or "x1.51" in shift.title
    # The hourly outliers of its first hours are folded into it: the shift is one finding.
    outliers = [i for i in insights.list_insights(store) if i.type == "outlier" and i.model == "gpt-4o-mini"]
    assert all(i.status == "resolved" and shift.insight_id in i.description for i in outliers)
    assert sorted(m["folded_outliers"]) == sorted(i.insight_id for i in outliers)


# -- multiple comparisons -------------------------------------------------------------------

def test_outlier_hours_are_controlled_by_benjamini_hochberg(store) -> None:
    # Only the false-discovery control guards here: no minimum count or share per hour.
    settings = load_settings(overrides={"analytics.outlier_min_rows": 1, "analytics.outlier_min_share": 0})
    rng = random.Random(8)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    rows = _hours(t0, 96, 30, rng)  # four days of heavy-tailed but normal traffic
    incident = t0 + timedelta(hours=90)
    hit = [r for r in rows if r["ts"][:13] == ts(incident)[:13]][:10]
    for r in hit:
        r["latency_ms"] *= 8  # one hour in which a third of the calls were 8x slower
    store.insert("llm_events", rows)
    assert analyse(settings, store).status == "ok"
    found = [i for i in insights.list_insights(store) if i.type == "outlier"]
    assert [(i.metric, i.metrics["first_hour"], i.metrics["hours_count"]) for i in found] == [
        ("latency", ts(incident), 1)]
    # Uncorrected, the ordinary hours with an extreme call or two would have been findings too.
    extreme = store.query("SELECT toStartOfHour(ts) AS h, count() AS k FROM analytics_outliers FINAL "
                          "WHERE is_outlier AND latency_z > 3 AND h != {i:DateTime} GROUP BY h",
                          {"i": incident.strftime("%Y-%m-%d %H:%M:%S")}).rows
    assert extreme, "the heavy tail puts extreme calls in ordinary hours"
    rate = analytics.FALSE_ALARM_RATE["latency"]
    assert any(stats.binom_sf(k, 30, rate) < 0.05 for _, k in extreme)
    [finding] = found
    assert finding.metrics["hours"][ts(incident)]["tests"] >= 2 * 95


def test_bh_reject_controls_the_false_discovery_rate() -> None:
    assert stats.bh_reject([0.001, 0.04, 0.3], 0.05) == [True, False, False]
    assert stats.bh_reject([0.01, 0.02, 0.03, 0.04], 0.05) == [True] * 4  # step-up: all pass at rank 4
    assert stats.bh_reject([0.01], 0.05, m=10) == [False]  # untested hypotheses count
    # Under the null, p-values are uniform: at q = 0.05 the chance of any discovery is <= 5%.
    rng = random.Random(3)
    any_found = sum(any(stats.bh_reject([rng.random() for _ in range(200)], 0.05)) for _ in range(400))
    assert any_found / 400 < 0.08


def test_binomial_tail_and_change_point() -> None:
    exact = sum(math.comb(100, i) * 0.01 ** i * 0.99 ** (100 - i) for i in range(4, 101))
    assert stats.binom_sf(4, 100, 0.01) == pytest.approx(exact, rel=1e-9)
    assert stats.binom_sf(0, 10, 0.5) == 1.0 and stats.binom_sf(11, 10, 0.5) == 0.0
    rng = random.Random(1)
    series = [rng.gauss(0, 0.05) for _ in range(40)] + [0.4 + rng.gauss(0, 0.05) for _ in range(30)]
    cp = stats.change_point(series, min_size=12)
    assert cp is not None and cp.index == 40 and cp.sustained and cp.p_value < 1e-10
    assert cp.step_low < 0.4 < cp.step_high
    flat = [rng.gauss(0, 0.05) for _ in range(70)]
    assert stats.change_point(flat, min_size=12).p_value > 0.01
    bump = [0.0] * 30 + [1.0] * 4 + [0.0] * 30
    assert not stats.change_point(bump, min_size=3).sustained
    r = stats.ratio_of_medians([100.0, 101, 99, 100, 102], [150.0, 149, 152, 151], min_n=1)
    assert r.ratio == pytest.approx(1.505) and 1.47 <= r.low <= r.ratio <= r.high <= 1.54
    assert stats.ratio_of_medians([1.0, 2, 3], [2.0, 3, 4]).low is None  # below the default min_n: no interval
    assert stats.ratio_of_medians([0.0, 0, 1], [2.0, 3, 4], min_n=1).ratio is None  # median before is 0


# -- outliers folded into a cost anomaly ----------------------------------------------------

def test_outliers_of_a_cost_spike_hour_are_folded_into_the_anomaly(store) -> None:
    last = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    rng = random.Random(4)
    rows = []
    hour = last - timedelta(days=6)
    while hour <= last:
        for k in range(6):
            r = _call(hour + timedelta(minutes=5 + 9 * k), rng)
            if hour == last:
                r["cost_usd"] = round(r["cost_usd"] * 5, 6)  # a pricing bug: 5x per call, same tokens
            rows.append(r)
        hour += timedelta(hours=1)
    store.insert("llm_events", rows)
    out = analyse(load_settings(), store)
    assert out.status == "ok", out.result.message
    live = insights.list_insights(store)
    [anomaly] = [i for i in live if i.type == "cost_anomaly"]
    assert [i for i in live if i.type == "outlier"] == []
    folded = anomaly.metrics["folded_outliers"]
    assert [(f["metric"], f["hour"], f["extreme_rows"], f["rows"]) for f in folded] == [("cost", ts(last), 6, 6)]
    # The calls themselves are still flagged on read.
    flagged = store.query("SELECT count() FROM run_analytics WHERE is_cost_outlier AND ts >= {h:DateTime64(3)}",
                          {"h": last.replace(tzinfo=None)}).scalar()
    assert flagged == 6
    assert analyse(load_settings(), store).result.details["insights_updated"] == 0


# -- migration 011 --------------------------------------------------------------------------

def test_migration_011_keeps_insights_and_verdicts_and_the_next_run_recomputes(settings) -> None:
    from muse import migrations
    from muse.store import open_store

    with open_store(settings) as store:
        # A store as it was before 011: the per-row run_analytics table with a record in it,
        # and an acknowledged insight with a verdict.
        migrations._ensure_ledger(store, "")
        for m in migrations.available():
            if m.version < 11:
                for stmt in migrations.statements(migrations.render(m.text)):
                    store.execute(stmt)
                store.insert("schema_migrations", [{"version": m.version, "name": m.name, "checksum": m.checksum}])
        store.insert("run_analytics", [{"kind": "llm", "source": "banterpacks", "row_key": 1, "ts": ts(T0),
                                        "run_id": "00000000-0000-4000-8000-000000000001", "commit_sha": "",
                                        "model": "m", "operation": "chat", "quant": "", "dataset": "",
                                        "input_category": "small", "input_complexity": 0.5, "cost": 0.1,
                                        "latency_ms": 1.0, "tokens": 1.0, "tokens_in": 1, "tokens_out": 0,
                                        "is_error": 0, "baseline_level": "genus", "baseline_n": 9, "z_cost": 1,
                                        "z_latency": 1, "z_tokens": 1, "source_ingested_at": ts(T0),
                                        "analytics_run_id": "00000000-0000-4000-8000-000000000002"}])
        old = insights.Insight(insight_id="feedbeef00000001", type="latency_regression", severity="critical",
                               title="old finding", description="d", observed_at=T0, model="m")
        insights.upsert(store, [old], run_id="00000000-0000-4000-8000-000000000003")
        insights.acknowledge(store, old.insight_id, by="alice", verdict="true-positive")
        rng = random.Random(2)
        store.insert("llm_events", _hours(T0, 40, 3, rng))
        assert [m.version for m in migrations.migrate(store)] == [11]
        kept = insights.find(store, old.insight_id)
        assert (kept.status, kept.verdict, kept.acknowledged_by) == ("acknowledged", "true-positive", "alice")
        engine = store.query("SELECT engine FROM system.tables WHERE database = currentDatabase() "
                             "AND name = 'run_analytics'").scalar()
        assert engine == "View" and store.query("SELECT count() FROM run_analytics").scalar() == 0
        out = analyse(load_settings(), store)
        assert out.status == "ok" and out.result.details["llm_rows"] == 120
        assert store.query("SELECT count() FROM run_analytics").scalar() == 120
        assert insights.find(store, old.insight_id).verdict == "true-positive"
        assert migrations.migrate(store) == []  # idempotent
