"""`muse ingest packs`: real JSON Lines files, parsed by a real chDB store."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest_world import SHA, SHA2, T0, FaultyStore, event, hour_file, ingest, quarantined, session, write_jsonl
from muse.agents import ingest_packs
from muse.errors import ExitCode
from muse.telemetry import Telemetry

H = timedelta(hours=1)
NOW = T0 + timedelta(days=1)


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    path = tmp_path / "telemetry"
    path.mkdir()
    return path


def raw_counts(store: Any) -> tuple[int, int]:
    return (store.query("SELECT count() FROM ui_events").scalar(),
            store.query("SELECT count() FROM llm_events").scalar())


# Each bad line, and the reason it must be quarantined with.
BAD_LINES: list[tuple[str, str]] = [
    ('{"ts": "2026-05-04T10:00:01Z", "session_id": ', "invalid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    ('"just a string"', "not a JSON object"),
    (json.dumps({k: v for k, v in event(T0).items() if k != "session_id"}), "missing field session_id"),
    (json.dumps({k: v for k, v in event(T0).items() if k != "ts"}), "missing field ts"),
    (json.dumps({k: v for k, v in event(T0).items() if k != "latency_ms"}), "missing field latency_ms"),
    (json.dumps(event(T0, latency="fast")), "field latency_ms: expected a number"),
    (json.dumps(event(T0, latency=True)), "field latency_ms: expected a number"),
    (json.dumps(event(T0, latency={"ms": 5})), "field latency_ms: expected a number"),
    (json.dumps(event(T0, latency=-5)), "field latency_ms: negative"),
    (json.dumps(event(T0, latency=1e9)), "field latency_ms: above 86400000 (24 hours)"),
    (json.dumps(event(T0, ts=1714816800)), "field ts: expected an ISO 8601 string"),
    (json.dumps(event(T0, ts="not a time")), "field ts: not an ISO 8601 time after 2000: not a time"),
    (json.dumps(event(T0, session_id="nope")), "field session_id: expected a UUID string"),
    (json.dumps(event(T0, sha="abc")), "field commit_sha: expected 40 hex characters"),
    (json.dumps(event(T0, event_type="Query Submit")), "field event_type: expected a lower-case name such as query_submit"),
    (json.dumps(event(T0, metadata="oops")), "field metadata: expected an object"),
    (json.dumps(event(T0, metadata="{not json")), "field metadata: expected an object"),
    # A string holding object text is still a string (JSONExtract reads both as the same text).
    (json.dumps(event(T0, metadata='{"route": "/"}')), "field metadata: expected an object"),
    (json.dumps(event(T0, metadata="{}")), "field metadata: expected an object"),
    (json.dumps(event(T0, metadata="{}")).replace('"{}"', '"\\u007b}"'), "field metadata: expected an object"),
    (json.dumps(event(T0, user_agent={"browser": "x"})), "field user_agent: expected a string"),
    (json.dumps(event(T0, schema_version=2)), "field schema_version: unsupported (supported: 1)"),
    (json.dumps({k: v for k, v in event(T0, "llm_call").items() if k != "model"}),
     "llm_call: field model: expected a non-empty string"),
    (json.dumps(event(T0, "llm_call", tokens_in=12.5)), "llm_call: field tokens_in: expected an integer in 0..4294967295"),
    (json.dumps(event(T0, "llm_call", tokens_out=-1)), "llm_call: field tokens_out: expected an integer in 0..4294967295"),
    (json.dumps(event(T0, "llm_call", cost_usd="free")), "llm_call: field cost_usd: expected a number"),
    (json.dumps(event(T0, "llm_call", status="")), "llm_call: field status: expected a non-empty string"),
]


def test_bad_lines_are_quarantined_with_file_line_and_reason_and_good_lines_load(settings, store, tdir) -> None:
    good = [event(T0 + timedelta(minutes=i), "llm_call" if i % 3 == 0 else "query_submit") for i in range(30)]
    lines: list[Any] = []
    expected: dict[int, str] = {}
    for i, g in enumerate(good):
        lines.append(g)
        if i < len(BAD_LINES):
            lines.append(BAD_LINES[i][0])
            expected[len(lines)] = BAD_LINES[i][1]
    lines.insert(10, "")  # blank lines are skipped, but still count for line numbers
    expected = {(n + 1 if n > 10 else n): r for n, r in expected.items()}
    path = write_jsonl(hour_file(tdir, T0), lines)
    with open(path, "ab") as fh:  # invalid UTF-8 as the last line
        fh.write(b'{"ts": "2026-05-04T10:00:00Z", "user_agent": "\xff\xfe"}\n')
    expected[len(lines) + 1] = "invalid UTF-8"
    tel = Telemetry(state_dir=settings.state_dir)
    out = ingest(settings, store, tdir, telemetry=tel)
    assert out.exit_code == ExitCode.OK, out.result.message
    got = {q["line"]: q["reason"] for q in quarantined(settings)}
    assert got == expected
    assert {q["file"] for q in quarantined(settings)} == {str(path)}
    assert all(q["raw"] for q in quarantined(settings))
    # The good lines of the same file are all there, and only they.
    assert store.query("SELECT count() FROM ui_events FINAL").scalar() == 30
    assert store.query("SELECT count() FROM llm_events FINAL").scalar() == 10
    assert out.result.details["quarantined"] == len(expected)
    metrics = {(s.name, tuple(sorted(s.tags.items()))): s.value for s in tel.samples}
    assert metrics[("ingest.quarantined", (("source", "banterpacks"),))] == len(expected)
    assert metrics[("ingest.banterpacks", (("commit_sha", SHA), ("status", "ok")))] == 30
    # A second run reads the same file and quarantines nothing new.
    again = ingest(settings, store, tdir)
    assert again.result.details["quarantined"] == 0 and len(quarantined(settings)) == len(expected)


def test_numbers_in_strings_and_nested_keys_are_not_rejected(settings, store, tdir) -> None:
    lines = [
        event(T0, latency="250"),  # a number in a string reads as the number
        event(T0 + timedelta(seconds=1), latency=12.6),  # fractions round
        event(T0 + timedelta(seconds=2), metadata={"latency_ms": "n/a", "ts": 5, "user_agent": {"x": 1}}),
        event(T0 + timedelta(seconds=3), "llm_call", tokens_in="900"),
        event(T0 + timedelta(seconds=4), user_agent=None, metadata=None),
        event(T0 + timedelta(seconds=5), ts="2026-05-04T12:00:05+02:00"),  # a zone other than UTC
        event(T0 + timedelta(seconds=6), user_agent="[bot] crawler/2.0"),  # looks like an array to a cheap check
        "   " + json.dumps(event(T0 + timedelta(seconds=7))),  # leading blanks: still one JSON object
    ]
    write_jsonl(hour_file(tdir, T0), lines)
    out = ingest(settings, store, tdir)
    assert out.result.details["quarantined"] == 0, quarantined(settings)
    rows = store.query("SELECT toString(ts) AS ts, latency_ms, metadata, user_agent FROM ui_events FINAL "
                       "ORDER BY ts").dicts()
    assert [r["latency_ms"] for r in rows] == [250, 13, 100, 100, 100, 100, 100, 100]
    assert rows[2]["metadata"] == '{"latency_ms":"n/a","ts":5,"user_agent":{"x":1}}'
    assert rows[4]["metadata"] == "{}" and rows[4]["user_agent"] == ""
    assert rows[5]["ts"] == "2026-05-04 10:00:05.000"
    # The last two were flagged by the cheap checks and cleared by the exact one.
    assert rows[6]["user_agent"] == "[bot] crawler/2.0"
    assert store.query("SELECT count() FROM ingest_packs_flagged").scalar() == 0  # scratch cleared


def test_strings_that_start_with_a_brace_are_text_not_metadata(settings, store, tdir) -> None:
    # The cheap check sends every line with a string starting '{' to the exact check, which
    # clears these: only metadata must be an object.
    lines = [
        event(T0, "llm_call", error_msg='{"code": 429}'),
        event(T0 + timedelta(seconds=1), user_agent="{curly} bot", metadata={"{key}": "x"}),
        json.dumps(event(T0 + timedelta(seconds=2), user_agent="{x")).replace('"{x"', '"\\u007bx"'),
    ]
    write_jsonl(hour_file(tdir, T0), lines)
    out = ingest(settings, store, tdir)
    assert out.result.details["quarantined"] == 0, quarantined(settings)
    assert (out.result.details["new_events"], out.result.details["new_llm_events"]) == (3, 1)
    rows = store.query("SELECT user_agent, metadata FROM ui_events FINAL ORDER BY ts").rows
    assert rows[1:] == [("{curly} bot", '{"{key}":"x"}'), ("{x", '{"route":"/"}')]
    assert store.query("SELECT error_msg FROM llm_events FINAL").rows == [('{"code": 429}',)]


def test_rerunning_an_hour_never_duplicates_and_replaces_its_rollup(settings, store, tdir) -> None:
    events = session(T0 + timedelta(minutes=1), queries=2) + session(T0 + timedelta(minutes=2))
    path = write_jsonl(hour_file(tdir, T0), events)
    ingest(settings, store, tdir)
    first = raw_counts(store)
    assert first == (len(events), 3)
    ingest(settings, store, tdir)
    assert raw_counts(store) == first  # not even raw rows before a merge
    # Late events for the same hour arrive; the re-run adds only them and replaces the rollup.
    late = session(T0 + timedelta(minutes=50), error=True)
    write_jsonl(path, events + late)
    out = ingest(settings, store, tdir)
    assert out.result.details["new_events"] == len(late)
    assert raw_counts(store) == (len(events) + len(late), 4)
    store.execute("OPTIMIZE TABLE ui_events FINAL")
    assert store.query("SELECT count() FROM ui_events").scalar() == len(events) + len(late)
    stats = store.query("SELECT total_sessions, total_events, error_rate FROM session_stats FINAL").dicts()
    assert stats == [{"total_sessions": 3, "total_events": len(events) + len(late), "error_rate": pytest.approx(1 / 3)}]
    store.execute("OPTIMIZE TABLE session_stats FINAL")
    assert store.query("SELECT count() FROM session_stats").scalar() == 1  # replaced, never summed


def test_rollup_definitions(settings, store, tdir) -> None:
    lines = []
    # Commit A: 4 sessions; query_submit latencies 100..600; one error session; one abandoned.
    lines += session(T0 + timedelta(minutes=1), queries=2, latencies=[100, 200])
    lines += session(T0 + timedelta(minutes=2), queries=3, latencies=[300, 400, 600], error=True)
    lines += session(T0 + timedelta(minutes=3), queries=1, latencies=[500])
    abandoned = session(T0 + timedelta(minutes=4), queries=0)
    lines += abandoned
    # Commit B: one session without query_submit and without overlay_open.
    lines += [event(T0 + timedelta(minutes=5), "session_end", sha=SHA2, latency=0)]
    write_jsonl(hour_file(tdir, T0), lines)
    ingest(settings, store, tdir)
    rows = {r["commit_sha"]: r for r in store.query("SELECT * FROM session_stats FINAL").dicts()}
    a = rows[SHA]
    assert a["hour"] == T0
    assert a["total_sessions"] == 4
    assert a["total_events"] == len(lines) - 1
    assert a["avg_latency_ms"] == pytest.approx(350)  # (100+200+300+400+600+500)/6
    assert a["p95_latency_ms"] == 600  # nearest rank of 6 values
    assert a["error_rate"] == pytest.approx(0.25)
    assert a["abandonment_rate"] == pytest.approx(0.25)
    b = rows[SHA2]
    assert (b["total_sessions"], b["avg_latency_ms"], b["p95_latency_ms"], b["abandonment_rate"]) == (1, 0, 0, 0)


def test_llm_call_events_go_to_llm_events_tied_to_session_and_commit(settings, store, tdir) -> None:
    e = event(T0 + timedelta(minutes=7), "llm_call", sha=SHA2, latency=812.4, tokens_in=120000, cost_usd=0.03)
    write_jsonl(hour_file(tdir, T0), [e, event(T0, "query_submit")])
    ingest(settings, store, tdir)
    rows = store.query("SELECT toString(run_id) AS run_id, source, commit_sha, model, operation, tokens_in, "
                       "tokens_out, latency_ms, cost_usd, status, event_id FROM llm_events FINAL").dicts()
    assert len(rows) == 1
    row = rows[0]
    assert (row["run_id"], row["source"], row["commit_sha"]) == (e["session_id"], "banterpacks", SHA2)
    assert (row["tokens_in"], row["latency_ms"], row["cost_usd"]) == (120000, 812, pytest.approx(0.03))
    ui_id = store.query("SELECT event_id FROM ui_events FINAL WHERE event_type = 'llm_call'").scalar()
    assert row["event_id"] == ui_id  # one deterministic id for the event in both tables


def test_a_line_repeated_in_the_input_counts_once(settings, store, tdir) -> None:
    # The load does not merge equal keys at insert (optimize_on_insert = 0): what a run reports
    # as new, and every exact read, must still see the event once.
    e = event(T0 + timedelta(minutes=7), "llm_call", sha=SHA2, tokens_in=100, cost_usd=0.5)
    write_jsonl(hour_file(tdir, T0), [e, event(T0, "query_submit"), e])
    out = ingest(settings, store, tdir)
    assert (out.result.details["new_events"], out.result.details["new_llm_events"]) == (2, 1)
    assert store.query("SELECT count() FROM ui_events FINAL").scalar() == 2
    assert store.query("SELECT sum(total_events) FROM session_stats FINAL").scalar() == 2


def test_gap_alerts_for_no_telemetry_and_for_a_drop(settings, store, tdir) -> None:
    # Four days of steady traffic at 10:00 and 11:00, then day 5: 11:00 silent, 10:00 nearly.
    for d in range(4):
        for h in (10, 11):
            hour = T0.replace(hour=h) + timedelta(days=d)
            write_jsonl(hour_file(tdir, hour), [e for i in range(20) for e in session(hour + timedelta(minutes=i))])
    day5 = T0 + timedelta(days=4)
    write_jsonl(hour_file(tdir, day5), session(day5 + timedelta(minutes=3)))
    now = day5 + timedelta(hours=5)
    ingest(settings, store, tdir, T0, T0 + timedelta(days=4), now=now)
    tel = Telemetry(state_dir=settings.state_dir)
    out = ingest(settings, store, tdir, day5, day5 + 2 * H, now=now, telemetry=tel)
    assert out.exit_code == ExitCode.OK
    gaps = store.query("SELECT toString(hour) AS hour_text, kind, events, baseline, toString(run_id) AS run "
                       "FROM ingest_gaps FINAL WHERE hour >= '2026-05-08 10:00:00' ORDER BY hour").dicts()
    assert gaps == [
        {"hour_text": "2026-05-08 10:00:00", "kind": "drop", "events": 4, "baseline": 80.0, "run": out.run_id},
        {"hour_text": "2026-05-08 11:00:00", "kind": "no_telemetry", "events": 0, "baseline": 80.0, "run": out.run_id},
    ]
    columns = store.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                          "AND table = 'ingest_gaps' ORDER BY position").rows
    assert columns == [("hour", "DateTime('UTC')"), ("kind", "LowCardinality(String)"), ("events", "UInt64"),
                       ("baseline", "Float64"), ("detected_at", "DateTime64(3, 'UTC')"), ("run_id", "UUID")]
    [alert] = tel.alerts_sent
    assert alert["severity"] == "warning" and "no telemetry at all" in alert["text"] and "baseline 80" in alert["text"]
    # Re-running the same hours: recorded already, no second alert, the row kept as it was.
    tel2 = Telemetry(state_dir=settings.state_dir)
    ingest(settings, store, tdir, day5, day5 + 2 * H, now=now, telemetry=tel2)
    assert tel2.alerts_sent == []
    assert store.query("SELECT toString(run_id) FROM ingest_gaps FINAL WHERE kind = 'drop'").scalar() == out.run_id
    # Late data fills the silent hour: it is no longer a gap.
    late = day5.replace(hour=11)
    write_jsonl(hour_file(tdir, late), [e for i in range(20) for e in session(late + timedelta(minutes=i))])
    ingest(settings, store, tdir, late, late + H, now=now)
    assert store.query("SELECT kind FROM ingest_gaps FINAL WHERE hour >= '2026-05-08 10:00:00'").rows == [("drop",)]


def test_incomplete_hours_are_not_gaps(settings, store, tdir) -> None:
    write_jsonl(hour_file(tdir, T0 - H), session(T0 - H + timedelta(minutes=5)))  # telemetry began at 09:00
    ingest(settings, store, tdir, T0 - H, T0, now=T0 + timedelta(minutes=90))
    out = ingest(settings, store, tdir, T0, T0 + 3 * H, now=T0 + timedelta(minutes=90))
    assert [(g["since"], g["hours"]) for g in out.result.details["gaps"]] == [("2026-05-04T10:00Z", 1)]


def test_stream_mode_loads_the_same_as_file_mode(settings, store, tdir) -> None:
    """The server path (lines streamed in batches) and file() give the same tables."""
    lines: list[Any] = [e for i in range(40) for e in session(T0 + timedelta(minutes=i))]
    lines.insert(17, BAD_LINES[0][0])
    lines.insert(60, BAD_LINES[6][0])
    write_jsonl(hour_file(tdir, T0), lines)
    settings.values["ingest.stream_batch_lines"] = 100

    def snapshot() -> Any:
        return (store.query("SELECT event_id, toString(ts), session_id, commit_sha, event_type, latency_ms, "
                            "user_agent, metadata FROM ui_events FINAL ORDER BY event_id").rows,
                store.query("SELECT event_id, tokens_in, cost_usd FROM llm_events FINAL ORDER BY event_id").rows,
                store.query("SELECT hour, commit_sha, total_sessions, total_events, avg_latency_ms, p95_latency_ms, "
                            "error_rate, abandonment_rate FROM session_stats FINAL").rows)

    ingest(settings, store, tdir, mode="file")
    by_file = snapshot()
    file_bad = sorted((q["line"], q["reason"]) for q in quarantined(settings))
    for table in ("ui_events", "llm_events", "session_stats", "ingest_quarantine", "ingest_files"):
        store.execute(f"TRUNCATE TABLE {table}")
    for path in (settings.state_dir / "quarantine").glob("*"):
        path.unlink()
    out = ingest(settings, store, tdir, mode="stream")
    assert out.result.details["mode"] == "stream"
    assert snapshot() == by_file
    assert sorted((q["line"], q["reason"]) for q in quarantined(settings)) == file_bad == [
        (18, "invalid JSON"), (61, "field latency_ms: expected a number")]


def test_line_numbers_hold_across_parser_blocks_and_gzip(settings, store, tdir) -> None:
    base = json.dumps(event(T0))
    lines = [base.replace('"latency_ms": 100', f'"latency_ms": {i % 1000}') for i in range(150_000)]
    lines[70_000] = "{broken"
    lines[149_998] = "{broken too"
    with gzip.open(tdir / "bulk.jsonl.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    out = ingest(settings, store, tdir)
    assert sorted(q["line"] for q in quarantined(settings)) == [70_001, 149_999]
    # Identical lines are one event (same deterministic id): 1,000 distinct latencies.
    assert out.result.details["new_events"] == 1000


def test_a_bad_line_amid_insert_blocks_leaves_every_good_line_once(settings, store, tdir) -> None:
    # 200K lines: more than one insert block of the load (128K rows), one bad line in the second.
    base = json.dumps(event(T0 + timedelta(minutes=30)))
    lines = [base.replace('"latency_ms": 100', f'"latency_ms": {i}') for i in range(200_000)]
    good = lines[140_000]
    lines[140_000] = good.replace('"latency_ms": 140000', '"latency_ms": "n/a"')
    path = write_jsonl(hour_file(tdir, T0), lines)
    out = ingest(settings, store, tdir)
    assert [(q["line"], q["reason"]) for q in quarantined(settings)] == [(140_001, "field latency_ms: expected a number")]
    assert (out.result.details["new_events"], out.result.details["exact_checks"]) == (199_999, 1)
    assert raw_counts(store) == (199_999, 0)  # every good line once, even before any merge
    # The line is fixed and the hour re-run: only it is new, and a good file needs no exact check.
    lines[140_000] = good
    write_jsonl(path, lines)
    again = ingest(settings, store, tdir)
    assert (again.result.details["new_events"], again.result.details["exact_checks"]) == (1, 0)
    assert raw_counts(store) == (200_000, 0)
    assert store.query("SELECT uniqExact(latency_ms) FROM ui_events").scalar() == 200_000


def test_a_file_read_alone_and_a_file_with_glob_characters_in_its_name(settings, store, tdir) -> None:
    # A group of one file is read by its exact path (so its lines are parsed in parallel); a
    # name that file() would take for a glob is read through the folder's glob instead.
    plain = write_jsonl(tdir / "plain.jsonl", [event(T0 + timedelta(minutes=1)), "{broken"])
    odd = write_jsonl(tdir / "2026-05-04" / "odd [1] {a,b} *.2026-05-04T10.jsonl",
                      [event(T0 + timedelta(minutes=2)), "{broken"])
    assert [f.span is not None for f in ingest_packs.discover(tdir)] == [False, True]  # two groups of one
    out = ingest(settings, store, tdir)
    assert out.result.details["new_events"] == 2
    assert sorted((q["file"], q["line"]) for q in quarantined(settings)) == [(str(odd), 2), (str(plain), 2)]


def test_files_are_picked_by_the_hour_in_their_name(settings, store, tdir) -> None:
    write_jsonl(hour_file(tdir, T0), [event(T0 + timedelta(minutes=5))])
    write_jsonl(hour_file(tdir, T0 + H), [event(T0 + H - timedelta(seconds=1))])  # written just after the hour
    write_jsonl(hour_file(tdir, T0 + 5 * H), [event(T0 + timedelta(minutes=9))])  # far: not read for 10:00
    write_jsonl(tdir / "misc" / "events.ndjson", [event(T0 + timedelta(minutes=30))])  # no time in the name
    write_jsonl(tdir / "notes.txt", ["not telemetry"])
    out = ingest(settings, store, tdir)
    assert out.result.details["new_events"] == 3
    assert out.result.details["quarantined"] == 0
    spans = {Path(f.path).name: f.span for f in ingest_packs.discover(tdir)}
    assert set(spans) == {"2026-05-04T10.jsonl", "2026-05-04T11.jsonl", "2026-05-04T15.jsonl", "events.ndjson"}
    assert spans["events.ndjson"] is None and spans["2026-05-04T10.jsonl"] == (T0, T0 + H)


def test_crash_between_load_and_rollup_then_retry(settings, store, tdir) -> None:
    write_jsonl(hour_file(tdir, T0), session(T0 + timedelta(minutes=1), queries=3))
    faults = FaultyStore(store).install()
    faults.fail("INSERT INTO session_stats", exc=lambda: RuntimeError("killed"))
    first = ingest(settings, store, tdir)
    assert first.exit_code == ExitCode.FAILED
    assert store.query("SELECT count() FROM session_stats").scalar() == 0
    retry = ingest(settings, store, tdir)
    assert retry.exit_code == ExitCode.OK
    assert raw_counts(store) == (8, 3)
    assert store.query("SELECT total_sessions FROM session_stats FINAL").rows == [(1,)]


def test_cli_usage_errors_and_json(cli, migrated, tdir) -> None:
    assert cli("ingest", "packs", "--hours", "0", "--dir", str(tdir)).exit_code == ExitCode.USAGE
    r = cli("ingest", "packs", "--since", "last tuesday", "--dir", str(tdir))
    assert r.exit_code == ExitCode.USAGE and "--since 'last tuesday' is not an ISO 8601 time" in r.stderr
    assert cli("ingest", "packs", "--hours", "2", "--since", "2026-05-04T10:00Z").exit_code == ExitCode.USAGE
    assert cli("ingest", "packs", "--until", "2026-05-04T10:00Z").exit_code == ExitCode.USAGE
    r = cli("ingest", "packs", "--dir", str(tdir / "missing"))
    assert r.exit_code == ExitCode.USAGE and "does not exist" in r.stderr
    write_jsonl(hour_file(tdir, T0), session(T0 + timedelta(minutes=1)))
    r = cli("ingest", "packs", "--since", "2026-05-04T10:30", "--until", "2026-05-04T10:45Z", "--dir", str(tdir),
            "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["details"]["window"] == {"since": "2026-05-04T10:00Z", "until": "2026-05-04T11:00Z"}
    assert doc["details"]["new_events"] == 4 and doc["items"][0]["item"] == "2026-05-04"


@pytest.mark.parametrize("line,reason", BAD_LINES)
def test_the_documented_schema_rejects_what_the_sql_rejects(line, reason) -> None:
    """config/schemas/ui_event.schema.json documents the rules the SQL applies."""
    from muse import schemas

    try:
        doc = json.loads(line)
    except ValueError:
        return  # not JSON: no schema involved
    assert list(schemas.errors(schemas.UI_EVENT_SCHEMA, doc)), f"schema accepts a line the SQL rejects ({reason})"


def test_the_documented_schema_accepts_good_events() -> None:
    from muse import schemas

    for e in session(T0, queries=2, error=True):
        assert list(schemas.errors(schemas.UI_EVENT_SCHEMA, e)) == []


def test_lag_is_emitted_on_a_run_with_nothing_new_and_latency_is_per_model(settings, store, tdir) -> None:
    """ingest.lag_seconds on every run (silence would leave the lag monitor in No Data when
    ingestion stalls); llm.latency_ms one gauge per model, stamped with its hour."""
    events = [event(T0 + timedelta(minutes=5), "llm_call", model="mistral-7b", latency=900),
              event(T0 + timedelta(minutes=6), "llm_call", model="llama3-8b", latency=200)]
    write_jsonl(hour_file(tdir, T0), events)
    tel = Telemetry(state_dir=settings.state_dir)
    ingest(settings, store, tdir, telemetry=tel)
    latency = {s.tags["model"]: (s.value, s.ts) for s in tel.samples if s.name == "llm.latency_ms"}
    hour_end = (T0 + H).timestamp() - 1
    assert latency == {"mistral-7b": (900.0, hour_end), "llama3-8b": (200.0, hour_end)}
    # An hour later nothing new arrived: the lag is still reported, and it has grown.
    tel2 = Telemetry(state_dir=settings.state_dir)
    ingest(settings, store, tdir, since=T0 + H, now=NOW + H, telemetry=tel2)
    [lag] = [s for s in tel2.samples if s.name == "ingest.lag_seconds"]
    assert lag.tags == {"repo": "banterpacks"}
    assert lag.value == (NOW + H - (T0 + timedelta(minutes=6))).total_seconds()
