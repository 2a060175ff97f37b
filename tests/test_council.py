"""Council on a real chDB store and real git repos."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from muse import episode as epfmt
from muse.evidence import trace
from muse.runs import RunContext
from muse.telemetry import Telemetry

NOW = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)  # midnight: a data day is a calendar day


def git_repo(path: Path, commits: list[tuple[datetime, str]], *, files: dict[str, str] | None = None) -> list[str]:
    """A real repo with commits at the given times; returns their shas, oldest first."""
    import git

    repo = git.Repo.init(str(path), initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test").set_value("user", "email", "t@example.com")
    shas = []
    for i, (when, subject) in enumerate(commits):
        f = path / "log.txt"
        f.write_text(f.read_text() + f"{i}\n" if f.exists() else f"{i}\n")
        repo.index.add(["log.txt"])
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+0000")
        shas.append(repo.index.commit(subject, author_date=stamp, commit_date=stamp).hexsha)
    return shas


class World:
    """Repos, settings and a store filled with a week of benchmark and user data."""

    def __init__(self, tmp: Path, settings_factory: Any) -> None:
        self.tmp = tmp
        days = [NOW - timedelta(days=7 - i) for i in range(7)]
        self.hearts = git_repo(tmp / "hearts", [(d + timedelta(hours=2), f"bench tweak {i}") for i, d in enumerate(days)])
        self.packs = git_repo(tmp / "packs", [(d + timedelta(hours=3), f"ui change {i}") for i, d in enumerate(days)])
        (tmp / "blog").mkdir()
        git_repo(tmp / "blog", [(NOW - timedelta(days=30), "blog init")])
        self.settings_factory = settings_factory
        self.days = days

    def settings(self, **overrides: Any) -> Any:
        from muse.config import load_settings

        return load_settings(overrides={
            "repos.banterhearts.path": str(self.tmp / "hearts"), "repos.banterpacks.path": str(self.tmp / "packs"),
            "repos.banterblogs.path": str(self.tmp / "blog"), **overrides})

    def fill(self, store: Any, *, hearts_p95: list[float], user_latency: list[float], models: list[str] | None = None,
             hours_per_day: int = 24, days: list[int] | None = None) -> None:
        models = models or ["llama3-8b", "mistral-7b"]
        bench, stats, llm = [], [], []
        for i in (days if days is not None else range(len(self.days))):
            day = self.days[i]
            run_id = str(uuid.UUID(int=i + 1))
            for m in models:
                for q in ("q4_K_M", "fp16"):
                    for ds in ("chat", "code"):
                        bench.append({"ts": (day + timedelta(hours=2, minutes=5)).strftime("%Y-%m-%d %H:%M:%S.000"),
                                      "run_id": run_id, "commit_sha": self.hearts[i], "model": m, "quant": q,
                                      "dataset": ds, "latency_p50_ms": int(hearts_p95[i] * 0.6),
                                      "latency_p95_ms": int(hearts_p95[i]), "latency_p99_ms": int(hearts_p95[i] * 1.2),
                                      "tokens_per_sec": 42.5, "cost_per_1k": 0.002, "memory_peak_mb": 8000})
            for h in range(hours_per_day):
                hour = day.replace(minute=0) + timedelta(hours=h)
                stats.append({"hour": hour.strftime("%Y-%m-%d %H:%M:%S"), "commit_sha": self.packs[i],
                              "total_sessions": 50, "total_events": 400, "avg_latency_ms": user_latency[i],
                              "p95_latency_ms": int(user_latency[i] * 2), "error_rate": 0.02,
                              "abandonment_rate": 0.1})
            llm.append({"ts": (day + timedelta(hours=4)).strftime("%Y-%m-%d %H:%M:%S.000"), "event_id": i + 1,
                        "run_id": run_id, "source": "banterpacks", "commit_sha": self.packs[i], "model": models[0],
                        "operation": "chat", "tokens_in": 1000, "tokens_out": 200, "latency_ms": 900,
                        "cost_usd": 0.0125, "status": "ok"})
        store.insert("bench_runs", bench)
        store.insert("session_stats", stats)
        store.insert("llm_events", llm)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, None)


def ctx_for(settings: Any, store: Any, telemetry: Telemetry | None = None) -> RunContext:
    return RunContext("council", str(uuid.uuid4()), settings, store, telemetry or Telemetry(state_dir=settings.state_dir),
                      NOW)


def compose(world: World, store: Any, **overrides: Any):
    from muse.agents import council

    ctx = ctx_for(world.settings(**overrides), store)
    return council.compose(ctx, window=council.Window(NOW - timedelta(days=7), NOW))


RISING = [400, 410, 420, 430, 440, 450, 460]


def test_ready_episode_has_the_sections_and_every_number_traced(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=[900 + 10 * v / 4 for v in RISING])
    comp = compose(world, store)
    doc = epfmt.parse(comp.markdown)
    assert comp.status == "ready" and comp.confidence.final >= 0.6
    assert epfmt.section_titles(doc.body) == [*epfmt.REQUIRED_SECTIONS, *epfmt.TRAILING_SECTIONS]
    for field in epfmt.REQUIRED_FRONT_MATTER:
        assert field in doc.front_matter, field
    assert doc.front_matter["hearts_commit"] == world.hearts[-1]
    assert "DISCLAIMER" not in comp.markdown
    lines = trace(doc.body)
    assert len(lines) > 30
    assert [t.number for t in lines if not t.traced] == []
    # Correlation with r and n, as its own aggregate over joined days, against Python's.
    import statistics

    users = [900 + 10 * v / 4 for v in RISING]
    assert comp.correlation_r == pytest.approx(statistics.correlation(RISING, users), abs=1e-6)
    assert "r = +1.00, n = 7" in comp.markdown
    # The evidence names run ids of the rows behind the benchmark mean.
    assert str(uuid.UUID(int=3)) in doc.body.split("## Evidence")[1]
    assert "![Daily benchmark p95 latency against user latency](ep-1.svg)" in comp.markdown
    assert comp.svg.startswith("<svg") and comp.svg.count("<circle") == 14


def test_an_untraced_number_is_caught(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=RISING)
    comp = compose(world, store)
    body = epfmt.parse(comp.markdown).body.replace("## User experience\n", "## User experience\n\nUsers loved 17 new things.\n")
    assert [t.number for t in trace(body) if not t.traced] == ["17"]


def test_confidence_boundary_draft_below_ready_at(world: World, store: Any) -> None:
    noisy_users = [900, 950, 910, 990, 905, 1000, 940]
    world.fill(store, hearts_p95=RISING, user_latency=noisy_users)
    final = compose(world, store).confidence.final
    assert 0 < final < 1
    at = compose(world, store, **{"council.confidence_threshold": final})
    above = compose(world, store, **{"council.confidence_threshold": final + 1e-6})
    assert at.status == "ready" and "DISCLAIMER" not in at.markdown
    assert above.status == "draft"
    assert above.markdown.split("\n## ")[0].count("**DISCLAIMER:**") == 1  # at the top, before the sections


def test_fewer_than_three_days_means_no_correlation(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=RISING, days=[5, 6])
    comp = compose(world, store)
    assert comp.correlation_r is None and comp.confidence.correlation == 0
    assert comp.status == "draft"
    why = comp.markdown.split("## Why it matters")[1].split("## Data quality")[0]
    assert "only 2 days have both benchmark and user data, and at least 3 are needed" in why


def test_contradiction_is_stated(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=list(reversed(RISING)), user_latency=[900, 920, 940, 960, 980, 1000, 1020])
    comp = compose(world, store)
    why = comp.markdown.split("## Why it matters")[1]
    assert "contradict each other: benchmarks got faster" in why
    assert "**Contradiction:** benchmarks got faster while users saw slower responses." in comp.markdown


def test_hostile_model_names_and_commit_subjects(tmp_path: Path, store: Any) -> None:
    w = World(tmp_path, None)
    import git

    repo = git.Repo(str(tmp_path / "hearts"))
    (tmp_path / "hearts" / "x").write_text("x")
    repo.index.add(["x"])
    stamp = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    sha = repo.index.commit("## Fake heading | `tick` {{ boom }} ---\n\nbody 123", author_date=stamp,
                            commit_date=stamp).hexsha
    w.hearts[-1] = sha
    hostile = "evil`|model\n## Injected {% x %} <script>alert(1)</script> 99"
    w.fill(store, hearts_p95=RISING, user_latency=RISING, models=[hostile, "ok-model"])
    comp = compose(w, store)
    doc = epfmt.parse(comp.markdown)
    assert epfmt.section_titles(doc.body) == [*epfmt.REQUIRED_SECTIONS, *epfmt.TRAILING_SECTIONS]
    assert "{{" not in comp.markdown and "{%" not in comp.markdown
    # Raw HTML from data only ever appears inside code spans, where it renders as text.
    from muse.evidence import _CODE_SPAN

    assert "<script>" in comp.markdown and "<script>" not in _CODE_SPAN.sub("", comp.markdown)
    assert [t.number for t in trace(doc.body) if not t.traced] == []
    assert yaml.safe_load(comp.markdown.split("---\n")[1])["hearts_commit"] == sha
