"""Issue 17, benchmark reports: one bad report never blocks the rest, one run id is one
report, future reports are refused, costs are stored exactly. Real files, a real chDB store."""

from __future__ import annotations

import json
import os
import signal
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ingest_world import llm_call, report, write_report
from muse.agents import ingest_hearts
from muse.errors import ExitCode
from muse.runs import run_agent
from muse.telemetry import Telemetry

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "banterhearts"
    (path / "reports" / "benchmarks").mkdir(parents=True)
    return path


def ingest(settings: Any, store: Any, repo: Path, telemetry: Telemetry | None = None, **opts: Any) -> Any:
    opts.setdefault("pending", True)
    return run_agent(settings, ingest_hearts.AGENT, ingest_hearts.run, store=store, repo=str(repo),
                     telemetry=telemetry or Telemetry(state_dir=settings.state_dir), now=NOW, **opts)


def quarantined(settings: Any) -> list[dict[str, Any]]:
    out = []
    for path in sorted((settings.state_dir / "quarantine").glob("hearts-*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


def ledger(store: Any) -> dict[str, tuple[str, str, str]]:
    return {r[0]: (r[1], r[2], r[3]) for r in store.query(
        "SELECT toString(run_id), path, status, message FROM ingest_reports FINAL").rows}


def raw_text(doc: dict[str, Any], **replace: str) -> str:
    """The report as JSON text, with literal replacements (NaN, 1e3, ...) json.dumps would not write."""
    text = json.dumps(doc, indent=1)
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


POISON = [
    ({"results": None}, '"memory_peak_mb": 5200', '"memory_peak_mb": NaN', "results[0].memory_peak_mb: nan is not a finite"),
    ({}, '"schema_version": 1', '"schema_version": 1.0', "schema_version: 1.0 is not supported"),
    ({}, '"tokens_in": 100', '"tokens_in": 1.0', "llm_calls[0].tokens_in: expected integer, got number 1.0"),
    ({}, '"tokens_in": 100', '"tokens_in": 1e3', "llm_calls[0].tokens_in: expected integer, got number 1000.0"),
    ({}, '"latency_ms": 420', '"latency_ms": Infinity', "llm_calls[0].latency_ms: inf is not a finite"),
    ({}, '"cost_usd": 5e-05', '"cost_usd": -Infinity', "llm_calls[0].cost_usd: -inf is not a finite"),
]


@pytest.mark.parametrize("_kw,old,new,reason", POISON)
def test_a_poison_report_is_quarantined_with_file_field_and_reason_and_the_batch_loads(
        settings, store, repo, _kw, old, new, reason) -> None:
    good = [report() for _ in range(5)]
    for d in good:
        write_report(repo, d)
    bad = report()
    path = write_report(repo, raw_text(bad, **{old: new}), name=f"{bad['run_id']}.json")
    out = ingest(settings, store, repo)
    assert out.exit_code == ExitCode.FAILED
    assert sorted(out.result.details["ingested"]) == sorted(d["run_id"] for d in good)
    rel = f"reports/benchmarks/{path.name}"
    assert out.result.details["rejected"][rel].startswith(reason), out.result.details["rejected"]
    assert rel in out.result.message and reason in out.result.message
    assert store.query("SELECT count() FROM bench_runs FINAL").scalar() == 5 * 4
    assert ledger(store)[bad["run_id"]][1] == "rejected" and ledger(store)[bad["run_id"]][2].startswith(reason)
    [q] = quarantined(settings)
    assert (q["file"], q["reason"][:len(reason)]) == (rel, reason)
    # Not again and again: the next run has nothing to do and pages nobody.
    tel = Telemetry(state_dir=settings.state_dir)
    again = ingest(settings, store, repo, telemetry=tel)
    assert again.exit_code == ExitCode.OK and again.result.message == "0 report(s) ingested, 6 already ingested"
    assert tel.alerts_sent == []


def test_a_report_the_store_refuses_is_set_aside_and_the_rest_of_its_batch_loads(settings, store, repo) -> None:
    good = [report() for _ in range(7)]
    poison = report(llm_calls=[llm_call(model="poison")])
    for d in good + [poison]:
        write_report(repo, d)
    real = store._raw_insert

    def refusing(table: str, columns: Any, rows: Any, dedup_token: Any = None) -> Any:
        if table == "llm_events" and any(r.get("model") == "poison" for r in rows):
            raise RuntimeError("Code: 27. DB::Exception: Cannot parse input (CANNOT_PARSE_INPUT_ASSERTION_FAILED)")
        return real(table, columns, rows, dedup_token)

    store._raw_insert = refusing
    out = ingest(settings, store, repo)
    assert sorted(out.result.details["ingested"]) == sorted(d["run_id"] for d in good)
    rel = f"reports/benchmarks/{poison['run_id']}.json"
    assert out.result.details["rejected"][rel].startswith("the store refused it: ")
    # Nothing written twice by the split: raw counts equal the exact ones.
    for table in ("bench_runs", "llm_events"):
        assert store.query(f"SELECT count() FROM {table}").scalar() == \
            store.query(f"SELECT count() FROM {table} FINAL").scalar()
    assert store.query("SELECT count() FROM llm_events").scalar() == 7 * 3
    assert store.query("SELECT count() FROM bench_runs").scalar() == 7 * 4  # none of the refused report's
    assert store.query("SELECT count() FROM bench_runs WHERE run_id = {r:UUID}", {"r": poison["run_id"]}).scalar() == 0


def test_one_run_id_in_several_spellings_is_one_report_and_a_different_one_is_a_conflict(settings, store, repo) -> None:
    rid = str(uuid.uuid4())
    first = report(rid)
    write_report(repo, first)  # <uuid>.json
    other = report(rid, llm_calls=[llm_call(tokens_in=7777)])
    write_report(repo, other, name=f"{rid.upper()}.json")  # <UUID>.json, other content
    same = dict(first)
    write_report(repo, json.dumps(same, indent=1), name=f"{rid.replace('-', '')}.json")  # dashless
    (repo / "reports" / "benchmarks" / f"{rid.replace('-', '')}.json").write_text(
        (repo / "reports" / "benchmarks" / f"{rid}.json").read_text())  # byte for byte the same
    tel = Telemetry(state_dir=settings.state_dir)
    out = ingest(settings, store, repo, telemetry=tel)
    assert out.result.details["ingested"] == [rid]
    assert out.result.details["conflicts"] == [f"reports/benchmarks/{rid.upper()}.json"]
    assert out.exit_code == ExitCode.FAILED
    assert len(tel.alerts_sent) == 1 and rid.upper() in tel.alerts_sent[0]["text"]
    # The first file's content is what is stored, under the canonical id, once.
    assert sorted(r[0] for r in store.query("SELECT tokens_in FROM llm_events").rows) == \
        sorted(c["tokens_in"] for c in first["llm_calls"])
    assert store.query("SELECT count() FROM llm_events WHERE tokens_in = 7777").scalar() == 0
    assert ledger(store)[rid][:2] == (f"reports/benchmarks/{rid}.json", "ok")
    [q] = quarantined(settings)
    assert q["file"] == f"reports/benchmarks/{rid.upper()}.json" and q["reason"].startswith(f"run_id: {rid} is already")
    # Every later run: nothing re-ingested, no metric re-emitted, no new alert, the ledger stays.
    for _ in range(2):
        tel = Telemetry(state_dir=settings.state_dir)
        again = ingest(settings, store, repo, telemetry=tel)
        assert again.exit_code == ExitCode.OK and again.result.details["ingested"] == []
        assert tel.alerts_sent == [] and not [s for s in tel.samples if s.name.startswith("llm.")]
        assert ledger(store)[rid][:2] == (f"reports/benchmarks/{rid}.json", "ok")
        assert len(quarantined(settings)) == 1
    assert store.query("SELECT count() FROM llm_events").scalar() == len(first["llm_calls"])
    # --run-id in any spelling finds the canonical file, and does not overwrite either.
    one = ingest(settings, store, repo, run_id=rid.upper(), pending=False)
    assert one.result.details["ingested"] == [rid]
    assert store.query("SELECT count() FROM llm_events FINAL WHERE tokens_in = 7777").scalar() == 0


def test_a_report_from_the_future_is_rejected_with_its_reason(settings, store, repo) -> None:
    far = report(ts="2099-01-01T00:00:00Z")
    skewed = report(ts=(NOW + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    near = report(ts=(NOW + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))  # within 1 h: fine
    for d in (far, skewed, near):
        write_report(repo, d)
    out = ingest(settings, store, repo)
    assert out.result.details["ingested"] == [near["run_id"]]
    rejected = out.result.details["rejected"]
    assert rejected[f"reports/benchmarks/{far['run_id']}.json"] == (
        "ts: 2099-01-01T00:00:00Z is in the future, beyond the clock-skew tolerance of 3600 s "
        "(ingest.clock_skew_tolerance_seconds)")
    assert "in the future" in rejected[f"reports/benchmarks/{skewed['run_id']}.json"]


def test_report_costs_are_stored_exactly(settings, store, repo) -> None:
    costs = ["0.000251", "0.1", "0.000007", "123.456789", "0.00025100000000000003"]
    doc = report(llm_calls=[llm_call(cost_usd=0) for _ in costs])
    text = json.dumps(doc, indent=1)
    for c in costs:
        text = text.replace('"cost_usd": 0,', f'"cost_usd": {c},', 1)
    write_report(repo, text, name=f"{doc['run_id']}.json")
    ingest(settings, store, repo)
    stored = [Decimal(r[0]) for r in store.query(
        "SELECT toString(cost_usd) FROM llm_events FINAL ORDER BY event_id").rows]
    by_index = [Decimal(r[0]) for r in store.query(
        "SELECT toString(cost_usd) FROM llm_events FINAL").rows]
    expected = [Decimal(c).quantize(Decimal("0.000001")) for c in costs]
    assert sorted(stored) == sorted(expected) and sorted(by_index) == sorted(expected)
    assert Decimal("0.000251") in stored  # not 0.00025


def test_a_fifo_named_like_a_report_is_skipped_and_never_blocks(settings, store, repo, caplog) -> None:
    good = report()
    write_report(repo, good)
    os.mkfifo(repo / "reports" / "benchmarks" / f"{uuid.uuid4()}.json")

    def boom(*_: Any) -> None:
        raise TimeoutError("blocked on the FIFO")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(60)
    try:
        out = ingest(settings, store, repo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert out.exit_code == ExitCode.OK and out.result.details["ingested"] == [good["run_id"]]
    assert len([r for r in caplog.records if "not a regular file" in r.getMessage()]) == 1
