"""Issue 17 (and the telemetry files of issue 16 §3): one bad input never blocks the rest,
re-runs write nothing twice, values are stored exactly. Real files, a real chDB store."""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import signal
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from ingest_world import SHA, T0, event, hour_file, ingest, quarantined, session, write_jsonl
from muse.agents import ingest_packs
from muse.telemetry import Telemetry

H = timedelta(hours=1)
NOW = T0 + timedelta(days=1)
MODES = ["file", "stream"]


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    path = tmp_path / "telemetry"
    path.mkdir()
    return path


def raw(store: Any, table: str, where: str = "1") -> int:
    return store.query(f"SELECT count() FROM {table} WHERE {where}").scalar()


def final(store: Any, table: str, where: str = "1") -> int:
    return store.query(f"SELECT count() FROM {table} FINAL WHERE {where}").scalar()


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a FIFO read would block forever)."""
    def boom(*_: Any) -> None:
        raise TimeoutError(f"still running after {seconds}s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- a file that cannot be read ---------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_a_truncated_gz_is_quarantined_as_a_file_and_its_neighbours_load(settings, store, tdir, mode) -> None:
    t5, t6 = T0 - 5 * H + 5 * H, T0 + H  # T10 (broken) and T11 of the same day
    good = [e for s in range(8) for e in session(t6 + timedelta(minutes=5 * s))]
    write_jsonl(hour_file(tdir, t6), good)
    data = gzip.compress(("\n".join(json.dumps(e) for s in range(8)
                                    for e in session(t5 + timedelta(minutes=5 * s))) + "\n").encode())
    broken = hour_file(tdir, t5).with_suffix(".jsonl.gz")
    broken.write_bytes(data[: len(data) // 2])  # truncated mid-stream
    out = ingest(settings, store, tdir, since=t6, until=t6 + H, mode=mode)
    # The neighbour's hour loads, and is no gap.
    assert out.result.details["new_events"] == len(good)
    assert final(store, "ui_events", f"ts >= '{t6:%Y-%m-%d %H:%M:%S}'") == len(good)
    assert out.result.details["gaps"] == []
    # The broken file is quarantined as a file, with its error, once.
    rec = [q for q in quarantined(settings) if q["file"] == str(broken)]
    assert len(rec) == 1 and rec[0]["line"] == 0 and rec[0]["reason"].startswith("file cannot be read: "), rec
    assert out.result.details["unreadable_files"] == 1
    again = ingest(settings, store, tdir, since=t6, until=t6 + H, mode=mode)
    assert len([q for q in quarantined(settings) if q["file"] == str(broken)]) == 1
    assert again.result.details["new_events"] == 0
    # Its own hour is a gap that says why, not a silent hour.
    tel = Telemetry(state_dir=settings.state_dir)
    own = ingest(settings, store, tdir, since=t5, until=t6, mode=mode, telemetry=tel)
    gaps = own.result.details["gaps"]
    assert all(broken.name in g["reason"] and "could not be read" in g["reason"] for g in gaps), gaps
    if mode == "file":  # ClickHouse read nothing of it
        assert [g["kind"] for g in gaps] == ["no_telemetry"]
        assert broken.name in tel.alerts_sent[-1]["text"]
    else:  # streamed: the lines before the damage were loaded, the rest is reported
        assert 0 < own.result.details["new_events"] < 8 * len(session(t5))
        assert "after line" in rec[0]["reason"]
    assert "inflate" in rec[0]["reason"] or "compressed file ended" in rec[0]["reason"].lower()


# -- re-runs write nothing twice ---------------------------------------------------------------

def test_a_rerun_with_nothing_new_writes_no_rollup_row_and_counts_nothing_new(settings, store, tdir) -> None:
    for h in range(3):
        write_jsonl(hour_file(tdir, T0 + h * H), [e for s in range(4) for e in session(T0 + h * H + timedelta(minutes=s))])
    first = ingest(settings, store, tdir, since=T0, until=T0 + 3 * H)
    assert first.result.details["new_events"] > 0
    counts = {t: raw(store, t) for t in ("ui_events", "llm_events", "session_stats", "ingest_quarantine", "ingest_gaps")}
    tel = Telemetry(state_dir=settings.state_dir)
    again = ingest(settings, store, tdir, since=T0, until=T0 + 3 * H, telemetry=tel)
    assert {t: raw(store, t) for t in counts} == counts
    assert (again.result.details["new_events"], again.result.details["new_llm_events"]) == (0, 0)
    assert again.result.rows_written == 0
    assert again.result.details["unchanged_files"] == 3  # not even parsed again
    assert not [s for s in tel.samples if s.name.startswith("llm.")]
    # One new event in one hour: only that hour is rolled up again.
    path = hour_file(tdir, T0 + H)
    with path.open("a") as fh:
        fh.write(json.dumps(event(T0 + H + timedelta(minutes=50), "error")) + "\n")
    third = ingest(settings, store, tdir, since=T0, until=T0 + 3 * H)
    assert third.result.details["new_events"] == 1 and third.result.details["unchanged_files"] == 2
    assert raw(store, "session_stats") == counts["session_stats"] + 1  # one commit in that one hour
    assert raw(store, "ui_events") == counts["ui_events"] + 1


@pytest.mark.parametrize("missing", ["llm_events", "ui_events"])
def test_a_rerun_after_a_partial_write_completes_only_what_is_missing(settings, store, tdir, missing) -> None:
    events = [e for s in range(10) for e in session(T0 + timedelta(minutes=3 * s), queries=2)]
    write_jsonl(hour_file(tdir, T0), events)
    ingest(settings, store, tdir)
    calls = raw(store, "llm_events")
    ui = raw(store, "ui_events")
    # As if the disk filled between the two views: half the llm_call events reached one table only.
    store.execute(f"ALTER TABLE {missing} DELETE WHERE event_id % 2 = 0 AND event_id IN "
                  "(SELECT event_id FROM llm_events) SETTINGS mutations_sync = 1")
    lost = (calls if missing == "llm_events" else ui) - raw(store, missing)
    assert lost > 0
    store.execute("TRUNCATE TABLE ingest_files")  # the file itself did not change; read it again
    tel = Telemetry(state_dir=settings.state_dir)
    out = ingest(settings, store, tdir, telemetry=tel)
    # Restored, and nothing written twice, even before any merge.
    assert (raw(store, "ui_events"), raw(store, "llm_events")) == (ui, calls)
    assert (final(store, "ui_events"), final(store, "llm_events")) == (ui, calls)
    new_llm = out.result.details["new_llm_events"]
    assert new_llm == (lost if missing == "llm_events" else 0)
    assert out.result.details["new_events"] == (lost if missing == "ui_events" else 0)
    tokens = sum(s.value for s in tel.samples if s.name == "llm.tokens_in")
    assert tokens == 900 * new_llm  # metrics count only the really new rows


@pytest.mark.parametrize("mode", MODES)
def test_repeated_identical_lines_are_stored_once_even_in_raw_counts(settings, store, tdir, mode) -> None:
    e = event(T0 + timedelta(minutes=7), "llm_call")
    other = event(T0 + timedelta(minutes=8))
    write_jsonl(hour_file(tdir, T0), [e, other, e, e])
    write_jsonl(tdir / "copy.jsonl", [e, other])  # the same events in another file read with it
    out = ingest(settings, store, tdir, mode=mode)
    assert (raw(store, "ui_events"), raw(store, "llm_events")) == (2, 1)
    assert (out.result.details["new_events"], out.result.details["new_llm_events"]) == (2, 1)


# -- the future and the range of costs ---------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_events_beyond_the_clock_skew_tolerance_are_quarantined_with_that_reason(settings, store, tdir, mode) -> None:
    now = T0 + timedelta(minutes=30)
    far = event(T0.replace(year=2099))
    skewed = event(now + timedelta(hours=2))
    near = event(now + timedelta(minutes=20))  # within the default 1 h tolerance: not quarantined
    write_jsonl(tdir / "clients.jsonl", [event(T0 + timedelta(minutes=1)), far, skewed, near])
    out = ingest(settings, store, tdir, since=T0 - H, until=T0, now=now, mode=mode)
    reasons = {q["line"]: q["reason"] for q in quarantined(settings)}
    assert set(reasons) == {2, 3}, reasons
    assert reasons[2].startswith("field ts: 2099-05-04T10:00:00.000Z is in the future") and "3600 s" in reasons[2]
    assert "in the future" in reasons[3]
    assert out.result.details["quarantined"] == 2
    ingest(settings, store, tdir, since=T0 - H, until=T0, now=now, mode=mode)
    assert len(quarantined(settings)) == 2  # once


@pytest.mark.parametrize("mode", MODES)
def test_costs_are_stored_exactly_and_a_million_is_rejected_not_clipped(settings, store, tdir, mode) -> None:
    rng = random.Random(17)
    texts = ["0.000251", "999999.5", "999999.999999", "0.1", "2.51e-4", "12.000007"] + \
        [f"{rng.randint(1, 999_999) / 1_000_000:.6f}" for _ in range(300)]
    lines = []
    for i, text in enumerate(texts):
        doc = json.dumps(event(T0 + timedelta(seconds=i), "llm_call", cost_usd=0))
        lines.append(doc.replace('"cost_usd": 0', f'"cost_usd": {text}'))
    for i, text in enumerate(["1000000", "1000000.0", "999999.9999996", "1e6", "12345678"]):
        doc = json.dumps(event(T0 + timedelta(minutes=30, seconds=i), "llm_call", cost_usd=0))
        lines.append(doc.replace('"cost_usd": 0', f'"cost_usd": {text}'))
    write_jsonl(hour_file(tdir, T0), lines)
    ingest(settings, store, tdir, mode=mode)
    stored = [Decimal(str(r[0])) for r in store.query(
        "SELECT toString(cost_usd) FROM llm_events FINAL ORDER BY ts").rows]
    assert stored == [Decimal(t) for t in texts]  # to the last digit
    total = store.query("SELECT toString(sum(cost_usd)) FROM llm_events").scalar()
    assert Decimal(total) == sum(Decimal(t) for t in texts)
    bad = [q for q in quarantined(settings)]
    assert len(bad) == 5 and all("cost_usd: out of range" in q["reason"] for q in bad), bad


# -- the hourly p95 ----------------------------------------------------------------------------

def nearest_rank_p95(values: list[int]) -> int:
    """The README's definition, computed independently: the value at rank ceil(0.95 n)."""
    ordered = sorted(values)
    rank = math.ceil(len(ordered) * 95 / 100)  # exact: integers only
    return ordered[rank - 1]


def test_hourly_p95_is_the_nearest_rank_percentile(settings, store, tdir) -> None:
    rng = random.Random(95)
    sizes = [20, 40, 1, 2, 19, 21, 59, 60, 100, 137]
    expected = {}
    lines = []
    for h, n in enumerate(sizes):
        hour = T0 + h * H
        lat = [rng.randint(50, 5000) for _ in range(n)]
        expected[hour.strftime("%Y-%m-%d %H:%M:%S")] = nearest_rank_p95(lat)
        lines += [event(hour + timedelta(seconds=i), "query_submit", latency=v) for i, v in enumerate(lat)]
    write_jsonl(tdir / "p95.jsonl", lines)
    ingest(settings, store, tdir, since=T0, until=T0 + len(sizes) * H)
    got = {r[0]: int(r[1]) for r in store.query(
        "SELECT toString(hour), p95_latency_ms FROM session_stats FINAL ORDER BY hour").rows}
    assert got == expected
    # n = 20, latencies 10..200: rank 19 is 190 (quantileExact(0.95) said 200).
    assert nearest_rank_p95(list(range(10, 201, 10))) == 190


# -- files that are not ours, not regular, or oddly named ---------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_a_symlink_out_of_the_folder_is_not_followed(settings, store, tdir, tmp_path, mode) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n" * 50)
    (tdir / "x.jsonl").symlink_to(secret)
    write_jsonl(hour_file(tdir, T0), [event(T0 + timedelta(minutes=1))])
    inside = tdir / "alias.jsonl"
    inside.symlink_to(hour_file(tdir, T0))  # a link within the folder is read (same events, once)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_jsonl(outside / "other.jsonl", [event(T0 + timedelta(minutes=2))])
    (tdir / "linked-dir").symlink_to(outside)  # a linked folder is not followed
    (tdir / "loop").symlink_to(tdir)  # nor a loop
    with deadline(120):
        out = ingest(settings, store, tdir, mode=mode)
    assert out.result.details["new_events"] == 1 and raw(store, "ui_events") == 1
    assert out.result.details["skipped_files"] == {str(tdir / "x.jsonl"): "is a symlink that leaves the telemetry folder"}
    assert store.query("SELECT count() FROM ingest_quarantine WHERE raw LIKE '%root:%'").scalar() == 0
    assert quarantined(settings) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_fifo_is_skipped_with_one_warning_and_never_blocks(settings, store, tdir, mode, caplog) -> None:
    os.mkfifo(tdir / "pipe.jsonl")
    os.mkfifo(tdir / "pipe.jsonl.gz")
    write_jsonl(tdir / "ok.jsonl", [event(T0 + timedelta(minutes=1))])
    with deadline(60):
        out = ingest(settings, store, tdir, mode=mode)
    assert out.exit_code == 0 and out.result.details["new_events"] == 1
    assert set(out.result.details["skipped_files"]) == {str(tdir / "pipe.jsonl"), str(tdir / "pipe.jsonl.gz")}
    warnings = [r.getMessage() for r in caplog.records if "pipe.jsonl" in r.getMessage()]
    assert len([w for w in warnings if w.endswith("pipe.jsonl: is not a regular file (FIFO, socket or device)")]) == 1


@pytest.mark.parametrize("mode", MODES)
def test_file_names_with_quotes_load(settings, store, tdir, mode) -> None:
    names = ["q'uote.jsonl", 'a"b.jsonl', "back\\slash.jsonl", "plain.jsonl"]
    for i, name in enumerate(names):
        write_jsonl(tdir / name, [event(T0 + timedelta(minutes=i)), event(T0 + timedelta(minutes=i, seconds=1))])
    out = ingest(settings, store, tdir, mode=mode)
    assert out.exit_code == 0, out.result.message
    assert out.result.details["new_events"] == 2 * len(names)
    per_name = {r[0] for r in store.query("SELECT DISTINCT toString(ts) FROM ui_events").rows}
    assert len(per_name) == 2 * len(names)


def test_a_foreign_file_keeps_only_a_bounded_excerpt_in_the_quarantine(settings, store, tdir) -> None:
    (tdir / "dump.jsonl").write_text(("x" * 20000 + "\n") * 150)
    ingest(settings, store, tdir)
    assert final(store, "ingest_quarantine") == 150  # every bad line is reported...
    kept = store.query("SELECT sum(length(raw)), max(length(raw)) FROM ingest_quarantine").rows[0]
    assert kept[1] <= 8192 and kept[0] <= ingest_packs.RAW_LINES_PER_FILE * 8192  # ...but not copied whole
