"""`muse ingest packs`: which files a run reads, which events it takes from a file named for an
hour, what a file that cannot be read leaves behind (issue 24: the survivors of a mutation run
over scan, _groups, _bounded, _hours_of and _line_batches). Real files, a real chDB store."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest_world import T0, event, hour_file, ingest, quarantined, write_jsonl
from muse.hours import iso_hour

H = timedelta(hours=1)
D1 = T0 - 10 * H  # 2026-05-04 00:00 UTC
D2 = D1 + 24 * H


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    path = tmp_path / "telemetry"
    path.mkdir()
    return path


def stored_times(store: Any) -> list[str]:
    rows = store.query("SELECT toString(ts) FROM ui_events FINAL ORDER BY ts").rows
    return [r[0][:19] for r in rows]


def at(t: Any) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def test_a_dangling_link_is_reported_as_skipped_not_silently_dropped(settings, store, tdir) -> None:
    """A link inside the folder whose file is gone cannot be read: the run names it and why,
    and reads the rest."""
    write_jsonl(hour_file(tdir, T0), [event(T0 + timedelta(minutes=1))])
    (tdir / "gone.jsonl").symlink_to(tdir / "removed.jsonl")
    out = ingest(settings, store, tdir)
    assert out.exit_code == 0, out.result.message
    assert out.result.details["new_events"] == 1
    assert out.result.details["skipped_files"] == {str(tdir / "gone.jsonl"): "cannot read: No such file or directory"}
    assert f"1 file(s) skipped (first: {tdir / 'gone.jsonl'}: cannot read" in out.result.message


def test_a_backfill_takes_from_each_dated_file_what_the_hourly_runs_take(settings, store, tdir) -> None:
    """A file named for hour H is read by the hourly runs of H-1, H and H+1, so it yields its
    events of [H-1h, H+2h) (a client writes a little before or after the hour) and never a line
    stamped far from its hour. A backfill over two days, which reads each day's files together,
    stores exactly that set: the same events the hourly cron runs would have stored."""
    t10, t11, t23, t00 = D1 + 10 * H, D1 + 11 * H, D1 + 23 * H, D2
    files = {
        t10: [t10 - timedelta(seconds=30), t10 + timedelta(minutes=5), t10 + H + timedelta(minutes=59),
              D1 + 3 * H],  # the last one is stamped seven hours before the file's hour
        t11: [t11 + timedelta(minutes=10), t11 + H + timedelta(minutes=30)],
        t23: [t23 + timedelta(minutes=10), D2 + timedelta(minutes=90), D2 + 3 * H],  # 01:30 and 03:00: too late
        t00: [t00 + timedelta(minutes=10)],
    }
    for hour, times in files.items():
        write_jsonl(hour_file(tdir, hour), [event(t) for t in times])
    expected = sorted(at(t) for hour, times in files.items() for t in times if hour - H <= t < hour + 2 * H)
    assert len(expected) == 7
    out = ingest(settings, store, tdir, since=D1, until=D2 + 6 * H, now=D2 + 7 * H)
    assert out.exit_code == 0, out.result.message
    assert stored_times(store) == expected
    assert out.result.details["new_events"] == 7 and out.result.details["quarantined"] == 0
    # The hourly runs of the hours around the files find nothing the backfill did not store.
    for hour in (t10 - H, t11 + H, t23 + H, t00 + H):
        again = ingest(settings, store, tdir, since=hour, until=hour + H, now=D2 + 7 * H)
        assert again.result.details["new_events"] == 0, (hour, stored_times(store))
    assert stored_times(store) == expected


def test_each_foreign_file_keeps_a_raw_excerpt_of_exactly_its_first_100_bad_lines(settings, store, tdir) -> None:
    """Every bad line is reported with file, line and reason; only the first 100 of each file
    keep a raw excerpt, so a foreign file is never copied whole into the store."""
    first = tdir / "a-dump.jsonl"
    first.write_text("".join(f"not json {i}\n" for i in range(1, 131)))
    second = tdir / "b-dump.jsonl"
    second.write_text("".join(f"garbage {i}\n" for i in range(1, 106)))
    out = ingest(settings, store, tdir)
    assert out.result.details["quarantined"] == 235
    rows = store.query("SELECT file, line, raw FROM ingest_quarantine ORDER BY file, line").dicts()
    for path, n, word in ((first, 130, "not json"), (second, 105, "garbage")):
        mine = [r for r in rows if r["file"] == str(path)]
        assert [r["line"] for r in mine] == list(range(1, n + 1))
        assert [r["line"] for r in mine if r["raw"]] == list(range(1, 101))
        assert all(r["raw"] == f"{word} {r['line']}" for r in mine if r["raw"])


def test_a_broken_file_makes_a_gap_of_its_own_hour_only(settings, store, tdir) -> None:
    """Telemetry has not begun (the store is empty) and the only dated file cannot be read: its
    hour is a gap that names it, the next hour (no file, no events) is no gap, and an undated
    file that cannot be read is reported without blaming any hour."""
    broken = hour_file(tdir, T0).with_suffix(".jsonl.gz")
    broken.parent.mkdir()
    broken.write_bytes(gzip.compress(json.dumps(event(T0)).encode() * 50)[:40])
    undated = tdir / "misc" / "old.jsonl.gz"
    undated.parent.mkdir()
    undated.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6)
    out = ingest(settings, store, tdir, since=T0, until=T0 + 2 * H)
    assert out.result.details["unreadable_files"] == 2
    failed = {i.item: i.status for i in out.result.items}
    assert failed[str(broken)] == "failed" and failed[str(undated)] == "failed"
    gaps = out.result.details["gaps"]
    assert [(g["since"], g["hours"], g["kind"]) for g in gaps] == [(iso_hour(T0), 1, "no_telemetry")]
    assert broken.name in gaps[0]["reason"] and "old.jsonl.gz" not in gaps[0]["reason"]
    assert out.result.details["gap_hours_before_telemetry"] == 1


def test_streaming_names_a_file_that_is_not_gzip_and_logs_it(settings, store, tdir, caplog) -> None:
    """On a server the lines are streamed: a .gz that is no gzip at all is quarantined as a
    file with the decoder's own words (not "after line 1": no line was read), the log says
    so, and the other file loads."""
    fake = tdir / "fake.jsonl.gz"
    fake.write_bytes(b"this is not gzip\n")
    write_jsonl(tdir / "ok.jsonl", [event(T0 + timedelta(minutes=1))])
    with caplog.at_level(logging.WARNING):
        out = ingest(settings, store, tdir, mode="stream")
    assert out.result.details["new_events"] == 1 and out.result.details["unreadable_files"] == 1
    rec = [q for q in quarantined(settings) if q["file"] == str(fake)]
    assert len(rec) == 1 and rec[0]["line"] == 0
    assert "Not a gzipped file" in rec[0]["reason"] and "after line" not in rec[0]["reason"], rec
    assert any(r.levelname == "WARNING" and f"cannot read {fake}: Not a gzipped file" in r.getMessage()
               for r in caplog.records)
