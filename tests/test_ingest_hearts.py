"""`muse ingest hearts`: real report files, a real chDB store, faults injected below the retries."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from ingest_world import SHA, SHA2, FaultyStore, llm_call, report, result, write_report
from muse.agents import ingest_hearts
from muse.errors import ExitCode, UsageError
from muse.runs import run_agent
from muse.telemetry import Telemetry


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "banterhearts"
    (path / "reports" / "benchmarks").mkdir(parents=True)
    return path


def ingest(settings: Any, store: Any, repo: Path, **opts: Any) -> Any:
    return run_agent(settings, ingest_hearts.AGENT, ingest_hearts.run, store=store, repo=str(repo),
                     telemetry=Telemetry(state_dir=settings.state_dir), **opts)


def counts(store: Any, run_id: str) -> dict[str, int]:
    q = "SELECT count() FROM {t} WHERE run_id = {{r:UUID}}"
    return {
        "bench": store.query(q.format(t="bench_runs"), {"r": run_id}).scalar(),
        "bench_final": store.query(q.format(t="bench_runs FINAL"), {"r": run_id}).scalar(),
        "llm": store.query(q.format(t="llm_events"), {"r": run_id}).scalar(),
        "llm_final": store.query(q.format(t="llm_events FINAL"), {"r": run_id}).scalar(),
    }


def optimize(store: Any) -> None:
    for table in ("bench_runs", "llm_events", "ingest_reports"):
        store.execute(f"OPTIMIZE TABLE {table} FINAL")


def test_report_lands_in_bench_runs_and_llm_events(settings, store, repo) -> None:
    doc = report(calls=3)
    doc["llm_calls"][1].update(status="error", error_msg="timeout after 30s", latency_ms=30000.4)
    write_report(repo, doc)
    out = ingest(settings, store, repo, run_id=doc["run_id"])
    assert out.exit_code == ExitCode.OK, out.result.message
    rows = store.query("SELECT model, dataset, latency_p50_ms, latency_p95_ms, latency_p99_ms, commit_sha, "
                       "toString(ts) AS ts, cost_per_1k FROM bench_runs FINAL ORDER BY model, dataset").dicts()
    assert [(r["model"], r["dataset"], r["latency_p95_ms"]) for r in rows] == [
        ("llama3-8b", "chat-short", 290), ("llama3-8b", "rag-long", 290),
        ("mistral-7b", "chat-short", 290), ("mistral-7b", "rag-long", 290)]
    assert rows[0]["commit_sha"] == SHA and rows[0]["ts"] == "2026-05-04 10:05:00.000"
    assert rows[0]["cost_per_1k"] == pytest.approx(0.0004)
    llm = store.query("SELECT event_id, source, commit_sha, tokens_in, status, error_msg, latency_ms "
                      "FROM llm_events FINAL ORDER BY tokens_in").dicts()
    assert [r["tokens_in"] for r in llm] == [100, 200, 300]
    assert {r["source"] for r in llm} == {"banterhearts"} and {r["commit_sha"] for r in llm} == {SHA}
    assert llm[1]["status"] == "error" and llm[1]["error_msg"] == "timeout after 30s" and llm[1]["latency_ms"] == 30000
    # event_id is derived from (report run_id, call index): the same on every re-ingest.
    assert [r["event_id"] for r in llm] == [ingest_hearts.event_id(doc["run_id"], i) for i in range(3)]
    ledger = store.query("SELECT status, results, llm_calls, path FROM ingest_reports FINAL").dicts()
    assert ledger == [{"status": "ok", "results": 4, "llm_calls": 3,
                       "path": f"reports/benchmarks/{doc['run_id']}.json"}]


def test_same_report_twice_leaves_one_copy_even_in_raw_counts(settings, store, repo) -> None:
    doc = report()
    write_report(repo, doc)
    for _ in range(2):
        assert ingest(settings, store, repo, run_id=doc["run_id"]).exit_code == ExitCode.OK
    # The insert deduplication token drops the second write: one copy before any merge...
    assert counts(store, doc["run_id"]) == {"bench": 4, "bench_final": 4, "llm": 3, "llm_final": 3}
    optimize(store)
    # ...and after OPTIMIZE FINAL.
    assert counts(store, doc["run_id"]) == {"bench": 4, "bench_final": 4, "llm": 3, "llm_final": 3}


def test_crash_half_way_then_retry_leaves_one_copy(settings, store, repo) -> None:
    """bench_runs written, then the process dies before llm_events and the ledger."""
    docs = [report() for _ in range(3)]
    for d in docs:
        write_report(repo, d)
    faults = FaultyStore(store).install()
    # Every llm_events insert of this run fails (a store failing, not a bad report: the halves
    # of the split batch fail too), so the run ends with nothing ledgered.
    faults.fail("INSERT INTO llm_events", times=100, exc=lambda: RuntimeError("killed"))
    out = ingest(settings, store, repo, pending=True)
    faults._faults.clear()
    assert out.exit_code == ExitCode.FAILED
    assert store.query("SELECT count() FROM bench_runs").scalar() == 12  # the half that got written
    assert store.query("SELECT count() FROM llm_events").scalar() == 0
    assert store.query("SELECT count() FROM ingest_reports").scalar() == 0  # so the retry sees them pending
    retry = ingest(settings, store, repo, pending=True)
    assert retry.exit_code == ExitCode.OK and retry.result.message.startswith("3 report(s) ingested")
    for d in docs:
        assert counts(store, d["run_id"]) == {"bench": 4, "bench_final": 4, "llm": 3, "llm_final": 3}
    optimize(store)
    for d in docs:
        assert counts(store, d["run_id"]) == {"bench": 4, "bench_final": 4, "llm": 3, "llm_final": 3}
    assert ingest(settings, store, repo, pending=True).result.message == "0 report(s) ingested, 3 already ingested"


def test_write_failing_three_times_alerts_and_exits_store_unavailable(settings, store, repo) -> None:
    doc = report()
    write_report(repo, doc)
    faults = FaultyStore(store).install()
    faults.fail("INSERT INTO bench_runs", times=3, exc=lambda: ConnectionError("connection reset"))
    tel = Telemetry(state_dir=settings.state_dir)
    out = run_agent(settings, ingest_hearts.AGENT, ingest_hearts.run, store=store, repo=str(repo),
                    telemetry=tel, run_id=doc["run_id"])
    assert out.exit_code == ExitCode.STORE_UNAVAILABLE
    assert "after 3 attempts" in out.result.message
    assert faults.calls.count("INSERT INTO bench_runs") == 3
    assert [a["severity"] for a in tel.alerts_sent] == ["critical"]
    assert any(s.name == "ingest.banterhearts" and s.tags["status"] == "failed" for s in tel.samples)
    # Two transient failures are retried and the third attempt succeeds.
    faults.fail("INSERT INTO bench_runs", times=2, exc=lambda: ConnectionError("connection reset"))
    assert ingest(settings, store, repo, run_id=doc["run_id"]).exit_code == ExitCode.OK
    assert counts(store, doc["run_id"])["bench_final"] == 4


@pytest.mark.parametrize("bad", ["../../etc/passwd", "../reports/x", "/etc/passwd", "123", "",
                                 "123e4567-e89b-42d3-a456-426614174000/../../x"])
def test_run_id_is_a_uuid_before_it_touches_the_file_system(cli, migrated, repo, bad) -> None:
    r = cli("ingest", "hearts", "--run-id", bad, "--repo", str(repo))
    assert r.exit_code == ExitCode.USAGE
    assert "--run-id must be a UUID" in r.stderr or "exactly one of" in r.stderr
    with pytest.raises(UsageError):
        ingest_hearts.parse_run_id(bad)


def test_run_id_in_other_spellings_finds_the_canonical_file(settings, store, repo) -> None:
    doc = report()
    write_report(repo, doc)
    out = ingest(settings, store, repo, run_id=doc["run_id"].upper())
    assert out.exit_code == ExitCode.OK and counts(store, doc["run_id"])["bench_final"] == 4
    missing = ingest(settings, store, repo, run_id=str(uuid.uuid4()))
    assert missing.exit_code == ExitCode.FAILED and "not found" in missing.result.message


def test_symlink_out_of_the_reports_folder_is_rejected(settings, store, repo, tmp_path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(report()))
    rid = str(uuid.uuid4())
    os.symlink(secret, repo / "reports" / "benchmarks" / f"{rid}.json")
    out = ingest(settings, store, repo, pending=True)
    assert out.exit_code == ExitCode.FAILED
    assert "is a link outside reports/benchmarks" in out.result.message
    assert store.query("SELECT count() FROM bench_runs").scalar() == 0


def test_unknown_schema_version_names_the_supported_versions(settings, store, repo) -> None:
    good, future = report(), report(schema_version=2)
    write_report(repo, good)
    write_report(repo, future)
    out = ingest(settings, store, repo, pending=True)
    assert out.exit_code == ExitCode.FAILED
    rejected = {i.item: i.message for i in out.result.items if i.status == "failed"}
    assert rejected == {f"reports/benchmarks/{future['run_id']}.json":
                        "schema_version: 2 is not supported (supported: 1)"}
    # The good report beside it is ingested.
    assert counts(store, good["run_id"])["bench_final"] == 4
    assert counts(store, future["run_id"])["bench_final"] == 0
    files = list((settings.state_dir / "quarantine").glob("hearts-*.jsonl"))
    [record] = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert record["file"] == f"reports/benchmarks/{future['run_id']}.json"
    assert record["reason"] == "schema_version: 2 is not supported (supported: 1)"


BAD_REPORTS = [
    (dict(results=[result(latency_p50_ms=300, latency_p95_ms=290)]),
     "results[0]: latencies must satisfy p50 <= p95 <= p99, got 300 / 290 / 390"),
    (dict(results=[result(latency_p99_ms=200)]), "results[0]: latencies must satisfy p50 <= p95 <= p99"),
    (dict(results=[result(latency_p95_ms=-5)]), "results[0].latency_p95_ms: -5 is less than the minimum of 0"),
    (dict(commit_sha="abc123"), "commit_sha: \"abc123\" does not match ^[0-9a-f]{40}$"),
    (dict(commit_sha="A" * 40), "commit_sha: \"AAAA"),
    (dict(ts="2026-05-04T10:05:00"), "ts: \"2026-05-04T10:05:00\" is not ISO 8601 with a zone"),
    (dict(ts="yesterday"), "ts: \"yesterday\" is not ISO 8601 with a zone"),
    (dict(results=[]), "results: [] should be non-empty"),
    (dict(results=[result(), result()]), "results[1]: duplicate of results[0] (llama3-8b, q4_k_m, chat-short)"),
    (dict(results=[{k: v for k, v in result().items() if k != "tokens_per_sec"}]),
     "results[0].tokens_per_sec: missing"),
    (dict(results=[result(memory_peak_mb="5200")]), "results[0].memory_peak_mb: expected number, got string \"5200\""),
    (dict(llm_calls=[llm_call(tokens_in=12.5)]), "llm_calls[0].tokens_in: expected integer, got number 12.5"),
    (dict(llm_calls=[llm_call(cost_usd=-1)]), "llm_calls[0].cost_usd: -1 is less than the minimum of 0"),
    (dict(schema_version="1"), "schema_version: \"1\" is not supported (supported: 1)"),
    (dict(schema_version=None), "schema_version: null is not supported (supported: 1)"),
]


@pytest.mark.parametrize("override,message", BAD_REPORTS)
def test_bad_report_is_rejected_naming_record_and_field(override, message) -> None:
    doc = report(**override)
    problem = ingest_hearts.validate(doc, expected_run_id=doc["run_id"])
    assert problem.startswith(message), problem


def test_a_good_report_has_no_problem_and_each_problem_is_counted_once() -> None:
    doc = report()
    assert ingest_hearts.validate(doc, expected_run_id=doc["run_id"]) == ""
    assert ingest_hearts.validate([doc]) == "not a JSON object"  # a report that is a JSON array
    one = ingest_hearts.validate(report(commit_sha="abc123"))
    assert one.startswith("commit_sha:") and "more)" not in one
    two = ingest_hearts.validate(report(commit_sha="abc123", results=[result(latency_p95_ms=-5)]))
    assert two.endswith(" (and 1 more)"), two
    three = ingest_hearts.validate(report(commit_sha="abc123", results=[result(latency_p95_ms=-5, latency_p99_ms=-1)]))
    assert three.endswith(" (and 2 more)"), three


def test_report_time_is_from_2000_on_and_at_most_an_hour_ahead_by_default() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
    assert ingest_hearts.validate(report(ts="2000-01-01T00:00:00Z"), now=now) == ""
    assert ingest_hearts.validate(report(ts="1999-12-31T23:59:59Z"), now=now).startswith("ts: ")
    # The default clock-skew tolerance is one hour (ingest.clock_skew_tolerance_seconds).
    assert ingest_hearts.validate(report(ts="2026-05-04T11:00:00Z"), now=now) == ""
    late = ingest_hearts.validate(report(ts="2026-05-04T11:00:01Z"), now=now)
    assert late.startswith("ts: 2026-05-04T11:00:01Z is in the future"), late


def test_a_long_bad_run_id_is_shown_cut_to_80_characters() -> None:
    for text, shown in (("y" * 80, "y" * 80), ("z" * 81, "z" * 77 + "..."), ("w" * 5000, "w" * 77 + "...")):
        with pytest.raises(UsageError) as err:
            ingest_hearts.parse_run_id(text)
        assert err.value.message.endswith(f"got {shown!r}"), err.value.message


def test_run_id_must_match_the_file_name(settings, store, repo) -> None:
    doc = report()
    path = write_report(repo, doc, name=f"{uuid.uuid4()}.json")
    out = ingest(settings, store, repo, pending=True)
    assert out.exit_code == ExitCode.FAILED
    assert f"run_id: {doc['run_id']} does not match the file name {path.stem}.json" in out.result.message


def test_invalid_json_and_stray_files(settings, store, repo) -> None:
    write_report(repo, "{ not json", name=f"{uuid.uuid4()}.json")
    write_report(repo, report(), name="notes.json")
    out = ingest(settings, store, repo, pending=True)
    statuses = sorted((i.status, i.message.split(":")[0]) for i in out.result.items)
    assert statuses == [("failed", "invalid JSON"), ("skipped", "name is not {run_id}.json")]


def test_pending_takes_new_and_edited_reports_and_leaves_rejected_ones_alone(settings, store, repo) -> None:
    a, bad = report(), report(commit_sha="zz")
    write_report(repo, a)
    bad_path = write_report(repo, bad)
    first = ingest(settings, store, repo, pending=True)
    assert first.exit_code == ExitCode.FAILED
    # Unchanged: nothing to do, no new alert.
    again = ingest(settings, store, repo, pending=True)
    assert again.exit_code == ExitCode.OK and again.result.message == "0 report(s) ingested, 2 already ingested"
    # The bad report is fixed, the good one edited (re-benchmarked): both are taken again.
    bad["commit_sha"] = SHA2
    write_report(repo, bad)
    a["results"][0]["latency_p95_ms"] = 300
    write_report(repo, a)
    third = ingest(settings, store, repo, pending=True)
    assert third.exit_code == ExitCode.OK and third.result.message.startswith("2 report(s) ingested")
    assert store.query("SELECT latency_p95_ms FROM bench_runs FINAL WHERE run_id = {r:UUID} AND model = 'llama3-8b' "
                       "AND dataset = 'chat-short'", {"r": a["run_id"]}).scalar() == 300
    assert store.query("SELECT status FROM ingest_reports FINAL WHERE run_id = {r:UUID}",
                       {"r": bad["run_id"]}).scalar() == "ok"
    assert bad_path.exists()


def test_cli_json_metrics_and_lag(cli, migrated, repo) -> None:
    doc = report(ts="2026-05-04T10:05:00+02:00")
    write_report(repo, doc)
    r = cli("ingest", "hearts", "--pending", "--repo", str(repo), "--json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["status"] == "ok" and out["details"]["ingested"] == [doc["run_id"]]
    assert out["items"][0]["rows"] == 4 + 3
    from muse.config import load_settings
    from muse.telemetry import read_local_metrics

    metrics = read_local_metrics(load_settings().state_dir)
    assert metrics[f"ingest.banterhearts{{commit_sha:{SHA},status:ok}}"]["value"] == 1
    assert metrics["ingest.lag_seconds{repo:banterhearts}"]["value"] == 0  # nothing left waiting
    assert metrics["llm.tokens_in{model:llama3-8b,source:banterhearts}"]["value"] == 600
    assert cli("ingest", "hearts", "--repo", str(repo)).exit_code == ExitCode.USAGE
    assert cli("ingest", "hearts", "--pending", "--run-id", doc["run_id"]).exit_code == ExitCode.USAGE


def test_lag_is_the_age_of_the_oldest_waiting_report_and_zero_when_none_waits(settings, store, repo) -> None:
    """Emitted on every run (a monitor must not sit in No Data), and 0 on a quiet repo: a day
    without a new benchmark is not a late ingest (it paged at 600 s before)."""
    import time

    day_old = time.time() - 86400
    doc = report(ts="2026-05-04T10:05:00Z")
    os.utime(write_report(repo, doc), (day_old, day_old))
    assert ingest(settings, store, repo, pending=True).exit_code == ExitCode.OK

    def lag(**opts: Any) -> tuple[Any, float]:
        tel = Telemetry(state_dir=settings.state_dir)
        out = run_agent(settings, ingest_hearts.AGENT, ingest_hearts.run, store=store, repo=str(repo),
                        telemetry=tel, **opts)
        [sample] = [s for s in tel.samples if s.name == "ingest.lag_seconds"]
        assert sample.tags == {"repo": "banterhearts"}
        return out, sample.value

    out, value = lag(pending=True)
    assert out.result.message == "0 report(s) ingested, 1 already ingested" and value == 0.0
    # A --run-id run leaves another report waiting, written 20 minutes ago: the lag is its age.
    waiting = report(ts="2026-05-04T10:05:00Z")
    twenty = time.time() - 1200
    os.utime(write_report(repo, waiting), (twenty, twenty))
    one = report(ts="2026-05-04T10:06:00Z")
    write_report(repo, one)
    out, value = lag(run_id=one["run_id"])
    assert out.exit_code == ExitCode.OK and 1195 < value < 1260
    # The store fails: the reports this run could not write wait too, and the lag says so.
    faults = FaultyStore(store).install()
    faults.fail("INSERT INTO bench_runs", times=3, exc=lambda: ConnectionError("connection reset"))
    out, value = lag(pending=True)
    assert out.exit_code == ExitCode.STORE_UNAVAILABLE and 1195 < value < 1260
    out, value = lag(pending=True)  # then everything is ingested: nothing waits
    assert out.exit_code == ExitCode.OK and value == 0.0


def test_a_backfilled_reports_llm_cost_is_stamped_with_the_report_time(settings, store, repo) -> None:
    doc = report(ts="2026-05-04T10:05:00Z")
    write_report(repo, doc)
    tel = Telemetry(state_dir=settings.state_dir)
    run_agent(settings, ingest_hearts.AGENT, ingest_hearts.run, store=store, repo=str(repo), telemetry=tel,
              pending=True)
    from datetime import datetime, timezone

    costs = [s for s in tel.samples if s.name == "llm.cost_usd"]
    assert costs and all(s.ts == datetime(2026, 5, 4, 10, 5, tzinfo=timezone.utc).timestamp() and s.backfill
                         for s in costs)


@pytest.mark.parametrize("override,message", [
    (dict(ts="1999-12-31T23:00:00Z"), "ts: \"1999-12-31T23:00:00Z\" is not ISO 8601 with a zone"),
    (dict(ts="2026-05-04T12:05:01Z"), "ts: 2026-05-04T12:05:01Z is in the future, beyond the clock-skew tolerance"),
    (dict(schema_version=2), "schema_version: 2 is not supported (supported: 1)"),
    (dict(schema_version=1.0), "schema_version: 1.0 is not supported"),
    (dict(schema_version=True), "schema_version: true is not supported"),
    (dict(results=[result(latency_p99_ms=289)]), "results[0]: latencies must satisfy p50 <= p95 <= p99"),
    (dict(results=[result(tokens_per_sec=float("nan"))]), "results[0].tokens_per_sec"),
])
def test_out_of_range_reports_are_rejected(override, message) -> None:
    """Values a report must never bring in: a year before 2000, a time beyond the clock-skew
    tolerance, an unknown schema version (also 1.0 or true), unordered latencies, NaN."""
    from datetime import datetime, timezone

    now = datetime(2026, 5, 4, 11, 5, tzinfo=timezone.utc)  # report ts 10:05, tolerance 3600 s
    doc = report(**override)
    problem = ingest_hearts.validate(doc, expected_run_id=doc["run_id"], now=now, tolerance=3600.0)
    assert problem.startswith(message), problem


def test_edge_values_inside_the_rules_are_accepted() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 5, 4, 11, 5, tzinfo=timezone.utc)
    for doc in (report(ts="2026-05-04T12:05:00Z"),  # exactly the tolerance ahead
                report(ts="2026-05-04T12:05:00z"),
                report(results=[result(latency_p50_ms=290, latency_p95_ms=290, latency_p99_ms=290)])):
        assert ingest_hearts.validate(doc, expected_run_id=doc["run_id"], now=now, tolerance=3600.0) == ""
