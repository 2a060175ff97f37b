"""`muse analytics run|show` and `muse insights list|ack` through the CLI, on a real store."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from analytics_data import demo_like
from muse.analysis import insights
from muse.store import open_store


def _seed(settings: Any) -> Any:
    with open_store(settings) as store:
        return demo_like(store, datetime.now(timezone.utc))


def _llm_run_id(settings: Any) -> str:
    with open_store(settings) as store:
        return store.query("SELECT toString(run_id) FROM llm_events ORDER BY ts DESC LIMIT 1").scalar()


def test_run_json_then_nothing_new(cli, migrated) -> None:
    planted = _seed(migrated)
    r = cli("analytics", "run", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    # Written: one baseline per (source, operation, model) and hour with calls (123 hours of one
    # group) and one per benchmark row (40 commits x 4 series); never a row per call.
    assert doc["agent"] == "analytics" and doc["status"] == "ok" and doc["rows_written"] == 123 + 160
    assert doc["details"]["llm_rows"] == 738 and doc["details"]["bench_rows"] == 160
    assert [i["item"] for i in doc["items"]] == ["cost_anomaly", "llm_events", "level_shifts", "bench_runs",
                                                 "ingest_gaps"]
    created = doc["details"]["insights_created"]
    assert any(c["type"] == "latency_regression" and c["severity"] == "critical"
               and planted.regression_commit[:8] in c["title"] for c in created)
    assert any(c["type"] == "cost_anomaly" for c in created)
    r = cli("analytics", "run")
    assert r.exit_code == 0 and "0 llm and 0 bench rows analysed, 0 new insight(s)" in r.stdout


def test_show_has_the_design_shape(cli, migrated) -> None:
    _seed(migrated)
    assert cli("analytics", "run").exit_code == 0
    run_id = _llm_run_id(migrated)
    r = cli("analytics", "show", run_id[:8], "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["run_id"] == run_id and doc["rows"] == doc["metrics"]["message_count"] == 6
    for key in ("input", "metrics", "baselines", "anomaly_scores", "efficiency", "temporal"):
        assert key in doc and key in doc["records"][0], key
    rec = doc["records"][0]
    assert rec["input"]["category"] == "small" and 0 < rec["input"]["complexity_score"] < 1
    assert rec["anomaly_scores"]["state"] == "ok" and rec["baselines"]["used"] == "model"
    base = rec["baselines"]["model"]
    assert base["n"] == rec["anomaly_scores"]["baseline_n"] and base["estimator"] == "log_least_squares"
    # Latency is compared on the log scale with the value expected at the call's own answer size.
    lat = base["latency_ms"]
    x = math.log(1 + rec["metrics"]["tokens_out"])
    assert lat["expected"] == pytest_approx(math.exp(lat["center"] + lat["slope"] * x + lat["curve"] * x * x))
    z = (math.log(rec["metrics"]["latency_ms"]) - math.log(lat["expected"])) / lat["scale"]
    assert rec["anomaly_scores"]["latency_z_score"] == pytest_approx(z)
    assert rec["efficiency"]["cost_per_token"] == pytest_approx(rec["metrics"]["cost_usd"] / rec["metrics"]["tokens"])
    assert rec["temporal"]["hour_of_day"] == int(rec["ts"][11:13])
    table = cli("analytics", "show", run_id)
    assert table.exit_code == 0 and "records (6 of 6)" in table.stdout and "model" in table.stdout


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, rel=1e-4)


def test_show_errors(cli, migrated) -> None:
    r = cli("analytics", "show", "00000000-0000-4000-8000-000000000000")
    assert r.exit_code == 1 and "no analysed llm_events or bench_runs rows" in r.stderr
    r = cli("analytics", "show", "xyz")
    assert r.exit_code == 2 and "must be a UUID" in r.stderr


def test_insights_list_ack_and_precision(cli, migrated) -> None:
    planted = _seed(migrated)
    assert cli("analytics", "run").exit_code == 0
    doc = json.loads(cli("insights", "list", "--json").stdout)
    by_type = {i["type"]: i for i in doc["insights"]}
    reg, cost = by_type["latency_regression"], by_type["cost_anomaly"]
    assert reg["commit_sha"] == planted.regression_commit and reg["severity"] == "critical"
    assert doc["insights"][0]["insight_id"] == reg["insight_id"]  # open and most severe first
    assert {p["type"]: p["precision"] for p in doc["precision"]} == {
        "latency_regression": None, "cost_anomaly": None}

    r = cli("insights", "ack", reg["insight_id"][:6], "--verdict", "true-positive", "--by", "alice")
    assert r.exit_code == 0, r
    assert r.stdout.startswith(f"acknowledged {reg['insight_id']} (latency_regression, critical) by alice, "
                               f"verdict true-positive")
    r = cli("insights", "ack", cost["insight_id"], "--verdict", "false-positive", "--by", "bob", "--json")
    assert json.loads(r.stdout)["status"] == "acknowledged"
    doc = json.loads(cli("insights", "list", "--open", "--json").stdout)
    assert doc["insights"] == []
    precision = {p["type"]: p for p in doc["precision"]}
    assert precision["latency_regression"]["precision"] == 1.0 and precision["cost_anomaly"]["precision"] == 0.0
    assert precision["latency_regression"]["acknowledged"] == 1 and precision["cost_anomaly"]["open"] == 0
    # Acknowledging again changes the verdict; precision follows.
    assert cli("insights", "ack", reg["insight_id"], "--verdict", "false-positive", "--by", "alice").exit_code == 0
    doc = json.loads(cli("insights", "list", "--severity", "critical", "--json").stdout)
    assert [(i["insight_id"], i["verdict"], i["acknowledged_by"]) for i in doc["insights"]] == [
        (reg["insight_id"], "false-positive", "alice")]
    assert {p["type"]: p["precision"] for p in doc["precision"]}["latency_regression"] == 0.0
    table = cli("insights", "list")
    assert table.exit_code == 0 and "precision per type" in table.stdout and "acknowledged (false-positive)" in table.stdout


def test_ack_errors(cli, migrated) -> None:
    with open_store(migrated) as store:
        made = [insights.Insight(insight_id=f"abcd000{k}ffffffff", type="outlier", severity="info", title=f"t{k}",
                                 description="d", observed_at=datetime(2026, 3, 2, 4, tzinfo=timezone.utc)) for k in (1, 2)]
        insights.upsert(store, made, run_id="00000000-0000-4000-8000-000000000001")
    r = cli("insights", "ack", "abcd", "--by", "x")
    assert r.exit_code == 2 and "ambiguous" in r.stderr and "abcd0001ffffffff" in r.stderr
    r = cli("insights", "ack", "ffff0000", "--by", "x")
    assert r.exit_code == 1 and "no insight with id" in r.stderr
    r = cli("insights", "ack", "abcd0001", "--verdict", "maybe")
    assert r.exit_code == 2
    r = cli("insights", "ack", "abcd0001ffffffff", "--by", "x")
    assert r.exit_code == 0 and "no verdict" in r.stdout
    assert cli("insights", "list", "--type", "cost_anomaly").stdout.strip().endswith("no insights match")


def test_bad_setting_exits_2_with_the_key(cli, migrated) -> None:
    r = cli("analytics", "run", env={"MUSE_ANALYTICS_CATEGORY_TOKENS": "100,50"})
    assert r.exit_code == 2 and "analytics.category_tokens" in r.output


def test_commands_on_an_unmigrated_store_say_to_migrate(cli) -> None:
    for args in (("insights", "list"), ("insights", "ack", "abcd", "--by", "x"), ("analytics", "show", "0" * 8),
                 ("analytics", "run")):
        r = cli(*args)
        assert r.exit_code == 2, (args, r)
        assert "schema is out of date" in r.output and "run `muse db migrate`" in r.output, (args, r)
