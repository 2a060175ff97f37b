"""`muse demo`: deterministic data, safe re-runs, and a store it will not mix into."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from muse.demo import data as demodata
from muse.demo.runner import run_demo
from muse.errors import ExitCode
from muse.store import open_store

NOW = datetime(2026, 5, 8, 2, 40, tzinfo=timezone.utc)  # a Friday night
SMALL = {"days": 4, "scale": 0.1, "until": "ingest-packs"}  # later agents read the wall clock

# Every data table, with the columns that say what a row is (not when a run wrote it).
TABLES = {
    "bench_runs": "ts, run_id, commit_sha, model, quant, dataset, latency_p50_ms, latency_p95_ms, latency_p99_ms, "
                  "tokens_per_sec, cost_per_1k, memory_peak_mb",
    "llm_events": "ts, event_id, run_id, source, commit_sha, model, operation, tokens_in, tokens_out, latency_ms, "
                  "cost_usd, status, error_msg",
    "ui_events": "ts, event_id, session_id, commit_sha, event_type, latency_ms, user_agent, metadata",
    "session_stats": "hour, commit_sha, total_sessions, total_events, avg_latency_ms, p95_latency_ms, error_rate, "
                     "abandonment_rate",
    "ingest_gaps": "hour, kind, events, baseline, detected_at, run_id",
    "ingest_reports": "run_id, path, content_sha256, commit_sha, status, ingested_at",
    "ingest_quarantine": "source, file, line, reason, quarantined_at",
    "store_meta": "key, value, updated_at",
}


def snapshot(settings: Any) -> dict[str, Any]:
    with open_store(settings) as store:
        out = {}
        for table, cols in TABLES.items():
            out[table] = store.query(f"SELECT {cols} FROM {table} FINAL ORDER BY {cols}").rows
            out[table + " (raw count)"] = store.query(f"SELECT count() FROM {table}").scalar()
        return out


def raw_counts(settings: Any) -> dict[str, int]:
    """count() without FINAL of every table of the store (not views, not the Null sink)."""
    with open_store(settings) as store:
        tables = [r[0] for r in store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' "
            "ORDER BY name").rows]
        return {t: store.query(f"SELECT count() FROM `{t}`").scalar() for t in tables}


def files_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def quiet(line: str) -> None:
    pass


@pytest.mark.slow
def test_two_runs_in_the_same_hour_leave_identical_tables(settings) -> None:
    first = run_demo(settings, quiet, now=NOW, **SMALL)
    assert first.exit_code == ExitCode.OK, first.steps
    before = snapshot(settings)
    counts = raw_counts(settings)
    assert before["ui_events (raw count)"] > 1000 and before["bench_runs (raw count)"] > 0
    assert counts["session_stats"] > 0 and counts["ingest_files"] > 0
    later = run_demo(settings, quiet, now=NOW + timedelta(minutes=15), **SMALL)
    assert later.exit_code == ExitCode.OK, later.steps
    assert snapshot(settings) == before
    assert raw_counts(settings) == counts  # every table, raw: the second run wrote nothing
    assert "up to date" in later.steps[1][2]


@pytest.mark.slow
def test_rerun_later_appends_only_the_missing_hours_and_commits(settings) -> None:
    run_demo(settings, quiet, now=NOW, **SMALL)
    demo = settings.state_dir / "demo"
    shas = {name: [c[1] for c in demodata._commits(demodata._open_repo(demo / name))]
            for name in ("banterhearts", "banterpacks")}
    files = files_digest(demo / "telemetry")
    later = NOW + timedelta(hours=20)
    result = run_demo(settings, quiet, now=later, **SMALL)
    assert result.exit_code == ExitCode.OK, result.steps
    for name, old in shas.items():
        new = [c[1] for c in demodata._commits(demodata._open_repo(demo / name))]
        assert new[: len(old)] == old  # history kept: every old sha unchanged
    assert len(new) >= len(shas["banterpacks"])
    after = files_digest(demo / "telemetry")
    assert {k: v for k, v in after.items() if k in files} == files  # old hours untouched
    assert len(after) == len(files) + 20
    manifest = json.loads((demo / "manifest.json").read_text())
    assert manifest["generated_until"] == "2026-05-08T22:00Z"
    newest = max(after)
    assert newest.endswith("2026-05-08T21.jsonl")  # data ends at the current hour
    with open_store(settings) as store:
        assert store.query("SELECT count() FROM ui_events").scalar() == store.query(
            "SELECT count() FROM ui_events FINAL").scalar()
        assert store.query("SELECT toString(max(ts)) FROM ui_events").scalar() < "2026-05-08 22:00:00"


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = demodata.generate(tmp_path / "a", now=NOW, days=2, scale=0.05)
    b = demodata.generate(tmp_path / "b", now=NOW, days=2, scale=0.05)
    for name in ("banterhearts", "banterpacks"):
        assert demodata._commits(demodata._open_repo(tmp_path / "a" / name)) == \
               demodata._commits(demodata._open_repo(tmp_path / "b" / name))
    assert files_digest(tmp_path / "a" / "telemetry") == files_digest(tmp_path / "b" / "telemetry")
    assert a.new_events == b.new_events > 0
    reports = files_digest(tmp_path / "a" / "banterhearts" / "reports")
    assert reports == files_digest(tmp_path / "b" / "banterhearts" / "reports") and reports


@pytest.mark.slow
def test_planted_events_are_where_the_manifest_says(settings) -> None:
    result = run_demo(settings, quiet, now=NOW, days=6, scale=0.2, until="ingest-packs")
    assert result.exit_code == ExitCode.OK, result.steps
    manifest = json.loads((settings.state_dir / "demo" / "manifest.json").read_text())
    planted = manifest["planted"]
    reg, spike, gap, bad = (planted["latency_regression"], planted["cost_spike"], planted["telemetry_gap"],
                            planted["quarantined_line"])
    assert reg["commit"] and spike["reached"] and gap["reached"] and bad["reached"]
    with open_store(settings) as store:
        # Regression: the series' p95 is +40% or more from that commit on, and on every later commit.
        rows = store.query(
            "SELECT commit_sha, min(ts) AS t, avg(latency_p95_ms) AS p95 FROM bench_runs FINAL "
            "WHERE model = {m:String} AND quant = {q:String} GROUP BY commit_sha ORDER BY t",
            {"m": reg["model"], "q": reg["quant"]}).dicts()
        shas = [r["commit_sha"] for r in rows]
        at = shas.index(reg["commit"])
        before = sum(r["p95"] for r in rows[:at]) / at
        assert all(r["p95"] >= 1.4 * before for r in rows[at:])
        assert all(r["p95"] < 1.2 * before for r in rows[:at])
        other = store.query("SELECT max(latency_p95_ms) / min(latency_p95_ms) FROM bench_runs FINAL "
                            "WHERE model = 'llama3-8b' AND quant = 'q4_k_m' AND dataset = 'chat-short'").scalar()
        assert other < 1.15  # the other series stay flat
        # Cost spike: that hour's banterpacks LLM cost is about 5x the same hour on other days.
        hourly = dict(store.query(
            "SELECT toString(toStartOfHour(ts)) AS h, toFloat64(sum(cost_usd)) FROM llm_events FINAL "
            "WHERE source = 'banterpacks' AND toHour(ts) = 15 GROUP BY h").rows)
        spike_hour = spike["hour"].replace("T", " ").replace(":00Z", ":00:00")
        others = [v for h, v in hourly.items() if h != spike_hour]
        assert hourly[spike_hour] > 3 * max(others)
        # Gap: recorded for the analytics worker.
        gaps = store.query("SELECT toString(hour), kind FROM ingest_gaps FINAL").rows
        assert gaps == [(gap["hour"].replace("T", " ").replace(":00Z", ":00:00"), "no_telemetry")]
        assert store.query("SELECT file, line, reason FROM ingest_quarantine FINAL").rows == [
            (bad["file"], bad["line"], "invalid JSON")]
        # The newest banterhearts commit has its reports; the newest banterpacks commit has telemetry.
        hearts_tip = demodata._commits(demodata._open_repo(Path(manifest["repos"]["banterhearts"])))[-1][1]
        packs_tip = demodata._commits(demodata._open_repo(Path(manifest["repos"]["banterpacks"])))[-1][1]
        assert store.query("SELECT count() FROM bench_runs FINAL WHERE commit_sha = {s:String}",
                           {"s": hearts_tip}).scalar() == 12
        assert store.query("SELECT count() FROM ui_events FINAL WHERE commit_sha = {s:String}",
                           {"s": packs_tip}).scalar() > 0
        # tokens_in spans tiny to huge.
        lo, hi = store.query("SELECT min(tokens_in), max(tokens_in) FROM llm_events FINAL").rows[0]
        assert lo < 50 and hi > 20_000


def test_refuses_a_store_with_data_it_did_not_load(settings, store) -> None:
    store.insert("bench_runs", [{"ts": "2026-05-01 00:00:00.000", "run_id": "00000000-0000-4000-8000-000000000001",
                                 "commit_sha": "c" * 40, "model": "m", "quant": "q", "dataset": "d",
                                 "latency_p50_ms": 1, "latency_p95_ms": 2, "latency_p99_ms": 3,
                                 "tokens_per_sec": 1.0, "cost_per_1k": 0.1, "memory_peak_mb": 1}])
    store.close()
    lines: list[str] = []
    result = run_demo(settings, lines.append, now=NOW, **SMALL)
    assert result.exit_code == ExitCode.USAGE
    assert "holds data the demo did not load (1 row(s) in bench_runs)" in "\n".join(lines)
    assert "--state-dir" in "\n".join(lines)
    assert not (settings.state_dir / "demo" / "banterhearts").exists()  # nothing generated


@pytest.mark.slow
def test_demo_cli_then_other_commands_use_the_demo_without_flags(cli, tmp_path) -> None:
    r = cli("demo", "--days", "2")
    assert r.exit_code == 0, r
    assert "[1/5] prepare store" in r.stdout and "ingest-packs  ok" in r.stdout and "Planted" in r.stdout
    cfg = cli("config", "show", "--json")
    doc = json.loads(cfg.stdout)
    assert doc["settings"]["telemetry_dir"].endswith("/demo/telemetry")
    q = cli("query", "SELECT count() > 0 AS ok FROM ui_events FINAL", "--format", "csv")
    assert q.stdout == "ok\n1\n"
    # The user's own config wins, and the demo never touches it.
    user_cfg = Path(doc["settings"]["state_dir"]).parent.parent / "config" / "muse" / "muse.yaml"
    user_cfg.parent.mkdir(parents=True)
    user_cfg.write_text("council:\n  window_days: 3\n")
    again = cli("demo", "--days", "2")
    assert again.exit_code == 0 and "takes precedence" in again.stdout
    assert user_cfg.read_text() == "council:\n  window_days: 3\n"


@pytest.mark.slow
def test_demo_data_never_lands_in_the_current_directory(settings, tmp_path, monkeypatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    run_demo(settings, quiet, now=NOW, days=1, scale=0.05, until="ingest-packs")
    assert list(cwd.iterdir()) == []
    assert (settings.state_dir / "demo" / "muse.yaml").is_file()


@pytest.mark.parametrize("name,span", [
    ("2026-05-04T13.jsonl", ("2026-05-04T13", 1)), ("events-2026050413.jsonl.gz", ("2026-05-04T13", 1)),
    ("2026-05-04.jsonl", ("2026-05-04T00", 24)), ("20260504.ndjson", ("2026-05-04T00", 24)),
    ("build-123456789012.jsonl", None), ("events.jsonl", None), ("2026-13-40T99.jsonl", None)])
def test_hour_or_day_in_a_file_name(name, span) -> None:
    from muse.hours import span_in_name

    got = span_in_name(name)
    if span is None:
        assert got is None
    else:
        assert got[0].strftime("%Y-%m-%dT%H") == span[0] and (got[1] - got[0]).total_seconds() == span[1] * 3600


@pytest.mark.slow
def test_full_demo_from_nothing_twice(cli, settings) -> None:
    """The front door: every agent runs, the episode is published to the local origin, the
    digest is printed; a second run in the same hour changes no data and no episode."""
    import git

    # Three days of demo data make a draft (bench and telemetry completeness 0 over the
    # council window), a fortnight a ready episode: the threshold is pinned so this test
    # always walks the same path, the one to main with a tag and a deploy.
    ready = {"MUSE_COUNCIL_CONFIDENCE_THRESHOLD": "0"}
    r = cli("demo", "--days", "3", env=ready)
    assert r.exit_code == 0, r
    for agent in ("ingest-hearts", "ingest-packs", "watcher", "analytics", "council", "publish", "i18n"):
        assert f"  {agent} " in r.stdout and f"{agent:<13} ok" in r.stdout, agent
    assert "muse digest:" in r.stdout and "Open insights:" in r.stdout
    assert "skipped: no DeepL key configured" in r.stdout
    publish_line = next(line for line in r.stdout.splitlines() if line.startswith("  publish "))
    # A ready episode goes to main with its tag; the deploy is reported as skipped (no
    # Vercel), never as success.
    assert "published" in publish_line and "on origin/main, tag episode-1" in publish_line, publish_line
    assert "deploy SKIPPED" in publish_line and "drafts" not in publish_line, publish_line
    post = settings.state_dir / "demo" / "banterblogs" / "posts" / "ep-1.md"
    assert f"Episode 1 (" in r.stdout and str(post) in r.stdout and post.is_file()
    origin = git.Repo(str(settings.state_dir / "demo" / "banterblogs.git"))
    branches = {h.name for h in origin.heads}
    assert "episode-1" in {t.name for t in origin.tags} and "drafts" not in branches
    before = snapshot(settings)
    counts = raw_counts(settings)
    with open_store(settings) as store:
        episodes = store.query("SELECT episode, lang, status FROM episodes FINAL ORDER BY episode, lang").rows
        insights = store.query("SELECT insight_id, status FROM insights FINAL ORDER BY insight_id").rows
    again = cli("demo", "--days", "3", env=ready)
    assert again.exit_code == 0, again
    assert "pipeline: up to date" in again.stdout and f"Episode 1 (published" in again.stdout, again.stdout
    assert str(post) in again.stdout  # where the episode is, even when no agent ran
    assert snapshot(settings) == before
    # Every table's raw count(), the run logs included: the pipeline already ran on this data
    # with these settings, so the second demo runs no agent and writes no row at all.
    assert raw_counts(settings) == counts
    with open_store(settings) as store:
        assert store.query("SELECT episode, lang, status FROM episodes FINAL ORDER BY episode, lang").rows == episodes
        assert store.query("SELECT insight_id, status FROM insights FINAL ORDER BY insight_id").rows == insights
    # After the demo, the other commands work on its store and repos without flags.
    assert cli("council", "trace", "1").exit_code == 0
    assert cli("watcher", "status").exit_code == 0
    assert cli("insights", "list").exit_code == 0
    # A later run whose pipeline does run (a new hour; here: the stamp removed) finds the
    # episode of these commits already out, and still says which episode and where it is.
    (settings.state_dir / "demo" / "pipeline-done.json").unlink()
    later = cli("demo", "--days", "3", env=ready)
    assert later.exit_code == 0, later
    assert "already published" in later.stdout and "No episode was written" not in later.stdout, later.stdout
    assert "Episode 1 (published" in later.stdout and str(post) in later.stdout, later.stdout


def test_later_agents_extend_the_demo_with_steps(settings) -> None:
    """The lead adds the watcher, analytics, council... as steps; they see what came before."""
    from muse.demo.runner import STEPS, DemoStep
    from muse.errors import InputError

    seen: dict[str, Any] = {}

    def extra(ctx) -> str:
        seen["regression"] = ctx.manifest["planted"]["latency_regression"]["model"]
        seen["ingested"] = ctx.outcomes["ingest-packs"].result.details["new_events"]
        seen["repo"] = ctx.settings.path_of("repos.banterhearts.path")
        return "extra ran"

    def broken(ctx) -> str:
        raise InputError("the council found nothing to say")

    lines: list[str] = []
    result = run_demo(settings, lines.append, now=NOW, days=1, scale=0.05, until="ingest-packs",
                      steps=[*STEPS, DemoStep("extra", extra), DemoStep("broken", broken)])
    assert seen["regression"] == "mistral-7b" and seen["ingested"] > 0
    assert seen["repo"] == settings.state_dir / "demo" / "banterhearts"
    assert "[5/7] extra: extra ran" in lines
    assert "[6/7] broken: failed - the council found nothing to say" in lines
    assert result.exit_code == ExitCode.FAILED and result.steps[-1][1] == "failed"
