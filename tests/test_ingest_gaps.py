"""Issue 17, runs and config: a window that is too large is a usage error, a backfill before
telemetry began opens no gap, and consecutive silent hours are one gap (one alert, one
insight). Real files, a real chDB store, the real analytics worker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ingest_world import T0, hour_file, ingest, session, write_jsonl
from muse.analysis import insights
from muse.agents import analytics
from muse.errors import ExitCode
from muse.hours import require_ts, ts_str
from muse.runs import run_agent
from muse.telemetry import Telemetry

H = timedelta(hours=1)


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    path = tmp_path / "telemetry"
    path.mkdir()
    return path


def gap_rows(store: Any, since: str, until: str) -> list[tuple[str, str]]:
    return store.query("SELECT toString(hour), kind FROM ingest_gaps FINAL WHERE hour >= {s:DateTime('UTC')} "
                       "AND hour < {u:DateTime('UTC')} ORDER BY hour", {"s": since, "u": until}).rows


def gap_insights(store: Any) -> list[insights.Insight]:
    return [i for i in insights.list_insights(store) if i.type == "ingestion_gap"]


def analyse(settings: Any, store: Any) -> Any:
    out = run_agent(settings, "analytics", analytics.run, store=store, telemetry=Telemetry(state_dir=None))
    assert out.exit_code == ExitCode.OK, out.result.message
    return out


def test_a_huge_or_early_window_is_one_usage_line_before_the_store_is_touched(cli, migrated, tdir) -> None:
    cases = [
        (("--hours", "1000000"), "--hours 1000000 is too large: at most 70272 (8 years)"),
        (("--since", "1960-01-01", "--until", "1961-01-01"), "is before 1970-01-01T00:00Z"),
        (("--since", "2000-01-01", "--until", "2020-01-01"), "spans 175320 hours: at most 70272 (8 years)"),
    ]
    for args, message in cases:
        r = cli("ingest", "packs", *args, "--dir", str(tdir))
        assert r.exit_code == ExitCode.USAGE, (args, r)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, r.stderr)
    assert cli("query", "SELECT count() FROM agent_runs", "--format", "csv").stdout.strip().endswith("0")
    # The largest window allowed runs (and records nothing before telemetry began).
    r = cli("ingest", "packs", "--hours", "70272", "--dir", str(tdir), "--json")
    assert r.exit_code == ExitCode.OK, r


def test_a_backfill_before_telemetry_began_opens_no_gap_and_clears_old_ones(settings, store, tdir) -> None:
    write_jsonl(hour_file(tdir, T0), [e for m in range(3) for e in session(T0 + timedelta(minutes=m))])
    ingest(settings, store, tdir, T0, T0 + H)
    # Gap rows an earlier version recorded for 1999 (one per hour); the backfill removes them.
    store.insert("ingest_gaps", [{"hour": f"1999-03-0{d} {h:02d}:00:00", "kind": "no_telemetry", "events": 0,
                                  "baseline": 0.0, "detected_at": "2026-05-04 12:00:00.000",
                                  "run_id": "00000000-0000-4000-8000-000000000001"}
                                 for d in (1, 2) for h in range(24)])
    tel = Telemetry(state_dir=settings.state_dir)
    since, until = datetime(1999, 1, 1, tzinfo=timezone.utc), datetime(2000, 1, 1, tzinfo=timezone.utc)
    out = ingest(settings, store, tdir, since, until, telemetry=tel)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert out.result.details["gaps"] == [] and out.result.details["gap_hours_before_telemetry"] == 8760
    assert "8760 hour(s) before telemetry began (2026-05-04T10:00Z) are not gaps" in out.result.message
    assert out.result.rows_written == 0 and tel.alerts_sent == []
    assert not [s for s in tel.samples if s.name == "ingest.gaps"]
    assert gap_rows(store, "1999-01-01 00:00:00", "2000-01-01 00:00:00") == []
    analyse(settings, store)
    assert gap_insights(store) == []


def test_consecutive_silent_hours_are_one_gap_alerted_once_and_one_insight(settings, store, tdir) -> None:
    # Telemetry at 08:00 and 09:00, then silence from 10:00 on.
    for h in (T0 - 2 * H, T0 - H):
        write_jsonl(hour_file(tdir, h), [e for m in range(4) for e in session(h + timedelta(minutes=m))])
    tel = Telemetry(state_dir=settings.state_dir)
    first = ingest(settings, store, tdir, T0 - 2 * H, T0 + 5 * H, now=T0 + 5 * H + timedelta(minutes=5),
                   telemetry=tel)
    assert first.result.details["gaps"] == [
        {"since": "2026-05-04T10:00Z", "until": "2026-05-04T15:00Z", "hours": 5, "kind": "no_telemetry",
         "events": 0, "baseline": 0.0, "new": True, "new_hours": 5}]
    assert "1 gap(s) over 5 hour(s), 1 new" in first.result.message
    [alert] = tel.alerts_sent
    assert alert["text"] == "2026-05-04T10:00Z .. 2026-05-04T15:00Z (5 hours): no telemetry at all"
    assert [s.value for s in tel.samples if s.name == "ingest.gaps"] == [5]  # the metric counts hours
    assert len(gap_rows(store, "2026-05-04 00:00:00", "2026-05-05 00:00:00")) == 5  # one row per hour, as before
    analyse(settings, store)
    [gap] = gap_insights(store)
    assert gap.title == "No telemetry for 5 hours, 2026-05-04 10:00 to 15:00 UTC"
    assert gap.metrics["hours"] == 5 and gap.evidence["parameters"]["last_hour"] == "2026-05-04 14:00:00"
    # The next hourly run finds 15:00 silent too: the same gap goes on, recorded, not alerted.
    tel2 = Telemetry(state_dir=settings.state_dir)
    later = ingest(settings, store, tdir, T0 + 5 * H, T0 + 6 * H, now=T0 + 6 * H + timedelta(minutes=5),
                   telemetry=tel2)
    assert [(g["since"], g["hours"], g["new"], g["new_hours"]) for g in later.result.details["gaps"]] == [
        ("2026-05-04T15:00Z", 1, False, 1)]
    assert tel2.alerts_sent == [] and later.result.rows_written == 1
    analyse(settings, store)
    [gap2] = gap_insights(store)
    assert gap2.insight_id == gap.insight_id and gap2.status == "open"
    assert gap2.title == "No telemetry for 6 hours, 2026-05-04 10:00 to 16:00 UTC"
    # Late data fills 12:00: two gaps now, the first keeps its insight, the second is new.
    write_jsonl(hour_file(tdir, T0 + 2 * H), session(T0 + 2 * H + timedelta(minutes=1)))
    ingest(settings, store, tdir, T0 + 2 * H, T0 + 3 * H, now=T0 + 6 * H + timedelta(minutes=10))
    analyse(settings, store)
    open_gaps = sorted((ts_str(i.observed_at), i.metrics["hours"]) for i in gap_insights(store) if i.status == "open")
    assert open_gaps == [("2026-05-04 10:00:00.000", 2), ("2026-05-04 13:00:00.000", 3)]


def test_hour_insights_of_an_older_store_are_folded_into_the_gap(settings, store) -> None:
    """A store whose analytics opened one insight per silent hour: the next run keeps the
    first hour's insight for the whole gap and resolves the others into it."""
    rows = [{"hour": f"2026-03-02 0{h}:00:00", "kind": "no_telemetry", "events": 0, "baseline": 50.0,
             "detected_at": "2026-03-02 09:00:00.000", "run_id": "00000000-0000-4000-8000-00000000000a"}
            for h in range(4, 7)]
    store.insert("ingest_gaps", rows[:1])
    analyse(settings, store)
    [first] = gap_insights(store)
    # What the older worker did for the next two hours: an insight each.
    old = [insights.Insight(insight_id=insights.insight_id("ingestion_gap", r["hour"], r["kind"]),
                            type="ingestion_gap", severity="warning", title=f"No telemetry in the hour {r['hour']}",
                            description="", observed_at=require_ts(r["hour"]), source="banterpacks") for r in rows[1:]]
    insights.upsert(store, old, run_id="00000000-0000-4000-8000-00000000000b")
    store.insert("ingest_gaps", rows[1:])
    out = analyse(settings, store)
    assert out.result.items[-1].message == "3 gap hour(s) recorded as 1 gap(s), 0 new insight(s), 2 resolved"
    live = [i for i in gap_insights(store) if i.status == "open"]
    assert [(i.insight_id, i.metrics["hours"]) for i in live] == [(first.insight_id, 3)]
    resolved = [i for i in gap_insights(store) if i.status == "resolved"]
    assert len(resolved) == 2 and all(f"part of the longer gap {first.insight_id}" in i.description for i in resolved)


def test_an_insert_over_too_many_partitions_fails_at_once_not_as_store_unavailable(store) -> None:
    """ClickHouse code 252 is both "too many parts" (retry helps) and "too many partitions for
    single INSERT block" (it never does): the latter is a failure, not an unavailable store."""
    from muse.errors import StoreError, StoreUnavailableError

    rows = [{"hour": f"{2000 + m // 12}-{m % 12 + 1:02d}-01 00:00:00", "kind": "no_telemetry", "events": 0,
             "baseline": 0.0, "detected_at": "2026-05-04 12:00:00.000",
             "run_id": "00000000-0000-4000-8000-000000000001"} for m in range(101)]
    before = store.stats.retries
    with pytest.raises(StoreError) as err:
        store.insert("ingest_gaps", rows)
    assert not isinstance(err.value, StoreUnavailableError) and "Too many partitions" in err.value.message
    assert store.stats.retries == before
