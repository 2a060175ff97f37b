"""Council on a real chDB store and real git repos: confidence from data quality, honest
statistics, the benchmark->user link, numbers bound to facts."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from muse import episode as epfmt
from muse.analysis import circuit
from muse.analysis import factrules
from muse.analysis.evidence import trace
from muse.hours import ts_str
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
    """Repos, settings and a store filled with ``n_days`` of benchmark and user data."""

    def __init__(self, tmp: Path, settings_factory: Any, n_days: int = 7) -> None:
        self.tmp = tmp
        days = [NOW - timedelta(days=n_days - i) for i in range(n_days)]
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
            "repos.banterblogs.path": str(self.tmp / "blog"),
            "council.expected_bench_results_per_day": 8, **overrides})  # fill(): 2 models x 2 quants x 2 datasets

    def fill(self, store: Any, *, hearts_p95: list[float], user_latency: list[float], models: list[str] | None = None,
             hours_per_day: int | dict[int, int] = 24, days: list[int] | None = None,
             step: tuple[str, int, float] | None = None) -> None:
        """One benchmark run a day; ``step = (model, day index, factor)`` multiplies that
        model's p95 from that day on (a planted regression)."""
        models = models or ["llama3-8b", "mistral-7b"]
        bench, stats, llm = [], [], []
        for i in (days if days is not None else range(len(self.days))):
            day = self.days[i]
            run_id = str(uuid.UUID(int=i + 1))
            for m in models:
                factor = step[2] if step and m == step[0] and i >= step[1] else 1.0
                for q in ("q4_K_M", "fp16"):
                    for ds in ("chat", "code"):
                        p95 = hearts_p95[i] * factor
                        bench.append({"ts": (day + timedelta(hours=2, minutes=5)).strftime("%Y-%m-%d %H:%M:%S.000"),
                                      "run_id": run_id, "commit_sha": self.hearts[i], "model": m, "quant": q,
                                      "dataset": ds, "latency_p50_ms": int(p95 * 0.6),
                                      "latency_p95_ms": int(p95), "latency_p99_ms": int(p95 * 1.2),
                                      "tokens_per_sec": 42.5, "cost_per_1k": 0.002, "memory_peak_mb": 8000})
            hours = hours_per_day.get(i, 24) if isinstance(hours_per_day, dict) else hours_per_day
            for h in range(hours):
                hour = day.replace(minute=0) + timedelta(hours=h)
                stats.append({"hour": hour.strftime("%Y-%m-%d %H:%M:%S"), "commit_sha": self.packs[i],
                              "total_sessions": 50, "total_events": 400, "avg_latency_ms": user_latency[i],
                              "p95_latency_ms": int(user_latency[i] * 2), "error_rate": 0.02,
                              "abandonment_rate": 0.1})
            llm.append({"ts": (day + timedelta(hours=4)).strftime("%Y-%m-%d %H:%M:%S.000"), "event_id": i + 1,
                        "run_id": run_id, "source": "banterhearts", "commit_sha": self.hearts[i], "model": models[0],
                        "operation": "generate", "tokens_in": 1000, "tokens_out": 200, "latency_ms": 900,
                        "cost_usd": 0.0125, "status": "ok"})
        store.insert("bench_runs", bench)
        store.insert("session_stats", stats)
        store.insert("llm_events", llm)

    def fill_users(self, store: Any, *, models: dict[str, float], per_day: int = 60,
                   slower: tuple[str, int, float] | None = None, seed: int = 7) -> None:
        """banterpacks users' LLM calls: ``models`` maps model -> median latency; ``slower =
        (model, day index, factor)`` slows that model's calls from that day's 02:00 on."""
        rng = random.Random(seed)
        rows = []
        eid = 10_000
        for i, day in enumerate(self.days):
            for m, base in models.items():
                for k in range(per_day):
                    ts = day + timedelta(minutes=k * (1440 // per_day) + 1)
                    factor = slower[2] if slower and m == slower[0] and ts >= self.days[slower[1]] + timedelta(
                        hours=2) else 1.0
                    eid += 1
                    rows.append({"ts": ts.strftime("%Y-%m-%d %H:%M:%S.000"), "event_id": eid,
                                 "run_id": str(uuid.UUID(int=0)), "source": "banterpacks", "commit_sha": self.packs[i],
                                 "model": m, "operation": "chat", "tokens_in": 300, "tokens_out": 100,
                                 "latency_ms": int(base * factor * rng.uniform(0.8, 1.2)), "cost_usd": 0.0001,
                                 "status": "ok"})
        store.insert("llm_events", rows)

    def insight(self, store: Any, *, model: str, day: int, quant: str = "q4_K_M", dataset: str = "chat",
                baseline: float = 400.0, observed: float = 600.0) -> None:
        ts = ts_str(self.days[day] + timedelta(hours=2, minutes=5))
        store.insert("insights", [{
            "insight_id": f"reg-{model}-{day}", "type": "latency_regression", "severity": "critical", "status": "open",
            "title": "latency regression", "description": "", "observed_at": ts, "source": "banterhearts",
            "model": model, "quant": quant, "dataset": dataset, "operation": "", "commit_sha": self.hearts[day],
            "metric": "latency_p95_ms", "baseline_value": baseline, "observed_value": observed, "z_score": 9.5,
            "created_at": ts, "updated_at": ts, "analytics_run_id": str(uuid.uuid4())}])


def vouch(world: World, store: Any, *, at: datetime = NOW - timedelta(minutes=5)) -> circuit.GateVerdict:
    """A passing watcher run for the latest commits, as the gate reports it."""
    run_id = str(uuid.uuid4())
    store.insert("watcher_runs", [{
        "ts": ts_str(at), "run_id": run_id, "hearts_commit": world.hearts[-1], "packs_commit": world.packs[-1],
        "hearts_rows_found": 8, "packs_rows_found": 24, "hearts_status": "valid", "packs_status": "valid",
        "lag_seconds": 60, "status": "valid"}])
    return circuit.GateVerdict(True, "ok", run_id=run_id, hearts_commit=world.hearts[-1], packs_commit=world.packs[-1])


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, None)


def ctx_for(settings: Any, store: Any, telemetry: Telemetry | None = None) -> RunContext:
    return RunContext("council", str(uuid.uuid4()), settings, store, telemetry or Telemetry(state_dir=settings.state_dir),
                      NOW)


def compose(world: World, store: Any, *, days: int | None = None, verdict: Any = "vouch", **overrides: Any):
    from muse.agents import council

    ctx = ctx_for(world.settings(**overrides), store)
    if verdict == "vouch":
        verdict = vouch(world, store)
    n = days or len(world.days)
    return council.compose(ctx, window=council.Window(NOW - timedelta(days=n), NOW), verdict=verdict)


def section(md: str, title: str) -> str:
    return md.split(f"## {title}\n")[1].split("\n## ")[0]


def untraced(comp: Any, body: str | None = None) -> list[str]:
    body = epfmt.parse(comp.markdown).body if body is None else body
    return [t.number for t in trace(body, comp.evidence) if not t.traced]


RISING = [400, 410, 420, 430, 440, 450, 460]


def test_ready_episode_every_number_bound_to_a_fact(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=[900 + 10 * v / 4 for v in RISING])
    comp = compose(world, store)
    doc = epfmt.parse(comp.markdown)
    assert comp.status == "ready" and comp.confidence.final == 1.0, comp.confidence.components
    assert set(comp.confidence.components) == {"bench_completeness", "telemetry_completeness", "freshness", "watcher"}
    assert epfmt.section_titles(doc.body) == [*epfmt.REQUIRED_SECTIONS, *epfmt.TRAILING_SECTIONS]
    assert doc.front_matter["evidence"] == "ep-1.evidence.json"
    assert "DISCLAIMER" not in comp.markdown
    lines = trace(doc.body, comp.evidence)
    assert len(lines) > 30 and untraced(comp) == []
    # Each occurrence resolves to the fact printed there, not the first fact with that value:
    # "n = 7" is the joined-days count of the correlation, never a commit count.
    n_line = next(t for t in lines if t.number == "7" and "n = 7" in doc.body[t.offset - 4:t.offset + 1])
    assert n_line.fact["query"] == "council_correlation" and n_line.fact["rule"]["args"]["part"] == "n"
    # Markers are invisible: no private-use character reaches the file.
    assert not any("\ue000" <= ch <= "\uf8ff" for ch in comp.markdown)
    # The evidence lists run ids of the rows behind the benchmark mean.
    mean = next(f for f in comp.evidence["facts"] if f["label"].startswith("mean benchmark p95"))
    assert str(uuid.UUID(int=3)) in mean["row_keys"]
    assert "[`ep-1.evidence.json`](ep-1.evidence.json)" in section(comp.markdown, "Evidence")


def test_perfect_but_small_correlation_is_too_small_never_strong(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=[900 + 10 * v / 4 for v in RISING])
    comp = compose(world, store)
    why = section(comp.markdown, "Why it matters")
    assert "r = +1.00" in why and "n = 7" in why
    assert "too small to tell" in why and "strong" not in why
    # Exact permutation p-value for r = 1 at n = 7: 2 of 7! orderings reach |r| = 1.
    p = next(f for f in comp.evidence["facts"] if f["label"].startswith("permutation p-value"))
    assert p["value"] == pytest.approx(2 / 5040)


def test_negative_correlation_is_a_contradiction(tmp_path: Path, store: Any) -> None:
    w = World(tmp_path, None, n_days=12)
    bench = [400 + 10 * i for i in range(12)]
    users = [1300 - 12 * i + (5 if i % 2 else -5) for i in range(12)]
    w.fill(store, hearts_p95=bench, user_latency=users)
    comp = compose(w, store)
    why = section(comp.markdown, "Why it matters")
    assert comp.correlation_r is not None and comp.correlation_r < -0.9
    assert "n = 12" in why and "**contradiction** between the sources" in why
    assert "too small" not in why and "strong correlation" not in why
    assert "agree" not in why
    assert "**Contradiction:** day by day" in section(comp.markdown, "TL;DR")
    # The material moves disagree too: benchmark up, users down, both over 5%.
    assert "**Contradiction:** across the full days the benchmark got slower" in why


def test_strong_only_with_enough_days_and_significance(tmp_path: Path, store: Any) -> None:
    w = World(tmp_path, None, n_days=12)
    rng = random.Random(3)
    bench = [400 + 10 * i for i in range(12)]
    users = [900 + 9 * i + rng.uniform(-4, 4) for i in range(12)]
    w.fill(store, hearts_p95=bench, user_latency=users)
    comp = compose(w, store)
    why = section(comp.markdown, "Why it matters")
    assert "That is a strong correlation: at least 10 days and p below 0.05." in why
    lo = next(f for f in comp.evidence["facts"] if f["label"].startswith("r, 95% interval low"))
    hi = next(f for f in comp.evidence["facts"] if f["label"].startswith("r, 95% interval high"))
    assert 0 < lo["value"] < comp.correlation_r < hi["value"] <= 1


def test_agree_only_when_both_moves_are_material(world: World, store: Any) -> None:
    flat_bench = [450, 452, 449, 451, 450, 452, 451]
    rising_users = [900, 920, 950, 1000, 1050, 1100, 1150]
    world.fill(store, hearts_p95=flat_bench, user_latency=rising_users)
    why = section(compose(world, store).markdown, "Why it matters")
    assert "while the benchmark did not move materially" in why
    assert "agree" not in why and "Contradiction" not in why
    # A looser threshold (configurable) still does not turn a 0.2% wobble into agreement.
    why = section(compose(world, store, **{"council.material_change": 0.5}).markdown, "Why it matters")
    assert "neither the benchmark" in why and "under" not in why.split("Across the full days")[1]


def test_a_missing_benchmark_day_makes_a_draft(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=RISING, days=[0, 1, 2, 4, 5, 6])
    comp = compose(world, store)
    assert comp.confidence.components["bench_completeness"] == 0.0
    assert comp.status == "draft" and comp.front_matter["status"] == "draft"
    assert comp.markdown.split("\n## ")[0].count("**DISCLAIMER:**") == 1
    assert "Benchmark completeness 0.00" in section(comp.markdown, "Data quality")
    assert untraced(comp) == []


def test_missing_telemetry_hours_lower_confidence_but_the_running_hour_does_not(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=RISING, hours_per_day={3: 12})
    comp = compose(world, store)
    assert comp.confidence.components["telemetry_completeness"] == pytest.approx(0.5)
    assert comp.status == "draft"
    # A window ending mid-hour: the running hour has no rollup yet and is not missing.
    from muse.agents import council

    store.execute("TRUNCATE TABLE session_stats")
    world.fill(store, hearts_p95=RISING, user_latency=RISING)
    ctx = ctx_for(world.settings(), store)
    c2 = council.compose(ctx, window=council.Window(NOW - timedelta(days=7) + timedelta(minutes=30),
                                                    NOW + timedelta(minutes=30)), verdict=vouch(world, store))
    assert c2.confidence.components["telemetry_completeness"] == 1.0


def test_no_watcher_verdict_is_a_draft(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=RISING, user_latency=RISING)
    comp = compose(world, store, verdict=None)
    assert comp.confidence.components["watcher"] == 0.0 and comp.status == "draft"
    assert "no passing watcher check covers this window" in section(comp.markdown, "Data quality")
    # A verdict for other commits, or too old for the window's end, does not cover it either.
    for commit, age in ((world.hearts[-2], timedelta(minutes=5)), (world.hearts[-1], timedelta(hours=5))):
        run_id = str(uuid.uuid4())
        store.insert("watcher_runs", [{"ts": ts_str(NOW - age), "run_id": run_id, "hearts_commit": commit,
                                       "packs_commit": world.packs[-1], "hearts_rows_found": 1,
                                       "packs_rows_found": 1, "lag_seconds": 1, "status": "valid"}])
        other = circuit.GateVerdict(True, "ok", run_id=run_id, hearts_commit=commit, packs_commit=world.packs[-1])
        assert compose(world, store, verdict=other).confidence.components["watcher"] == 0.0


def test_regression_links_to_the_same_models_users_with_controls(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7, models=["llama3-8b", "mistral-7b"],
               step=("mistral-7b", 3, 1.5))
    world.fill_users(store, models={"mistral-7b": 800, "llama3-8b": 600, "qwen2-7b": 700}, slower=("mistral-7b", 3, 1.5))
    world.insight(store, model="mistral-7b", day=3, baseline=400, observed=600)
    comp = compose(world, store, **{"council.link_span_days": 3})
    md = comp.markdown
    tldr, why = section(md, "TL;DR"), section(md, "Why it matters")
    assert "**Regression:** `mistral-7b` `q4_K_M` on `chat`" in tldr and "(+50.0%)" in tldr
    assert f"at commit `{world.hearts[3][:10]}`" in tldr
    assert why.lstrip().startswith("**Users' `mistral-7b` calls (operation `chat`) got slower by +")
    link = next(f for f in comp.evidence["facts"] if f["label"].startswith("user latency change") and "mistral" in f["label"])
    low = next(f for f in comp.evidence["facts"] if f["label"].startswith("95% interval low") and "mistral" in f["label"])
    high = next(f for f in comp.evidence["facts"] if f["label"].startswith("95% interval high") and "mistral" in f["label"])
    assert 0.4 < low["value"] < link["value"] < high["value"] < 0.6
    assert "180 calls before and 180 after" in why  # 3 days x 60 calls either side
    assert "Control, the other models over the same span: `llama3-8b`" in why and "`qwen2-7b`" in why
    ctrl = [f for f in comp.evidence["facts"] if f["label"].startswith("user latency change") and "mistral" not in f["label"]]
    assert len(ctrl) == 2 and all(abs(f["value"]) < 0.05 for f in ctrl)
    assert "The benchmark and the users agree: both got slower" in why
    # Model performance shows the step (median before vs after the commit), not first vs latest.
    perf = section(md, "Model performance")
    row = next(line for line in perf.splitlines() if line.startswith("| `mistral-7b` | `q4_K_M` | `chat`"))
    assert "| 400 ms | 3 | 600 ms | 4 | +50.0% |" in row
    # The commit the finding names is listed in What shipped, marked.
    assert f"`{world.hearts[3][:10]}` `bench tweak 3`" in section(md, "What shipped")
    assert "named by a finding" in section(md, "What shipped")
    assert untraced(comp) == []


def test_user_data_that_cannot_speak_says_so(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7, step=("mistral-7b", 3, 1.5))
    world.fill_users(store, models={"llama3-8b": 600}, per_day=3)
    world.insight(store, model="mistral-7b", day=3)
    why = section(compose(world, store).markdown, "Why it matters")
    assert "User data cannot speak to the `mistral-7b` change" in why and "no banterpacks user calls" in why
    store.execute("TRUNCATE TABLE insights")
    world.insight(store, model="llama3-8b", day=3)
    why = section(compose(world, store).markdown, "Why it matters")
    assert "User data cannot speak to the `llama3-8b` change" in why and "at least 20 needed on each side" in why


def test_a_hand_inserted_number_fails_trace_and_the_validator(world: World, store: Any, tmp_path: Path) -> None:
    from muse.publishing.validate import validate_text

    world.fill(store, hearts_p95=RISING, user_latency=RISING)
    comp = compose(world, store)
    posts = tmp_path / "blog" / "posts"
    posts.mkdir(parents=True)
    (posts / "ep-1.svg").write_text(comp.svg)
    (posts / "ep-1.evidence.json").write_text(json.dumps(comp.evidence))
    assert validate_text(comp.markdown, path=posts / "ep-1.md", repo_root=tmp_path / "blog").ok
    forged = comp.markdown.replace("## User experience\n", "## User experience\n\nIt cost users 84 ms and 192 lost "
                                   "sessions.\n")
    body = epfmt.parse(forged).body
    bad = untraced(comp, body)
    assert bad[:2] == ["84", "192"]
    report = validate_text(forged, path=posts / "ep-1.md", repo_root=tmp_path / "blog")
    assert not report.ok and any("'84' was not produced by any fact" in line for line in report.lines())
    # A number that repeats a real value elsewhere is not traced by value either.
    n_copy = comp.markdown.replace("## TL;DR\n", "## TL;DR\n\nn = 7\n")
    assert "7" in untraced(comp, epfmt.parse(n_copy).body)


def test_every_fact_reproduces_on_rerun_and_a_changed_row_shows(world: World, store: Any) -> None:
    world.fill(store, hearts_p95=[400] * 7, user_latency=[1000 + i for i in range(7)], step=("mistral-7b", 3, 1.5))
    world.fill_users(store, models={"mistral-7b": 800, "llama3-8b": 600}, slower=("mistral-7b", 3, 1.5))
    world.insight(store, model="mistral-7b", day=3)
    s = world.settings()
    comp = compose(world, store)
    facts = {f["id"]: f for f in comp.evidence["facts"]}
    for f in facts.values():
        value, display, same = factrules.check(f, store=store, settings=s, facts=facts)
        assert same, (f["id"], f["label"], f["display"], display)
    # Change a benchmark row behind a fact: its re-run no longer reproduces.
    store.insert("bench_runs", [{"ts": ts_str(world.days[5] + timedelta(hours=9)), "run_id": str(uuid.uuid4()),
                                 "commit_sha": world.hearts[5], "model": "mistral-7b", "quant": "q4_K_M",
                                 "dataset": "chat", "latency_p50_ms": 1, "latency_p95_ms": 9000, "latency_p99_ms": 1,
                                 "tokens_per_sec": 1, "cost_per_1k": 0, "memory_peak_mb": 1}])
    mean = next(f for f in facts.values() if f["label"].startswith("mean benchmark p95"))
    assert not factrules.check(mean, store=store, settings=s, facts=facts)[2]


HOSTILE = ["x`|<img src=x onerror=alert(1)>", "{{ boom }}{% x %}", "evil\n## Injected <script>alert(1)</script> 99",
           "\x1b[31mred\u202egnp.exe", "a" * 400]


def test_hostile_model_names_and_commit_subjects_cannot_break_the_post(tmp_path: Path, store: Any) -> None:
    from markdown_it import MarkdownIt
    from xml.etree import ElementTree

    from muse.publishing.validate import validate_text

    w = World(tmp_path, None)
    import git

    repo = git.Repo(str(tmp_path / "hearts"))
    (tmp_path / "hearts" / "x").write_text("x")
    repo.index.add(["x"])
    stamp = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    w.hearts[-1] = repo.index.commit("## Fake heading | `tick` {{ boom }} <b>x</b> ---\n\nbody 123",
                                     author_date=stamp, commit_date=stamp).hexsha
    models = [*HOSTILE, "ok-model"]
    w.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7, models=models, step=(HOSTILE[0], 3, 1.5))
    w.fill_users(store, models={HOSTILE[0]: 800, HOSTILE[1]: 700}, slower=(HOSTILE[0], 3, 1.4))
    for m in HOSTILE:
        w.insight(store, model=m, day=3)
    store.insert("insights", [{"insight_id": "odd", "type": "p99 regression 2", "severity": "sev 1 <b>",
                               "status": "open", "title": "", "description": "", "observed_at": ts_str(w.days[4]),
                               "source": "x|1", "metric": "tokens per 1k `x`", "observed_value": 3.0,
                               "created_at": ts_str(w.days[4]), "updated_at": ts_str(w.days[4]),
                               "analytics_run_id": str(uuid.uuid4())}])
    comp = compose(w, store)  # data digits in prose would be untraced numbers: they go in code
    doc = epfmt.parse(comp.markdown)
    assert epfmt.section_titles(doc.body) == [*epfmt.REQUIRED_SECTIONS, *epfmt.TRAILING_SECTIONS]
    assert untraced(comp) == []
    html = MarkdownIt("commonmark").enable("table").render(doc.body)
    tokens = MarkdownIt("commonmark").enable("table").parse(doc.body)
    raw = [t for t in tokens if t.type == "html_block"] + [c for t in tokens for c in (t.children or [])
                                                           if c.type == "html_inline"]
    assert raw == [] and html.count("<img") == 1 and '<img src="ep-1.svg"' in html  # the chart only
    assert "<script" not in html and "<b>" not in html
    cells, rows = 0, []
    for t in tokens:  # every table row keeps its nine cells: no '|' from data split one
        if t.type == "tr_open":
            cells = 0
        elif t.type in ("td_open", "th_open"):
            cells += 1
        elif t.type == "tr_close":
            rows.append(cells)
    assert len(rows) >= 6 and set(rows) == {9}
    assert "x`|&lt;img src=x onerror=alert(1)&gt;" in html  # shown as text, whole
    assert "\x1b" not in comp.markdown and "\u202e" not in comp.markdown
    fm = yaml.safe_load(comp.markdown.split("---\n")[1])
    assert "<" not in fm["title"] + fm["summary"] and "{{" not in fm["title"] + fm["summary"]
    ElementTree.fromstring(comp.svg)  # well-formed XML: no control characters, escaped text
    assert "<img" not in comp.svg
    posts = tmp_path / "blog" / "posts"
    posts.mkdir(parents=True)
    (posts / "ep-1.svg").write_text(comp.svg)
    (posts / "ep-1.evidence.json").write_text(json.dumps(comp.evidence))
    report = validate_text(comp.markdown, path=posts / "ep-1.md", repo_root=tmp_path / "blog")
    assert report.ok, report.lines()


def test_chart_draws_both_series_on_one_percent_axis(world: World, store: Any) -> None:
    from xml.etree import ElementTree

    wobble = [745, 752, 748, 759, 747, 750, 749]  # a 1.9% benchmark wobble
    users = [1000, 1040, 1080, 1120, 1160, 1200, 1240]  # users +24%
    world.fill(store, hearts_p95=wobble, user_latency=users)
    svg = ElementTree.fromstring(compose(world, store).svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = [[float(p.split(",")[1]) for p in pl.get("points").split()] for pl in svg.iter(f"{ns}polyline")]
    bench, user = lines[0], lines[1]
    spread = lambda ys: max(ys) - min(ys)  # noqa: E731
    # Same axis: the wobble spans a tenth of the users' rise, not the full height beside it.
    assert spread(bench) < 0.1 * spread(user)
    texts = [t.text for t in svg.iter(f"{ns}text")]
    assert any("% change from the first full day (2026-11-13)" in (t or "") for t in texts)
    assert "+0%" in texts
