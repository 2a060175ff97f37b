"""The analytics worker on a real chDB store: z-scores, no look-ahead, insufficient baselines,
regressions (two levels, blips), cost anomalies alerting once, faults, and the demo data."""

from __future__ import annotations

import math
import random
import statistics
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from analytics_data import bench, demo_like, llm, sha, ts
from fakes import slack_and_pagerduty
from muse.analysis import insights
from muse.agents import analytics
from muse.config import load_settings
from muse.errors import StoreError
from muse.hours import ts_str
from muse.runs import run_agent
from muse.telemetry import Telemetry

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def analyse(settings: Any, store: Any, telemetry: Telemetry | None = None, **options: Any):
    out = run_agent(settings, "analytics", analytics.run, store=store,
                    telemetry=telemetry or Telemetry(state_dir=None), **options)
    return out


def records(store: Any, kind: str = "llm") -> dict[int, dict[str, Any]]:
    rows = store.query("SELECT row_key, baseline_level, baseline_state, baseline_n, cost_z, latency_z, tokens_z, "
                       "toString(analysed_at) AS analysed_at FROM run_analytics WHERE kind = {k:String}",
                       {"k": kind}).dicts()
    return {r["row_key"]: r for r in rows}


# -- an independent computation of the llm baselines, row by row in Python -----------------

def _ols(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """(intercept, slope, residual sd) of least squares y = a + b x, as the design defines it."""
    n = len(xs)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 1e-9 * n else 0.0
    a = my - b * mx
    sse = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, max(math.sqrt(sse / (n - 2)), 0.01)


def _quad(xs: list[float], ys: list[float]) -> tuple[float, float, float, float]:
    """(intercept, slope, curve, residual sd) of least squares y = a + b x + c x^2 (a line when
    x barely varies)."""
    n = len(xs)
    mx, my, mq = statistics.fmean(xs), statistics.fmean(ys), statistics.fmean(x * x for x in xs)
    cxx = sum((x - mx) ** 2 for x in xs)
    cqq = sum((x * x - mq) ** 2 for x in xs)
    cxq = sum((x - mx) * (x * x - mq) for x in xs)
    cxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    cqy = sum((x * x - mq) * (y - my) for x, y in zip(xs, ys))
    det = cxx * cqq - cxq * cxq
    if n > 3 and det > 1e-9 * max(cxx * cqq, 1e-12) and cxx > 1e-9 * n:
        b, c = (cqq * cxy - cxq * cqy) / det, (cxx * cqy - cxq * cxy) / det
    else:
        b, c = (cxy / cxx if cxx > 1e-9 * n else 0.0), 0.0
    a = my - b * mx - c * mq
    sse = sum((y - a - b * x - c * x * x) ** 2 for x, y in zip(xs, ys))
    return a, b, c, max(math.sqrt(sse / (n - 3)), 0.01)


def reference(rows: list[dict[str, Any]], *, window_days: int, min_n: int) -> dict[int, dict[str, Any]]:
    """Per event: (level, n, z per metric): its (source, operation, model) calls of the trailing
    window before its hour; latency regressed on x = ln(1 + tokens_out) and x^2, cost on ln(1 + tokens),
    both on the log scale; tokens as mean and standard deviation of ln(1 + tokens)."""
    def logs(r: dict[str, Any]) -> tuple[float, float, float, float]:
        return (math.log(1 + r["tokens_out"]), math.log(max(r["latency_ms"], 1)),
                math.log(1 + r["tokens_in"] + r["tokens_out"]), math.log(r["cost_usd"] + 1e-6))

    out = {}
    for r in rows:
        hour = r["at"].replace(minute=0, second=0, microsecond=0)
        lo = hour - timedelta(days=window_days)
        w = [q for q in rows if (q["source"], q["operation"], q["model"]) == (r["source"], r["operation"], r["model"])
             and lo <= q["at"] < hour]
        if len(w) < min_n:
            out[r["event_id"]] = {"level": "", "n": len(w), "z": None}
            continue
        x, y, u, v = zip(*(logs(q) for q in w))
        rx, ry, ru, rv = logs(r)
        la, lb, lq, ls = _quad(list(x), list(y))
        ca, cb, cs = _ols(list(u), list(v))
        tm, tsd = statistics.fmean(u), max(statistics.stdev(u), 0.01)
        out[r["event_id"]] = {"level": "model", "n": len(w), "z": {
            "latency": (ry - la - lb * rx - lq * rx * rx) / ls, "cost": (rv - ca - cb * ru) / cs, "tokens": (ru - tm) / tsd}}
    return out


def llm_fixture(seed: int = 3) -> list[dict[str, Any]]:
    """Two days of traffic: a busy model whose latency follows its answer size (with planted
    extreme calls), a second model of the same operation with too few calls for a baseline of
    its own, and a sparse group that stays insufficient."""
    rng = random.Random(seed)
    rows = []
    eid = 1000
    for h in range(48):
        hour = T0 + timedelta(hours=h)
        for k in range(3):
            eid += 1
            tokens_out = rng.choice((30, 60, 90, 200, 400))
            latency = int((150 + 9 * tokens_out) * rng.uniform(0.85, 1.15))
            cost = round((300 * 0.5e-6 + tokens_out * 1.5e-6) * rng.uniform(0.95, 1.05), 6)
            if (h, k) in ((20, 1), (21, 0), (30, 2)):
                latency, cost = latency * 12, cost * 20  # extreme
            rows.append(llm(hour + timedelta(minutes=7 + 17 * k), tokens_in=300 + rng.randint(-50, 50),
                            tokens_out=tokens_out, latency_ms=latency, cost=cost, event_id=eid, run=f"busy-{h}"))
            rows[-1]["planted"] = (h, k) in ((20, 1), (21, 0), (30, 2))
        if h % 6 == 0:
            eid += 1
            rows.append(llm(hour + timedelta(minutes=40), model="claude-haiku", tokens_in=200, tokens_out=80,
                            latency_ms=700 + 10 * h, cost=0.0015, event_id=eid, run=f"sparse-{h}"))
    for h in (1, 9, 17, 40):
        eid += 1
        rows.append(llm(T0 + timedelta(hours=h, minutes=3), source="council", operation="draft", model="gpt-4o",
                        tokens_in=2000, tokens_out=500, latency_ms=5000, cost=0.03, event_id=eid, run=f"council-{h}"))
    for r in rows:
        r["at"] = datetime.strptime(r["ts"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    return rows


def _insert(store: Any, rows: list[dict[str, Any]]) -> None:
    store.insert("llm_events", [{k: v for k, v in r.items() if k not in ("at", "planted")} for r in rows])


def test_z_scores_read_through_the_view_match_an_independent_computation(store) -> None:
    settings = load_settings(overrides={"analytics.baseline_window_days": 1})
    rows = llm_fixture()
    _insert(store, rows)
    out = analyse(settings, store)
    assert out.status == "ok", out.result.message
    got = records(store)
    want = reference(rows, window_days=1, min_n=30)
    assert set(got) == set(want) and len(got) == len(rows)
    levels = {"model": 0, "": 0}
    for eid, w in want.items():
        g = got[eid]
        levels[w["level"]] += 1
        assert g["baseline_level"] == w["level"] and g["baseline_n"] == w["n"], eid
        if w["level"] == "":
            assert g["baseline_state"] == "insufficient_baseline"
            assert (g["cost_z"], g["latency_z"], g["tokens_z"]) == (None, None, None)
            continue
        assert g["baseline_state"] == "ok", eid
        for m in ("cost", "latency", "tokens"):
            assert g[f"{m}_z"] == pytest.approx(w["z"][m], rel=1e-4, abs=1e-3), (eid, m)
    assert all(levels.values()), levels
    extreme = [got[r["event_id"]]["latency_z"] for r in rows if r.get("planted")]
    assert len(extreme) == 3 and all(z > 5 for z in extreme), extreme
    # Only what is extreme is materialised: one baseline row per group and hour, no row per event.
    stored = store.query("SELECT (SELECT count() FROM analytics_baselines FINAL WHERE kind = 'llm'), "
                         "(SELECT count() FROM analytics_outliers FINAL WHERE is_outlier)").rows[0]
    hours = {(r["source"], r["operation"], r["model"], r["at"].replace(minute=0)) for r in rows}
    assert stored[0] == len(hours) and stored[1] < len(rows) / 10


def test_no_look_ahead_later_rows_never_change_earlier_scores(store) -> None:
    settings = load_settings(overrides={"analytics.baseline_window_days": 1})
    rows = llm_fixture()
    cut = T0 + timedelta(hours=30)
    early = [r for r in rows if r["at"] < cut]
    late = [r for r in rows if r["at"] >= cut]
    # Later rows include huge values: if they leaked into earlier baselines, scores would move.
    for r in late[::4]:
        r["latency_ms"], r["cost_usd"] = 60000, 0.9
    _insert(store, early)
    assert analyse(settings, store).status == "ok"
    before = records(store)
    _insert(store, late)
    inc = analyse(settings, store)
    assert inc.status == "ok" and inc.result.details["llm_rows"] == len(late)
    after = records(store)
    assert {k: after[k] for k in before} == before  # untouched: same analysed_at, same scores
    full = analyse(settings, store, full=True)  # recompute everything with the future present
    assert full.status == "ok" and full.result.details["llm_rows"] == len(rows)
    again = records(store)

    def scores(r: dict[str, Any], approx: bool = False) -> tuple:
        zs = [r[c] for c in ("cost_z", "latency_z", "tokens_z")]
        return (r["baseline_level"], r["baseline_n"],
                *((None if z is None else pytest.approx(z, rel=1e-5, abs=1e-5)) if approx else z for z in zs))

    for k, r in before.items():
        assert scores(again[k]) == scores(r, approx=True), k
    # And the incremental run scored the late rows exactly like the full recompute did.
    for r in late:
        assert scores(again[r["event_id"]]) == scores(after[r["event_id"]], approx=True), r["event_id"]


@pytest.mark.parametrize("min_n", [None, 10])
def test_insufficient_baseline_below_the_minimum_default_30(store, min_n: int | None) -> None:
    settings = load_settings(overrides={"analytics.min_baseline_samples": min_n} if min_n else {})
    expected = min_n or 30
    rows = [llm(T0 + timedelta(hours=h, minutes=10), latency_ms=1000 + 10 * (h % 3), event_id=h + 1)
            for h in range(40)]
    store.insert("llm_events", rows)
    out = analyse(settings, store)
    assert out.status == "ok" and out.result.details["insufficient_baseline"] == expected
    got = records(store)
    for h in range(40):
        r = got[h + 1]
        assert r["baseline_n"] == h, r
        if h < expected:
            assert r["baseline_state"] == "insufficient_baseline" and r["baseline_level"] == ""
            assert r["cost_z"] is None and r["latency_z"] is None and r["tokens_z"] is None
        else:
            assert r["baseline_state"] == "ok" and r["latency_z"] is not None
    flagged = store.query("SELECT countIf(is_cost_outlier OR is_latency_outlier OR is_tokens_outlier) "
                          "FROM run_analytics WHERE baseline_state = 'insufficient_baseline'").scalar()
    assert flagged == 0


def _answers(at: datetime, k: int, rng: random.Random, *, model: str = "gpt-4o-mini", slow: float = 1.0,
             tokens_out: int | None = None) -> dict[str, Any]:
    """One chat call whose latency is 200 ms plus 12 ms per output token (x noise)."""
    out = tokens_out if tokens_out is not None else int(rng.lognormvariate(5.0, 0.5))
    lat = (200 + 12 * out) * rng.uniform(0.85, 1.15) * slow
    return llm(at + timedelta(minutes=k), model=model, tokens_in=400, tokens_out=out, latency_ms=int(lat),
               cost=(400 * 0.5e-6 + out * 1.5e-6) * rng.uniform(0.97, 1.03))


def test_latency_is_compared_at_the_calls_own_answer_size(store) -> None:
    rng = random.Random(11)
    rows = [_answers(T0 + timedelta(hours=h), k, rng) for h in range(24) for k in range(0, 60, 4)]
    last = T0 + timedelta(hours=24)
    long_answer = _answers(last, 10, rng, tokens_out=3000)  # ~20x the usual answer, ~15x the latency
    slow_short = _answers(last, 20, rng, tokens_out=150, slow=6)  # a usual answer, 6x slower
    rows += [long_answer, slow_short]
    store.insert("llm_events", rows)
    assert analyse(load_settings(), store).status == "ok"
    got = records(store)
    assert abs(got[long_answer["event_id"]]["latency_z"]) < 3  # explained by its length: not an outlier
    assert got[slow_short["event_id"]]["latency_z"] > 5
    flags = store.query("SELECT row_key, is_latency_outlier FROM run_analytics WHERE row_key IN {k:Array(UInt64)}",
                        {"k": [long_answer["event_id"], slow_short["event_id"]]}).rows
    assert dict(flags) == {long_answer["event_id"]: False, slow_short["event_id"]: True}
    # The raw latency of the long answer is far above the group's typical call.
    typical = statistics.median(r["latency_ms"] for r in rows[:-2])
    assert long_answer["latency_ms"] > 10 * typical


def test_models_are_never_pooled(store) -> None:
    rng = random.Random(5)
    rows = [_answers(T0 + timedelta(hours=h), k, rng) for h in range(24) for k in range(0, 60, 6)]
    # A second model of the same operation: 10 calls, 3x slower than the first. Its calls are
    # never scored against the first model's calls; below 30 of its own it has no z-score.
    slow = [_answers(T0 + timedelta(hours=h), 30, rng, model="qwen2-7b", slow=3) for h in range(14, 24)]
    store.insert("llm_events", rows + slow)
    assert analyse(load_settings(), store).status == "ok"
    got = records(store)
    for r in slow:
        assert got[r["event_id"]]["baseline_state"] == "insufficient_baseline"
        assert got[r["event_id"]]["baseline_n"] == sum(1 for q in slow if q["ts"][:13] < r["ts"][:13])
    assert [i for i in insights.list_insights(store) if i.model == "qwen2-7b"] == []
    keys = store.query("SELECT model, uniqExact(key) FROM analytics_baselines FINAL WHERE kind = 'llm' "
                       "GROUP BY model ORDER BY model").rows
    assert keys == [("gpt-4o-mini", 1), ("qwen2-7b", 1)]


def test_rerun_with_nothing_new_writes_nothing(store) -> None:
    settings = load_settings()
    _insert(store, llm_fixture())
    assert analyse(settings, store).status == "ok"
    count = ("SELECT (SELECT count() FROM analytics_outliers), (SELECT count() FROM analytics_baselines), "
             "(SELECT count() FROM insights)")
    before = store.query(count).rows
    out = analyse(settings, store)
    assert out.status == "ok" and out.result.rows_written == 0
    assert [i.message for i in out.result.items] == ["nothing new", "no new hours", "nothing new",
                                                     "0 gap(s) recorded, 0 new insight(s)"]
    assert store.query(count).rows == before


def test_late_and_reingested_rows_are_analysed_once_at_their_latest_version(store) -> None:
    settings = load_settings()
    rows = llm_fixture()
    _insert(store, rows)
    assert analyse(settings, store).status == "ok"
    now = datetime.now(UTC)
    # A late event (old ts) and a corrected re-ingest of an existing one (same key, newer version).
    late = llm(T0 + timedelta(hours=5, minutes=59), tokens_in=300, latency_ms=950, event_id=999_001, ingested=now)
    fixed = dict(rows[10])
    fixed.update(latency_ms=1234, ingested_at=ts(now + timedelta(seconds=1)))
    store.insert("llm_events", [late, {k: v for k, v in fixed.items() if k not in ("at", "planted")}])
    before = records(store)
    out = analyse(settings, store)
    # The two hours they fall in are re-analysed (their buckets changed), nothing else.
    touched = {late["ts"][:13], fixed["ts"][:13]}
    in_touched = [r for r in rows if r["ts"][:13] in touched]
    assert out.status == "ok" and out.result.details["llm_rows"] == len(in_touched) + 1
    after = records(store)
    assert {k: r for k, r in after.items() if k != 999_001 and k not in {q["event_id"] for q in in_touched}} == {
        k: r for k, r in before.items() if k != 999_001 and k not in {q["event_id"] for q in in_touched}}
    lat = store.query("SELECT latency_ms FROM run_analytics WHERE row_key = {k:UInt64}",
                      {"k": rows[10]["event_id"]}).scalar()
    assert lat == 1234
    assert store.query("SELECT count() FROM run_analytics").scalar() == len(rows) + 1


# -- benchmark regressions ------------------------------------------------------------------

STABLE = [100, 104, 96, 102, 98, 100, 103, 97] * 4  # 32 runs: median 100, MAD 2.5 -> scale 3.7065
SCALE = 1.4826 * 2.5


def _series(store: Any, end: datetime, tail: list[float], *, model: str = "llama3-8b", quant: str = "q4",
            start_index: int = 0, values: list[float] | None = None) -> list[str]:
    values = (values or STABLE) + tail
    n = len(values)
    commits = []
    rows = []
    for i, v in enumerate(values):
        if i < start_index:
            continue
        commit = sha(f"{model}-{quant}-{i}")
        commits.append(commit)
        rows.append(bench(end - timedelta(hours=2 * (n - i)), commit, model=model, quant=quant, p95=v,
                          run=f"{model}-{quant}-{i}"))
    store.insert("bench_runs", rows)
    return commits


@pytest.fixture
def alerting(settings):
    fake = slack_and_pagerduty()
    s = load_settings(overrides={"slack.webhook_url": fake.url + "/slack/T/B/x",
                                 "pagerduty.routing_key": "rk-test",
                                 "pagerduty.events_url": fake.url + "/v2/enqueue"})
    try:
        yield s, fake
    finally:
        fake.close()


def _posts(fake: Any, path: str) -> list[dict[str, Any]]:
    return [r.json() for r in fake.requests if r.path.startswith(path)]


def _bench_insights(store: Any) -> list[insights.Insight]:
    return [i for i in insights.list_insights(store, limit=100) if i.source == "banterhearts"]


def test_regression_warning_then_critical_on_confirmation(store, alerting) -> None:
    settings, fake = alerting
    now = datetime.now(UTC)
    tel = Telemetry.from_settings(settings)
    commits = _series(store, now - timedelta(hours=2), [122])  # 5.9 scale units and +22%: warning
    out = analyse(settings, store, tel)
    assert out.status == "ok", out.result.message
    [reg] = _bench_insights(store)
    assert (reg.type, reg.severity, reg.status, reg.commit_sha) == ("latency_regression", "warning", "open", commits[-1])
    assert reg.metric == "latency" and reg.baseline_value == 100 and reg.observed_value == 122
    assert reg.z_score == pytest.approx(22 / SCALE, rel=1e-6)
    assert reg.metrics["ratio_of_medians"] == pytest.approx(1.22) and reg.metrics["change_pct"] == pytest.approx(22)
    assert reg.evidence["query"] == "analytics_bench_changes" and reg.evidence["previous_commit"] == commits[-2]
    assert len(_posts(fake, "/slack/")) == 1 and _posts(fake, "/v2/enqueue") == []  # Slack, no page
    # The next commit stays worse than the pre-change baseline: confirmed, critical, paged once.
    # Its size is now the ratio of the medians after/before the change point: (121 + 122) / 2 / 100.
    store.insert("bench_runs", [bench(now - timedelta(minutes=30), sha("next"), p95=121, run="next")])
    assert analyse(settings, store, tel).status == "ok"
    [reg2] = _bench_insights(store)
    assert reg2.insight_id == reg.insight_id and reg2.severity == "critical"
    assert reg2.metrics["confirmed"] is True and reg2.evidence["next_commit"] == sha("next")
    assert reg2.metrics["ratio_of_medians"] == pytest.approx(1.215) and reg2.metrics["runs_after"] == 2
    assert reg2.metrics["ratio_low"] <= 1.215 <= reg2.metrics["ratio_high"]
    pages = _posts(fake, "/v2/enqueue")
    assert [(p["event_action"], p["dedup_key"]) for p in pages] == [("trigger", f"muse-analytics-{reg.insight_id}")]
    assert analyse(settings, store, tel).status == "ok"  # nothing new: no new alert
    assert len(_posts(fake, "/v2/enqueue")) == 1 and len(_posts(fake, "/slack/")) == 2


def test_one_run_at_twice_the_threshold_is_critical_at_once(store, alerting) -> None:
    settings, fake = alerting
    _series(store, datetime.now(UTC) - timedelta(hours=1), [140])  # 10.8 scale units
    assert analyse(settings, store, Telemetry.from_settings(settings)).status == "ok"
    [reg] = _bench_insights(store)
    assert (reg.type, reg.severity) == ("latency_regression", "critical")
    assert "not yet confirmed" in reg.description
    assert len(_posts(fake, "/v2/enqueue")) == 1


@pytest.mark.parametrize("values, tail, found", [
    (STABLE, [115], False),  # +15% but 4.0 scale units: under |z| 5
    ([100, 100.2, 99.8, 100.1, 99.9] * 7, [108], False),  # 8 scale units (floored at 1%) but +8%: the 10% guard
    ([100, 100.2, 99.8, 100.1, 99.9] * 7, [112], True),  # 12 scale units and +12%
    (STABLE, [125], True),  # 6.7 scale units and +25%
])
def test_a_regression_needs_z_at_least_5_and_10_percent(store, values, tail, found) -> None:
    _series(store, datetime.now(UTC), tail, values=values)
    assert analyse(load_settings(), store).status == "ok"
    assert bool(_bench_insights(store)) is found


def test_the_z_threshold_is_configurable(store) -> None:
    _series(store, datetime.now(UTC), [115])
    assert analyse(load_settings(overrides={"analytics.bench_z_threshold": 3.5}), store).status == "ok"
    [reg] = _bench_insights(store)
    assert reg.metrics["z_threshold"] == 3.5 and reg.severity == "warning"


def test_a_blip_that_reverts_is_an_outlier_and_resolves_the_page(store, alerting) -> None:
    settings, fake = alerting
    now = datetime.now(UTC)
    tel = Telemetry.from_settings(settings)
    commits = _series(store, now - timedelta(hours=2), [140])
    assert analyse(settings, store, tel).status == "ok"
    [reg] = _bench_insights(store)
    assert reg.severity == "critical"  # extreme, unconfirmed: pages
    store.insert("bench_runs", [bench(now - timedelta(minutes=20), sha("back"), p95=101, run="back")])
    assert analyse(settings, store, tel).status == "ok"
    got = {i.type: i for i in _bench_insights(store)}
    assert got["latency_regression"].status == "resolved" and "reverted" in got["latency_regression"].description
    blip = got["outlier"]
    assert (blip.severity, blip.status, blip.commit_sha) == ("info", "open", commits[-1])
    assert blip.evidence["next_commit"] == sha("back")
    assert [p["event_action"] for p in _posts(fake, "/v2/enqueue")] == ["trigger", "resolve"]
    assert insights.list_insights(store, open_only=True, type="latency_regression") == []


def test_a_blip_seen_whole_never_raises_a_regression(store, alerting) -> None:
    settings, fake = alerting
    _series(store, datetime.now(UTC), [130, 99, 101])
    assert analyse(settings, store, Telemetry.from_settings(settings)).status == "ok"
    assert [(i.type, i.severity) for i in _bench_insights(store)] == [("outlier", "info")]
    assert fake.requests == []


def test_bench_records_use_median_mad_and_insufficient_first_30_runs(store) -> None:
    _series(store, datetime.now(UTC), [108])
    assert analyse(load_settings(), store).status == "ok"
    rows = store.query("SELECT baseline_state, baseline_level, baseline_n, latency_z FROM run_analytics "
                       "WHERE kind = 'bench' ORDER BY ts").dicts()
    assert [r["baseline_state"] for r in rows[:30]] == ["insufficient_baseline"] * 30
    assert rows[30]["baseline_state"] == "ok"
    assert [r["baseline_n"] for r in rows] == list(range(33))
    last = rows[-1]
    assert last["baseline_level"] == "series"
    assert last["latency_z"] == pytest.approx((108 - statistics.median(STABLE)) / (
        1.4826 * statistics.median([abs(v - statistics.median(STABLE)) for v in STABLE])), rel=1e-5)


def test_bench_series_are_never_pooled(store) -> None:
    # A q8 series with 10 runs next to a q4 series with 32: the q8 runs have no baseline of their
    # own, and the q4 runs never lend them one.
    _series(store, datetime.now(UTC), [])
    _series(store, datetime.now(UTC), [300], quant="q8", values=[150] * 10)
    assert analyse(load_settings(), store).status == "ok"
    states = store.query("SELECT quant, groupUniqArray(baseline_state) FROM run_analytics WHERE kind = 'bench' "
                         "GROUP BY quant ORDER BY quant").rows
    assert [q for q, _ in states] == ["q4", "q8"]
    assert "ok" in states[0][1] and states[1][1] == ["insufficient_baseline"]
    assert _bench_insights(store) == []


# -- cost anomaly ---------------------------------------------------------------------------

def _traffic(store: Any, first: datetime, last: datetime, *, cost: float = 0.01, spike: datetime | None = None,
             factor: float = 5.0) -> None:
    rows, hour = [], first
    while hour <= last:
        for k in range(4):
            c = cost * (factor if hour == spike else 1) * (1 + 0.02 * ((k % 3) - 1))
            rows.append(llm(hour + timedelta(minutes=5 + 10 * k), cost=c, latency_ms=1000 + 10 * k))
        hour += timedelta(hours=1)
    store.insert("llm_events", rows)


def test_cost_anomaly_alerts_slack_once(store, alerting) -> None:
    settings, fake = alerting
    tel = Telemetry.from_settings(settings)
    now = datetime.now(UTC)
    last = (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    _traffic(store, last - timedelta(days=5), last, spike=last)
    out = analyse(settings, store, tel)
    assert out.status == "ok", out.result.message
    [anomaly] = [i for i in insights.list_insights(store) if i.type == "cost_anomaly"]
    assert anomaly.severity == "warning" and ts_str(anomaly.observed_at).startswith(ts(last)[:16])
    assert anomaly.metrics["ratio"] == pytest.approx(5.0, rel=0.05) and anomaly.metrics["baseline_days"] == 5
    assert anomaly.evidence["query"] == "analytics_cost_hours"
    slack = [p["text"] for p in _posts(fake, "/slack/")]
    assert len(slack) == 1 and "LLM cost spike" in slack[0] and anomaly.insight_id in slack[0]
    assert _posts(fake, "/v2/enqueue") == []  # a warning does not page
    # Re-run: nothing new. More spend in the same hour: the insight is updated, no second alert.
    assert analyse(settings, store, tel).status == "ok"
    store.insert("llm_events", [llm(last + timedelta(minutes=55), cost=0.2)])
    assert analyse(settings, store, tel).status == "ok"
    [updated] = [i for i in insights.list_insights(store) if i.type == "cost_anomaly"]
    assert updated.insight_id == anomaly.insight_id and updated.observed_value > anomaly.observed_value
    assert len(_posts(fake, "/slack/")) == 1


def test_consecutive_spike_hours_are_one_anomaly_and_one_alert(store, alerting) -> None:
    settings, fake = alerting
    tel = Telemetry.from_settings(settings)
    now = datetime.now(UTC)
    last = (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    first_spike = last - timedelta(hours=1)
    _traffic(store, last - timedelta(days=6), first_spike, spike=first_spike)
    assert analyse(settings, store, tel).status == "ok"
    _traffic(store, last, last, spike=last, factor=4)  # the next hour arrives, still hot
    assert analyse(settings, store, tel).status == "ok"
    [anomaly] = [i for i in insights.list_insights(store) if i.type == "cost_anomaly"]
    assert sorted(anomaly.metrics["hours"]) == [ts(first_spike), ts(last)]
    assert "over 2 hours" in anomaly.title and ts_str(anomaly.observed_at).startswith(ts(first_spike)[:16])
    assert len([p for p in _posts(fake, "/slack/") if "LLM cost spike" in p["text"]]) == 1


def test_extreme_calls_hour_after_hour_extend_one_open_outlier(store) -> None:
    settings = load_settings()
    rows = []
    for h in range(30):  # steady, then from hour 24 on every call is 10x slower
        for k in range(5):
            rows.append(llm(T0 + timedelta(hours=h, minutes=10 * k), latency_ms=(10000 if h >= 24 else 1000) + 7 * k))
    store.insert("llm_events", rows[: 5 * 26])
    assert analyse(settings, store).status == "ok"
    store.insert("llm_events", rows[5 * 26:])
    assert analyse(settings, store).status == "ok"
    outliers = [i for i in insights.list_insights(store) if i.type == "outlier"]
    assert len(outliers) == 1 and outliers[0].metric == "latency"
    m = outliers[0].metrics
    # Hours 24 and 25 came in the first run, later ones in the second: one insight spans both.
    # (After a few hours the winsorized baseline has adapted to the new level and the calls
    # stop being extreme: a persisting shift is a regression question, not an outlier.)
    assert m["first_hour"] == ts(T0 + timedelta(hours=24)) and m["last_hour"] >= ts(T0 + timedelta(hours=26))
    assert m["extreme_rows"] == 5 * m["hours_count"] and f"in {m['hours_count']} hours between" in outliers[0].title
    # Once acknowledged, the next extreme hour opens a new insight.
    insights.acknowledge(store, outliers[0].insight_id, by="t")
    store.insert("llm_events", [llm(T0 + timedelta(hours=30, minutes=10 * k), latency_ms=200000) for k in range(5)])
    assert analyse(settings, store).status == "ok"
    assert len([i for i in insights.list_insights(store) if i.type == "outlier"]) == 2


def test_old_cost_anomaly_is_recorded_without_alerting(store, alerting) -> None:
    settings, fake = alerting
    spike = T0 + timedelta(days=5, hours=14)
    _traffic(store, T0, T0 + timedelta(days=6), spike=spike, factor=3)
    _traffic(store, T0 + timedelta(days=2, hours=9), T0 + timedelta(days=2, hours=9), cost=0.0)  # tiny extra
    assert analyse(settings, store, Telemetry.from_settings(settings)).status == "ok"
    found = [i for i in insights.list_insights(store) if i.type == "cost_anomaly"]
    assert [ts_str(i.observed_at)[:16] for i in found] == [ts(spike)[:16]]
    assert fake.requests == []


@pytest.mark.parametrize("full", [1, 0])
def test_the_runs_cost_hours_from_its_buckets_equal_the_evidence_query(store, full: int) -> None:
    # The run adds up hourly spend from its buckets (analytics_cost_hours_run); an insight's
    # evidence names analytics_cost_hours, which reads llm_events: both give the same rows, in a
    # full run (every hour a bucket) and an incremental one (earlier hours from llm_events).
    last = T0 + timedelta(days=6, hours=5)
    _traffic(store, T0 + timedelta(hours=15), last, spike=last - timedelta(hours=3))
    store.insert("llm_events", [llm(last - timedelta(days=2, minutes=-7), cost=0.3)])  # a second call in an hour
    store.execute("CREATE TEMPORARY TABLE _an_hours (hour DateTime('UTC')) ENGINE = Memory")
    checked = [last - timedelta(hours=h) for h in range(30, -1, -1)]
    if not full:  # an incremental run re-analyses the last 30 hours only
        store.insert("_an_hours", [{"hour": ts(h)[:19]} for h in checked])
    store.named("analytics_llm_buckets", {"full": full})
    try:
        params = {"from": checked[0] - timedelta(days=7), "to": last + timedelta(hours=1), "days_s": 7 * 86400,
                  "hours": [ts(h)[:19] for h in checked]}
        evidence = store.named("analytics_cost_hours", params).dicts()
        run = store.named("analytics_cost_hours_run", {**params, "full": full}).dicts()
        assert len(run) == len(checked) and run[-1]["base_days"] == 5
        assert [(r["hour"], r["events"], r["base_days"]) for r in run] == \
            [(r["hour"], r["events"], r["base_days"]) for r in evidence]
        for a, b in zip(run, evidence):
            assert a["cost"] == pytest.approx(b["cost"], rel=1e-12)
            assert a["baseline"] == pytest.approx(b["baseline"], rel=1e-12)
            assert a["typical"] == pytest.approx(b["typical"], rel=1e-12)
    finally:
        store.execute("DROP TEMPORARY TABLE IF EXISTS _an_hours")
        store.execute("DROP TEMPORARY TABLE IF EXISTS _an_buckets")


def test_cost_below_factor_or_without_enough_days_is_no_anomaly(store) -> None:
    last = T0 + timedelta(days=2)
    _traffic(store, T0, last, spike=last, factor=1.9)  # 1.9x < 2x, and only 2 earlier days
    out = analyse(load_settings(), store)
    assert out.status == "ok"
    assert [i for i in insights.list_insights(store) if i.type == "cost_anomaly"] == []


def test_hours_before_the_first_llm_event_are_not_zero_cost_baseline_days(store) -> None:
    # Collection starts at 15:00 on day 0: its 05:00 is not a $0 day in the 05:00 baseline
    # (zeros there would drag the median down and make an ordinary hour look like a spike).
    spike = T0 + timedelta(days=6, hours=5)
    _traffic(store, T0 + timedelta(hours=15), spike, spike=spike)
    assert analyse(load_settings(), store).status == "ok"
    [anomaly] = [i for i in insights.list_insights(store) if i.type == "cost_anomaly"]
    assert anomaly.metrics["baseline_days"] == 5  # days 1 to 5; day 0 had no 05:00 yet
    assert anomaly.metrics["hours"][ts(spike)]["baseline_costs"] == [pytest.approx(0.04, rel=0.01)] * 5


@pytest.mark.parametrize("min_excess, expected", [("1", ["busy"]), ("0", ["night", "busy"])])
def test_a_spike_of_cents_over_a_quiet_hour_alerts_only_without_the_excess_floor(store, min_excess, expected) -> None:
    # Six days of 16 busy hours at $0.10 and 8 night hours at $0.004; on the sixth day
    # 03:00 and 14:00 both cost 3x their baseline. The night spike is $0.008 more than
    # usual, under one typical hour ($0.10): not worth an alert unless the floor is off.
    spikes = {"night": T0 + timedelta(days=5, hours=3), "busy": T0 + timedelta(days=5, hours=14)}
    rows = []
    for h in range(6 * 24):
        hour = T0 + timedelta(hours=h)
        cost = (0.004 if hour.hour < 8 else 0.1) * (3 if hour in spikes.values() else 1)
        rows += [llm(hour + timedelta(minutes=5 + 10 * k), cost=cost / 4) for k in range(4)]
    store.insert("llm_events", rows)
    settings = load_settings(overrides={"analytics.cost_anomaly_min_excess": min_excess})
    assert analyse(settings, store).status == "ok"
    found = sorted((i for i in insights.list_insights(store) if i.type == "cost_anomaly"), key=lambda i: i.observed_at)
    assert [ts_str(i.observed_at)[:16] for i in found] == [ts(spikes[name])[:16] for name in expected]
    hour = found[-1].metrics["hours"][ts(spikes["busy"])]
    assert hour["ratio"] == pytest.approx(3.0) and hour["typical_hour_usd"] == pytest.approx(0.1)


# -- ingestion gaps, faults, demo -----------------------------------------------------------

def test_ingestion_gaps_become_insights_once(store) -> None:
    store.insert("ingest_gaps", [
        {"hour": "2026-03-02 04:00:00", "kind": "no_telemetry", "events": 0, "baseline": 120.0,
         "detected_at": "2026-03-02 06:00:00.000", "run_id": "00000000-0000-4000-8000-00000000000a"},
        {"hour": "2026-03-02 05:00:00", "kind": "drop", "events": 9, "baseline": 118.5,
         "detected_at": "2026-03-02 06:00:00.000", "run_id": "00000000-0000-4000-8000-00000000000a"}])
    assert analyse(load_settings(), store).status == "ok"
    gaps = sorted((i for i in insights.list_insights(store) if i.type == "ingestion_gap"), key=lambda i: i.observed_at)
    assert [(i.severity, i.metrics["kind"]) for i in gaps] == [("warning", "no_telemetry"), ("warning", "drop")]
    assert "No telemetry in the hour 2026-03-02 04:00" in gaps[0].title and "dropped to 9 events" in gaps[1].title
    assert gaps[1].evidence["table"] == "ingest_gaps"
    assert analyse(load_settings(), store).status == "ok"
    assert store.query("SELECT count() FROM insights WHERE type = 'ingestion_gap'").scalar() == 2
    # Later data filled the 04:00 hour and the ingest worker removed that gap.
    store.execute("DELETE FROM ingest_gaps WHERE kind = 'no_telemetry'")
    out = analyse(load_settings(), store)
    assert out.result.items[-1].message == "1 gap(s) recorded, 0 new insight(s), 1 resolved"
    status = {i.metrics["kind"]: i.status for i in insights.list_insights(store) if i.type == "ingestion_gap"}
    assert status == {"no_telemetry": "resolved", "drop": "open"}


def test_failure_before_the_records_is_redone_without_duplicates(store, alerting, monkeypatch) -> None:
    settings, fake = alerting
    tel = Telemetry.from_settings(settings)
    now = datetime.now(UTC)
    last = (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    _traffic(store, last - timedelta(days=5), last, spike=last)
    original = store.named
    calls = {"n": 0}

    def failing(name, params=None):
        if name == "analytics_llm_save_baselines" and calls["n"] == 0:
            calls["n"] += 1
            raise StoreError("insert into analytics_baselines failed: Code: 241. MEMORY_LIMIT_EXCEEDED (simulated)")
        return original(name, params)

    monkeypatch.setattr(store, "named", failing)
    out = analyse(settings, store, tel)
    assert out.status == "failed" and "MEMORY_LIMIT_EXCEEDED" in out.result.message
    assert store.query("SELECT count() FROM run_analytics").scalar() == 0
    assert any(a["title"] == "muse analytics failed" for a in tel.alerts_sent)
    out = analyse(settings, store, tel)
    assert out.status == "ok" and out.result.details["llm_rows"] == 4 * (5 * 24 + 1)
    assert store.query("SELECT uniqExact(insight_id) FROM insights WHERE type = 'cost_anomaly'").scalar() == 1
    spikes = [p for p in _posts(fake, "/slack/") if "LLM cost spike" in p["text"]]
    assert len(spikes) == 1  # the anomaly alerted in the failed run and not again


def test_bad_category_setting_is_a_usage_error(store) -> None:
    settings = load_settings(overrides={"analytics.category_tokens": "500,100,2,3"})
    out = analyse(settings, store)
    assert out.status == "failed" and int(out.exit_code) == 2
    assert "analytics.category_tokens" in out.result.message


def test_demo_like_data_names_the_planted_regression_and_cost_spike(store) -> None:
    now = datetime.now(UTC)
    planted = demo_like(store, now)
    out = analyse(load_settings(), store)
    assert out.status == "ok", out.result.message
    live = [i for i in insights.list_insights(store, limit=200) if i.status != "resolved"]
    regressions = [i for i in live if i.type.endswith("_regression")]
    assert [(i.type, i.severity, (i.model, i.quant, i.dataset), i.commit_sha) for i in regressions] == [
        ("latency_regression", "critical", planted.regression_series, planted.regression_commit)]
    assert regressions[0].metrics["change_pct"] == pytest.approx(45, abs=5)
    [spike] = [i for i in live if i.type == "cost_anomaly"]
    assert ts_str(spike.observed_at).startswith(ts(planted.spike_hour)[:16])
    summary = insights.findings_summary(store)
    assert summary.splitlines()[1].startswith("  [critical] latency_regression")
    assert planted.regression_commit[:8] in summary and "LLM cost spike" in summary
    lines = out.result.details["summary"]
    assert lines[0].startswith("[critical] Latency p95 regression: llama3-8b q4 on mmlu")
    assert any("LLM cost spike" in line for line in lines)


def test_the_documented_zscores_query_matches_the_view(store) -> None:
    settings = load_settings(overrides={"analytics.baseline_window_days": 1})
    rows = llm_fixture()
    _insert(store, rows)
    assert analyse(settings, store).status == "ok"
    lo, hi = T0 + timedelta(hours=20), T0 + timedelta(hours=23)
    got = {r["row_key"]: r for r in store.named("analytics_llm_zscores", {"lo": lo, "hi": hi}).dicts()}
    view = {r["row_key"]: r for r in store.query(
        "SELECT row_key, baseline_state, cost_z, latency_z, tokens_z FROM run_analytics "
        "WHERE kind = 'llm' AND ts >= {lo:DateTime64(3)} AND ts < {hi:DateTime64(3)}", {"lo": lo, "hi": hi}).dicts()}
    assert set(got) == set(view) == {r["event_id"] for r in rows if lo <= r["at"] < hi}
    for k, v in view.items():
        assert got[k]["baseline_state"] == v["baseline_state"]
        for m in ("cost_z", "latency_z", "tokens_z"):
            assert got[k][m] == (None if v[m] is None else pytest.approx(v[m], rel=1e-5, abs=1e-6)), (k, m)


def test_a_throughput_drop_is_a_regression_with_a_negative_z(store) -> None:
    """Throughput is worse when it falls: the insight names a drop and its z keeps the
    metric's sign (negative), unlike latency whose worse direction is up."""
    now = datetime.now(UTC)
    values = STABLE + [75]  # tokens/s: 25 below a median of 100 -> z = -25 / SCALE
    rows = [bench(now - timedelta(hours=2 * (len(values) - i)), sha(f"tps-{i}"), p95=100, tps=v, run=f"tps-{i}")
            for i, v in enumerate(values)]
    store.insert("bench_runs", rows)
    assert analyse(load_settings(), store).status == "ok"
    [reg] = _bench_insights(store)
    assert reg.type == "throughput_regression" and reg.severity == "warning"
    assert reg.z_score == pytest.approx(-25 / SCALE, rel=1e-6)
    assert reg.observed_value == 75 and reg.baseline_value == 100


@pytest.mark.parametrize("change, expected", [
    ({"has_next": False, "next_confirms": False, "badness": 9.99}, ("regression", "warning")),
    ({"has_next": False, "next_confirms": False, "badness": 10.0}, ("regression", "critical")),  # twice z
    ({"has_next": True, "next_confirms": True, "badness": 5.1}, ("regression", "critical")),
    ({"has_next": True, "next_confirms": False, "badness": 50.0}, ("outlier", "info")),
])
def test_severity_rule_at_its_edges(change, expected) -> None:
    """critical: confirmed by the next run, or a score of at least twice the threshold."""
    assert analytics.classify_change(change, 5.0) == expected
