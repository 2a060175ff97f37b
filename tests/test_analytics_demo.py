"""The analytics worker on the demo's data: every planted effect is found, at the right commit
and hour, and nothing the demo did not plant is raised."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from muse.analysis import insights
from muse.demo.runner import run_demo
from muse.errors import ExitCode
from muse.hours import ts_str
from muse.store import open_store

pytestmark = pytest.mark.slow  # one whole demo run for the module


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from muse.config import load_settings

    state = tmp_path_factory.mktemp("demo-analytics")
    settings = load_settings(env={"MUSE_STATE_DIR": str(state), "HOME": str(state)})
    lines: list[str] = []
    # The watcher ahead of analytics reads the wall clock: the demo runs at the current time.
    result = run_demo(settings, lines.append, now=datetime.now(timezone.utc), days=14, scale=1.0, until="analytics")
    assert result.exit_code == ExitCode.OK, (result.steps, lines)
    return state, settings


@pytest.fixture(scope="module")
def demo(demo_state: Any) -> Any:
    state, settings = demo_state
    planted = json.loads((state / "demo" / "manifest.json").read_text())["planted"]
    with open_store(settings, readonly=True) as store:
        found = insights.list_insights(store, limit=500)
        long_answers = store.query(
            "SELECT count() AS n, countIf(is_latency_outlier) AS flagged, corr(latency_z, tokens_out) AS rz, "
            "corr(latency_ms, tokens_out) AS rl FROM run_analytics WHERE kind = 'llm' AND source = 'banterpacks' "
            "AND baseline_state = 'ok' AND (model != {m:String} OR ts < {t:DateTime64(3)}) AND tokens_out >= 800",
            {"m": "mistral-7b", "t": planted["latency_regression"]["at"][:19].replace("T", " ")}
        ).first()
        long_answers["rz_all"] = store.query(
            "SELECT corr(latency_z, tokens_out) FROM run_analytics WHERE kind = 'llm' AND source = 'banterpacks' "
            "AND baseline_state = 'ok'").scalar()
        long_answers["z_mean"] = store.query(
            "SELECT avg(latency_z) FROM run_analytics WHERE kind = 'llm' AND source = 'banterpacks' "
            "AND baseline_state = 'ok' AND model != 'mistral-7b' AND tokens_out >= 800").scalar()
    return planted, [i for i in found if i.status != "resolved"], long_answers


def test_the_planted_benchmark_regression_and_throughput_drop_are_found_at_their_commit(demo) -> None:
    planted, live, _ = demo
    reg = planted["latency_regression"]
    for itype, metric in (("latency_regression", "latency"), ("throughput_regression", "throughput")):
        got = sorted((i.dataset, i.commit_sha, i.severity) for i in live if i.type == itype)
        assert got == [(d, reg["commit"], "critical") for d in sorted(reg["datasets"])], itype
    lat = [i for i in live if i.type == "latency_regression"]
    assert all(i.metrics["ratio_low"] <= 1.55 * 1.05 and i.metrics["ratio_high"] >= 1.55 * 0.95 for i in lat)
    thr = [i for i in live if i.type == "throughput_regression"]
    assert all(i.metrics["ratio_of_medians"] == pytest.approx(1 / 1.3, rel=0.05) for i in thr)
    assert {(i.model, i.quant) for i in lat + thr} == {(reg["model"], reg["quant"])}


def test_the_user_side_level_shift_is_found_once_with_its_start_hour(demo) -> None:
    planted, live, _ = demo
    shift = planted["llm_latency_shift"]
    user = [i for i in live if i.type == "level_shift" and i.source == "banterpacks"]
    assert len(user) == 1
    [s] = user
    assert (s.model, s.metric) == (shift["model"], "latency")
    assert s.metrics["start_hour"][:13] == shift["start_hour"][:13].replace("T", " ")
    assert s.metrics["ratio_low"] <= 1.55 <= s.metrics["ratio_high"] * 1.01
    assert s.commit_sha == shift["commit"]
    # Every level shift is the planted model's: no other model or metric moved.
    assert {(i.model, i.metric) for i in live if i.type == "level_shift"} == {(shift["model"], "latency")}


def test_the_cost_spike_and_the_gap_are_found_and_nothing_else(demo) -> None:
    planted, live, _ = demo
    costs = [i for i in live if i.type == "cost_anomaly"]
    assert len(costs) == 1, [c.title for c in costs]
    [cost] = costs
    assert ts_str(cost.observed_at)[:13] == planted["cost_spike"]["hour"][:13].replace("T", " ")
    [gap] = [i for i in live if i.type == "ingestion_gap"]
    assert ts_str(gap.observed_at)[:13] == planted["telemetry_gap"]["hour"][:13].replace("T", " ")
    # The per-call outliers of the spike hour are folded into the anomaly, not separate findings.
    assert [i for i in live if i.type == "outlier"] == []
    assert {i.type for i in live} == {"latency_regression", "throughput_regression", "level_shift", "cost_anomaly",
                                      "ingestion_gap"}


def test_long_answers_are_not_latency_outliers(demo) -> None:
    _, _, long_answers = demo
    assert long_answers["n"] > 100
    assert long_answers["rl"] > 0.5  # raw latency follows the answer size ...
    assert abs(long_answers["rz_all"]) < 0.1  # ... its z-score does not
    assert abs(long_answers["z_mean"]) < 1
    assert long_answers["flagged"] / long_answers["n"] < 0.01


def test_insights_list_prints_the_precision_of_every_type_found_on_the_demo(demo, demo_state, cli) -> None:
    _, live, _ = demo
    state = str(demo_state[0])
    r = cli("--state-dir", state, "insights", "list")
    assert r.exit_code == 0, r.stderr
    assert "precision per type" in r.stdout
    doc = json.loads(cli("--state-dir", state, "insights", "list", "--json").stdout)
    found = {i.type for i in live}
    assert {p["type"] for p in doc["precision"]} >= found
    assert all(p["precision"] is None for p in doc["precision"])  # no verdict yet: "-", not 0%
    # A verdict on the level shift (right) and the gap (call it wrong) gives their precision.
    shift = next(i for i in live if i.type == "level_shift")
    gap = next(i for i in live if i.type == "ingestion_gap")
    assert cli("--state-dir", state, "insights", "ack", shift.insight_id, "--verdict", "true-positive").exit_code == 0
    assert cli("--state-dir", state, "insights", "ack", gap.insight_id, "--verdict", "false-positive").exit_code == 0
    doc = json.loads(cli("--state-dir", state, "insights", "list", "--json").stdout)
    precision = {p["type"]: p["precision"] for p in doc["precision"]}
    assert precision["level_shift"] == 1.0 and precision["ingestion_gap"] == 0.0
    assert precision["latency_regression"] is None
    text = cli("--state-dir", state, "insights", "list").stdout
    assert "100%" in text and text.count("0%") >= 2  # level_shift 100%, ingestion_gap 0%


def test_times_in_the_demo_s_json_and_csv_keep_clickhouse_s_text(demo, demo_state, cli) -> None:
    """The store returns datetimes now; what `muse query` and `muse insights list --json` print
    of them is still ClickHouse's own text of each column (what they printed before), so an
    insight's times, and every DateTime, DateTime64 and Date cell, read the same after the upgrade."""
    state = str(demo_state[0])
    cols = {
        "observed_at": "observed_at",
        "hour": "toDateTime(observed_at, 'UTC')",
        "day": "toDate(observed_at)",
        "resolved_at": "resolved_at",
        "created_at": "created_at",
    }
    sql = (
        "SELECT insight_id, "
        + ", ".join(f"{e} AS {k}, toString({e}) AS {k}_text" for k, e in cols.items())
        + " FROM insights FINAL ORDER BY insight_id"
    )
    rows = json.loads(cli("--state-dir", state, "query", "--json", sql).stdout)
    assert rows
    for r in rows:
        for k in cols:
            assert r[k] == r[f"{k}_text"], (k, r)
    csv_lines = cli("--state-dir", state, "query", "--format", "csv", sql).stdout.splitlines()
    assert len(csv_lines) == len(rows) + 1
    for line, r in zip(csv_lines[1:], rows):
        cells = line.split(",")
        assert cells[1] == cells[2] == r["observed_at_text"] and cells[3] == cells[4] and cells[5] == cells[6]
    listed = json.loads(cli("--state-dir", state, "insights", "list", "--json", "--limit", "500").stdout)["insights"]
    text = {r["insight_id"]: r for r in rows}
    assert {i["insight_id"] for i in listed} == set(text)
    for i in listed:
        assert i["observed_at"] == text[i["insight_id"]]["observed_at_text"]
        assert i["resolved_at"] == text[i["insight_id"]]["resolved_at_text"]
        assert i["created_at"] == text[i["insight_id"]]["created_at_text"]
