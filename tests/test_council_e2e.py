"""End to end: hostile model names in benchmark reports -> ingest -> analytics' finding ->
council -> publisher's validator -> the committed post rendered as the blog would
(CommonMark + tables): no active tag, and the episode is still published."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from episode_fixtures import make_blog
from ingest_world import report, result, write_report
from muse import episode as epfmt
from muse.analysis import circuit
from muse.errors import ExitCode
from muse.hours import ts_str
from muse.runs import run_agent
from muse.telemetry import Telemetry
from test_council import NOW, World

EVIL = "x`|<img src=x onerror=alert(1)>"
CURLY = "tpl{{ config }}{% if 1 %}"


def test_hostile_model_names_from_reports_to_published_html(tmp_path: Path, store: Any) -> None:
    from muse.agents import council, ingest_hearts, publisher
    from muse.config import load_settings

    w = World(tmp_path, None)
    blog = make_blog(tmp_path / "b")
    settings = load_settings(overrides={
        "repos.banterhearts.path": str(tmp_path / "hearts"), "repos.banterpacks.path": str(tmp_path / "packs"),
        "repos.banterblogs.path": str(blog.clone), "council.expected_bench_results_per_day": 4})
    # One report a day; the EVIL model regresses from day 3 on.
    for i, day in enumerate(w.days):
        f = [1.5 if m == EVIL and i >= 3 else 1.0 for m in (EVIL, CURLY) for _ in range(2)]
        results = [result(model=m, quant="q4_k_m", dataset=d, latency_p50_ms=int(200 * k), latency_p95_ms=int(400 * k),
                          latency_p99_ms=int(500 * k))
                   for (m, d), k in zip([(m, d) for m in (EVIL, CURLY) for d in ("chat-short", "rag-long")], f)]
        write_report(tmp_path / "hearts", report(str(uuid.UUID(int=100 + i)), commit_sha=w.hearts[i],
                                                 ts=(day + timedelta(hours=2, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                 results=results, calls=0))
    out = run_agent(settings, ingest_hearts.AGENT, ingest_hearts.run, store=store, repo=str(tmp_path / "hearts"),
                    telemetry=Telemetry(state_dir=settings.state_dir), pending=True)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert store.query("SELECT count() FROM bench_runs FINAL WHERE model = {m:String}", {"m": EVIL}).scalar() == 14
    w.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7, models=[], days=list(range(7)))
    w.fill_users(store, models={EVIL: 800, CURLY: 700}, slower=(EVIL, 3, 1.5))
    w.insight(store, model=EVIL, day=3, quant="q4_k_m", dataset="rag-long")
    w.insight(store, model=CURLY, day=4, quant="q4_k_m", dataset="chat-short")
    # The watcher vouches for the latest commits.
    run_id, checked = str(uuid.uuid4()), datetime.now(timezone.utc)
    store.insert("watcher_runs", [{"ts": ts_str(checked), "run_id": run_id, "hearts_commit": w.hearts[-1],
                                   "packs_commit": w.packs[-1], "hearts_rows_found": 4, "packs_rows_found": 24,
                                   "hearts_status": "valid", "packs_status": "valid", "lag_seconds": 1,
                                   "status": "valid"}])
    circuit.write_status(settings.state_dir, run_id=run_id, checked_at=checked, hearts_commit=w.hearts[-1],
                         packs_commit=w.packs[-1])
    gen = run_agent(settings, "council", council.run, store=store, now=NOW)
    assert gen.exit_code == ExitCode.OK, gen.result.message
    assert gen.result.details["status"] == "ready", gen.result.details
    pub = run_agent(settings, "publish", publisher.run, store=store, episode=1)
    assert pub.exit_code == ExitCode.OK, pub.result.message
    text = blog.show("main", "posts/ep-1.md")
    sidecar = blog.show("main", "posts/ep-1.evidence.json")
    assert text and sidecar and json.loads(sidecar)["schema"] == "muse.episode.evidence"
    body = epfmt.parse(text).body
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(body)
    raw = [t for t in tokens if t.type == "html_block"] + [c for t in tokens for c in t.children or []
                                                           if c.type == "html_inline"]
    assert raw == []
    html = md.render(body)
    assert "<img src=x" not in html and "onerror=alert(1)&gt;" in html  # shown, inert
    assert '<img src="ep-1.svg"' in html and html.count("<img") == 1
    assert "{{" not in text and "{%" not in text and "tpl{ { config } }{ % if 1 % }" in text
    # The regression and the users' side are about the hostile model, named intact in code.
    assert "x`|&lt;img src=x onerror=alert(1)&gt;" in html
    assert "got slower by +" in html
    subprocess.run(["git", "-C", str(blog.origin), "fsck", "--no-progress"], check=True, capture_output=True)


def test_a_draft_with_a_missing_benchmark_day_is_approved_with_its_evidence(tmp_path: Path, store: Any) -> None:
    from muse.agents import council, publisher
    from muse.config import load_settings

    w = World(tmp_path, None)
    blog = make_blog(tmp_path / "b")
    settings = load_settings(overrides={
        "repos.banterhearts.path": str(tmp_path / "hearts"), "repos.banterpacks.path": str(tmp_path / "packs"),
        "repos.banterblogs.path": str(blog.clone), "council.expected_bench_results_per_day": 8})
    w.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7, days=[0, 1, 2, 4, 5, 6])
    run_id, checked = str(uuid.uuid4()), datetime.now(timezone.utc)
    store.insert("watcher_runs", [{"ts": ts_str(checked), "run_id": run_id, "hearts_commit": w.hearts[-1],
                                   "packs_commit": w.packs[-1], "hearts_rows_found": 8, "packs_rows_found": 24,
                                   "lag_seconds": 1, "status": "valid"}])
    circuit.write_status(settings.state_dir, run_id=run_id, checked_at=checked, hearts_commit=w.hearts[-1],
                         packs_commit=w.packs[-1])
    gen = run_agent(settings, "council", council.run, store=store, now=NOW)
    assert gen.result.details["status"] == "draft" and gen.result.details["components"]["bench_completeness"] == 0
    first = run_agent(settings, "publish", publisher.run, store=store, episode=1)
    assert first.exit_code == ExitCode.OK, first.result.message
    assert blog.show("drafts", "posts/ep-1.evidence.json") and blog.show("main", "posts/ep-1.md") is None
    for name in ("ep-1.md", "ep-1.svg", "ep-1.evidence.json"):  # the clone moved on (another machine)
        (blog.clone / "posts" / name).unlink(missing_ok=True)
    approved = run_agent(settings, "publish", publisher.run, store=store, episode=1, approve=True, by="ana")
    assert approved.exit_code == ExitCode.OK, approved.result.message
    text = blog.show("main", "posts/ep-1.md")
    assert text and "approved_by: ana" in text and blog.show("main", "posts/ep-1.evidence.json")
    # The approval rewrote the front-matter only: every number still sits where its fact put it.
    from muse.analysis.evidence import trace

    doc = json.loads(blog.show("main", "posts/ep-1.evidence.json"))
    assert [t.number for t in trace(epfmt.parse(text).body, doc) if not t.traced] == []
