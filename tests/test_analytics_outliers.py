"""Which group-hours of extreme calls become outlier insights: the Benjamini-Hochberg selection
at FDR q over every scored (bucket, metric), the false-alarm rate (the floor, or a large run's
own heavy tail), and the outlier_min_rows / outlier_min_share floors, each at its exact edge.

`_significant_groups` is pure (the run's group counts and stats in, the outlier group-hours
out), so these run without a store; tests/test_analytics_stats.py drives it through a real run.
"""

from __future__ import annotations

from typing import Any

import pytest

from muse.agents import analytics
from muse.analysis import stats
from muse.config import load_settings

LATENCY_RATE = analytics.FALSE_ALARM_RATE["latency"]  # 0.005
COST_RATE = analytics.FALSE_ALARM_RATE["cost"]  # 0.01


def params(**overrides: Any) -> analytics.Params:
    return analytics.Params.from_settings(load_settings(overrides={f"analytics.{k}": v for k, v in overrides.items()}))


def group(hour: str, rows: int, extreme: int, metric: str = "latency") -> dict[str, Any]:
    return {"source": "banterpacks", "operation": "chat", "model": "gpt-4o-mini", "hour": hour,
            "metric": metric, "rows": rows, "extreme_rows": extreme}


def outliers(groups: list[dict[str, Any]], *, scored: int = 1000, tested: int = 50, latency_up: int = 0,
             cost_up: int = 0, **settings: Any) -> list[tuple[str, str]]:
    """(hour, metric) of the group-hours that become outlier insights."""
    run = {"scored": scored, "tested_buckets": tested, "latency_up": latency_up, "cost_up": cost_up}
    found = analytics._significant_groups(params(**settings), groups, run)
    return [(g["hour"], g["metric"]) for g in found]


def test_the_defaults_these_edges_are_drawn_at() -> None:
    p = params()
    assert (p.fdr_q, p.outlier_min_rows, p.outlier_min_share) == (0.05, 3, 0.2)
    assert analytics.RATE_MIN_CALLS == 2000


def test_a_run_without_extreme_calls_has_no_outliers() -> None:
    assert analytics._significant_groups(params(), [], {"scored": 5000, "tested_buckets": 80}) == []


def test_the_bh_cutoff_counts_every_scored_bucket_and_metric() -> None:
    """One hour with 3 of 12 calls slow: p = P(X >= 3 | 12, 0.005). Benjamini-Hochberg over
    m = 2 x tested buckets (latency and cost of each) keeps it while m * p <= q, not after."""
    p_value = stats.binom_sf(3, 12, LATENCY_RATE)
    last = int(0.05 / p_value) // 2  # the most buckets a run may test and still call this hour
    assert 2 * last * p_value <= 0.05 < 2 * (last + 1) * p_value and last >= 10
    hour = [group("2026-03-02 10:00:00", 12, 3)]
    assert outliers(hour, tested=last) == [("2026-03-02 10:00:00", "latency")]
    assert outliers(hour, tested=last + 1) == []
    # A stricter q drops it; the same hour among fewer tests is kept.
    assert outliers(hour, tested=last, fdr_q=0.01) == []
    assert outliers(hour, tested=last // 10, fdr_q=0.01) == [("2026-03-02 10:00:00", "latency")]


def test_the_outlier_shows_its_p_value_false_alarm_rate_and_test_count() -> None:
    [found] = analytics._significant_groups(params(), [group("2026-03-02 10:00:00", 30, 6)],
                                             {"scored": 900, "tested_buckets": 40, "latency_up": 60})
    # A run under RATE_MIN_CALLS scored calls tests against the floor rate, not its own tail.
    assert found["false_alarm_rate"] == LATENCY_RATE
    assert found["tests"] == 80
    assert found["p_value"] == pytest.approx(stats.binom_sf(6, 30, LATENCY_RATE))
    assert (found["rows"], found["extreme_rows"], found["hour"]) == (30, 6, "2026-03-02 10:00:00")


def test_outlier_min_rows_is_inclusive() -> None:
    """3 of 10 calls extreme is far beyond chance; it is an outlier at outlier_min_rows = 3, not at 4,
    and 2 of 5 (as significant, and 40% of the hour) is not one at 3."""
    three = [group("2026-03-02 10:00:00", 10, 3)]
    assert outliers(three) == [("2026-03-02 10:00:00", "latency")]
    assert outliers(three, outlier_min_rows=4) == []
    two = [group("2026-03-02 11:00:00", 5, 2)]
    assert stats.binom_sf(2, 5, LATENCY_RATE) * 100 < 0.05  # a discovery by its p-value alone
    assert outliers(two) == []
    assert outliers(two, outlier_min_rows=2) == [("2026-03-02 11:00:00", "latency")]


def test_outlier_min_share_is_inclusive() -> None:
    """4 extreme calls are 20% of an hour of 20 calls (an outlier at min_share 0.2) but not of 21."""
    assert 0.2 * 20 == 4  # exactly at the share
    at_share = [group("2026-03-02 10:00:00", 20, 4)]
    below = [group("2026-03-02 11:00:00", 21, 4)]
    assert stats.binom_sf(4, 21, LATENCY_RATE) * 100 < 0.05  # both are discoveries by their p-value
    assert outliers(at_share) == [("2026-03-02 10:00:00", "latency")]
    assert outliers(below) == []
    assert outliers(below, outlier_min_share=0) == [("2026-03-02 11:00:00", "latency")]
    # A busy hour with many slow calls that are a small share of it is not an outlier either.
    assert outliers([group("2026-03-02 12:00:00", 400, 40)]) == []


def test_a_large_run_tests_against_its_own_heavier_tail() -> None:
    """With at least RATE_MIN_CALLS scored calls, a metric whose calls score z > 3 more often than
    the floor rate is tested at that observed rate: 3 of 10 slow calls are what a 20% tail gives,
    so no outlier (though 3 is at outlier_min_rows and 30% of the hour); below RATE_MIN_CALLS the
    floor rate applies and the same hour is one."""
    hour = [group("2026-03-02 10:00:00", 10, 3)]
    assert outliers(hour, scored=2000, latency_up=400) == []
    assert outliers(hour, scored=1999, latency_up=400) == [("2026-03-02 10:00:00", "latency")]
    assert outliers(hour, scored=2000, latency_up=0) == [("2026-03-02 10:00:00", "latency")]


def test_the_observed_rate_is_the_share_of_scored_calls() -> None:
    """10 000 calls of which 100 scored z > 3: a 1% tail, twice the latency floor. 6 slow calls of
    30 are still an outlier at 1%; 3 of 12 are one at the floor rate but not at 1%."""
    big = {"scored": 10_000, "latency_up": 100}
    [found] = analytics._significant_groups(params(), [group("2026-03-02 10:00:00", 30, 6)],
                                             {**big, "tested_buckets": 50})
    assert found["false_alarm_rate"] == pytest.approx(0.01)
    p_floor, p_tail = stats.binom_sf(3, 12, LATENCY_RATE), stats.binom_sf(3, 12, 0.01)
    tested = int(0.05 / p_tail) // 2 + 1  # enough tests that the 1% p-value fails and the floor one passes
    assert 2 * tested * p_floor <= 0.05 < 2 * tested * p_tail
    borderline = [group("2026-03-02 11:00:00", 12, 3)]
    assert outliers(borderline, scored=10_000, latency_up=100, tested=tested) == []
    assert outliers(borderline, scored=1_000, latency_up=10, tested=tested) == [("2026-03-02 11:00:00", "latency")]


def test_each_metric_has_its_own_false_alarm_rate() -> None:
    """Cost's floor is 1%, latency's 0.5%: the same count can be a latency outlier and not a cost one;
    and a large run's heavy latency tail does not excuse a cost outlier of the same hour."""
    p_lat, p_cost = stats.binom_sf(3, 15, LATENCY_RATE), stats.binom_sf(3, 15, COST_RATE)
    tested = int(0.05 / p_cost) // 2 + 1
    assert 2 * tested * p_lat <= 0.05 < 2 * tested * p_cost
    # (one metric at a time: BH's step-up would let the cost hour pass at rank 2 beside the latency one)
    assert outliers([group("2026-03-02 10:00:00", 15, 3, "latency")], tested=tested) == [
        ("2026-03-02 10:00:00", "latency")]
    assert outliers([group("2026-03-02 10:00:00", 15, 3, "cost")], tested=tested) == []
    both = [group("2026-03-02 10:00:00", 10, 4, "cost"), group("2026-03-02 10:00:00", 10, 4, "latency")]
    assert outliers(both, scored=5000, latency_up=1500, cost_up=0) == [("2026-03-02 10:00:00", "cost")]


def test_an_hour_chance_explains_is_no_outlier_however_many_calls() -> None:
    """Under a 20% tail, 3 of 10 and 250 of 1000 slow calls are both expected: neither is a
    discovery, though each passes outlier_min_rows and outlier_min_share."""
    groups = [group("2026-03-02 10:00:00", 10, 3), group("2026-03-02 11:00:00", 1000, 220)]
    assert outliers(groups, scored=5000, latency_up=1000, tested=2) == []
    # The same counts under the floor rate are outliers: it is the rate that decides.
    assert outliers(groups, scored=1000, latency_up=0, tested=2) == [
        ("2026-03-02 10:00:00", "latency"), ("2026-03-02 11:00:00", "latency")]
