"""Each component of the council's confidence, on its own: dropping or mis-computing one
must change what the episode says (draft or ready, the data-quality numbers).

Complements test_council.py, whose fixtures have fresh data, completeness under its caps
and both sources present."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from muse.analysis import factrules
from test_council import NOW, RISING, World, compose, section, world  # noqa: F401


def test_stale_data_lowers_freshness_by_the_documented_slope(world: World, store: Any) -> None:
    """Data ending three days before the window's end: the staler source (benchmarks,
    newest 69 h 55 min old) sets freshness = 1 - 0.5 * (age - 24 h) / 144 h."""
    world.fill(store, hearts_p95=RISING, user_latency=RISING, days=[0, 1, 2, 3, 4])
    comp = compose(world, store, days=1)
    age_h = 72 - (2 + 5 / 60)  # day 4 at 02:05 -> NOW is 69 h 55 min
    assert comp.confidence.components["freshness"] == pytest.approx(1 - 0.5 * (age_h - 24) / 144)
    assert comp.confidence.recency == comp.confidence.components["freshness"]
    assert comp.status == "draft"
    quality = section(comp.markdown, "Data quality")
    assert "Freshness 0.84" in quality and "newest data is 69.9 h old" in quality


def test_over_cap_completeness_counts_as_complete_not_more(world: World, store: Any) -> None:
    """More results than expected (8 a day, 4 expected) is complete (1.0), never above, and
    an extra-rich day cannot make up for a thin one."""
    world.fill(store, hearts_p95=RISING, user_latency=RISING)
    comp = compose(world, store, **{"council.expected_bench_results_per_day": 4})
    assert comp.confidence.components["bench_completeness"] == 1.0
    assert comp.confidence.completeness == 1.0 and comp.status == "ready"
    days = [d.date().isoformat() for d in world.days[:2]]
    rows = [{"day": days[0], "n": 16}, {"day": days[1], "n": 4}]
    assert factrules.day_completeness(rows, present="n", expected={d: 8.0 for d in days}) == 0.5
    assert factrules.day_completeness(rows[:1], present="n", expected={days[0]: 8.0}) == 1.0
    # A day nothing was expected of is complete; a day without a row counts as zero.
    assert factrules.day_completeness([], present="n", expected={days[0]: 0.0}) == 1.0
    assert factrules.day_completeness(rows[:1], present="n", expected={d: 8.0 for d in days}) == 0.0
    assert factrules.day_completeness([], present="n", expected={days[0]: 1.0}) == 0.0  # one a day, none came
    assert factrules.day_completeness([{"day": days[0], "n": None}], present="n", expected={days[0]: 1.0}) == 0.0
    assert factrules.day_completeness([], present="n", expected={}) == 1.0  # nothing expected in the window


def test_one_source_missing_makes_a_draft_with_zero_freshness(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=RISING)
    store.execute("TRUNCATE TABLE session_stats")
    comp = compose(world, store)
    c = comp.confidence
    assert c.components["telemetry_completeness"] == 0.0 and c.components["freshness"] == 0.0
    assert c.components["bench_completeness"] == 1.0
    assert c.final == 0.0 and c.completeness == 0.0 and comp.status == "draft"


@pytest.mark.parametrize("component", ["bench_completeness", "telemetry_completeness", "freshness", "watcher"])
def test_every_component_alone_can_make_a_draft(component: str) -> None:
    """The final confidence is the weakest component: any one of them low is a draft, and
    the episode's completeness column is the weaker of the two completeness parts."""
    from muse.agents.council import Confidence

    parts = {"bench_completeness": 0.95, "telemetry_completeness": 0.9, "freshness": 0.85, "watcher": 1.0}
    ok = Confidence(dict(parts), 0.8)
    assert not ok.is_draft and ok.final == 0.85 and ok.completeness == 0.9 and ok.recency == 0.85
    low = Confidence({**parts, component: 0.3}, 0.8)
    assert low.is_draft and low.final == 0.3
    # At the threshold exactly the episode is ready.
    assert not Confidence({**parts, component: 0.8}, 0.8).is_draft
    if component.endswith("completeness"):
        assert low.completeness == 0.3


@pytest.mark.parametrize("age_h, score", [(None, 0.0), (0.0, 1.0), (24.0, 1.0), (24.5, 1 - 0.25 / 144), (24.0 + 72, 0.75),
                                          (24.0 + 144, 0.5), (24.0 * 30, 0.5)])
def test_recency_score_documented_points(age_h: float | None, score: float) -> None:
    assert factrules.recency_score(age_h) == pytest.approx(score)


def test_freshness_takes_the_staler_source_and_a_missing_one_is_zero() -> None:
    until = "2026-11-20 00:00:00"
    row = {"hearts_newest": "2026-11-19 12:00:00.000", "packs_newest": "2026-11-16 00:00:00"}
    assert factrules.freshness([row], until=until, part="age_hours") == pytest.approx(96.0)
    assert factrules.freshness([row], until=until) == pytest.approx(0.75)
    missing = {**row, "packs_newest": "1970-01-01 00:00:00"}  # ClickHouse max() of no rows
    assert factrules.freshness([missing], until=until) == 0.0
    assert factrules.freshness([missing], until=until, part="age_hours") is None
    assert factrules.freshness([], until=until) == 0.0


def test_watcher_covers_only_a_valid_run_for_these_commits_recent_enough() -> None:
    row = {"status": "valid", "hearts_commit": "a" * 40, "packs_commit": "b" * 40, "ts": "2026-11-19 23:00:00.000"}
    args = {"hearts_commit": "a" * 40, "packs_commit": "b" * 40, "until": "2026-11-20 00:00:00",
            "max_age_seconds": 3600.0}
    assert factrules.watcher_covers([row], **args) == 1.0
    assert factrules.watcher_covers([{**row, "status": "valid_pending"}], **args) == 0.0
    assert factrules.watcher_covers([{**row, "hearts_commit": "c" * 40}], **args) == 0.0
    assert factrules.watcher_covers([{**row, "packs_commit": "c" * 40}], **args) == 0.0
    assert factrules.watcher_covers([{**row, "ts": "2026-11-19 22:59:00.000"}], **args) == 0.0
    assert factrules.watcher_covers([], **args) == 0.0
    assert factrules.watcher_covers([{**row, "ts": "1970-01-01 00:00:00"}], **args) == 0.0


def test_a_fact_whose_value_changed_under_its_rounding_does_not_reproduce(settings) -> None:
    """The episode printed 0.60 for a recorded 0.6000001; a rerun giving 0.6 prints the same
    text, yet the number moved: the check must say it does not reproduce."""
    fact = {"id": "E1", "kind": "config", "params": {"key": "council.confidence_threshold"},
            "format": "{:.2f}", "value": 0.6000001, "display": "0.60"}
    now, display, same = factrules.check(fact, store=None, settings=settings, facts={})
    assert (now, display) == (0.6, "0.60") and same is False
    assert factrules.check({**fact, "value": 0.6}, store=None, settings=settings, facts={})[2] is True
