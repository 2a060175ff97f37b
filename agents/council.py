"""Council: the daily episode, every number bound to a fact, every conclusion worded by its statistics.

Pipeline: gate (the watcher's status file, unless forced) -> facts from the store, each
computed by a named query and a rule (:mod:`muse.analysis.factrules`) -> confidence from data
quality only -> Jinja2 templates that print facts, never bare numbers ->
``<blog repo>/<posts_dir>/ep-{n}.md`` + ``ep-{n}.svg`` + ``ep-{n}.evidence.json`` -> an
episodes row.

Confidence is the minimum of four data-quality components (docs/council.md): benchmark
completeness and telemetry completeness (per day, the worst day counts), freshness, and
whether the watcher's last passing check covers the window. The day-by-day correlation is a
finding, worded by n, its Fisher-z interval and a permutation p-value; it is no part of
confidence. The benchmark->user link compares, for each regression finding, the same model's
user-side LLM latency before and after the commit over equal spans.

The optional LLM narrator (:mod:`muse.analysis.narrator`, docs/narrator.md) hooks into
:func:`compose` after the template renders: it rewrites prose sections with verified
claims printed through the same facts, so ``muse council trace`` still holds every number.

Entry point: :func:`run`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from muse import episode as epfmt
from muse import escaping as esc
from muse.analysis import factrules
from muse.errors import BlockedError, ConfigError
from muse.analysis.evidence import Fact, Facts, dump_sidecar, sha256, sidecar, strip_markers, trace
from muse.fsutil import atomic_write_text
from muse.hours import parse_ts, ts_str
from muse.runs import AgentResult, RunContext
from muse.templating import render

log = logging.getLogger(__name__)

SHIPPED_LIMIT = 15  # commits listed per repo besides those a finding names; the count is complete
MODEL_ROWS = 8  # model performance rows besides every group with a finding
STRONG_MIN_N = 10
STRONG_MAX_P = 0.05
_FACT_IDS = "\ue003facts\ue003"  # placeholder for the Evidence section's list of fact ids


@dataclass
class Window:
    since: datetime
    until: datetime

    @property
    def params(self) -> dict[str, str]:
        return {"since": ts_str(self.since), "until": ts_str(self.until)}

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400

    @property
    def full(self) -> tuple[datetime, datetime]:
        """The whole UTC days inside the window (partial first/last days left out)."""
        start = self.since.replace(hour=0, minute=0, second=0, microsecond=0)
        if start < self.since:
            start += timedelta(days=1)
        end = self.until.replace(hour=0, minute=0, second=0, microsecond=0)
        return (start, end) if end > start else (self.since, self.until)


@dataclass
class Confidence:
    components: dict[str, float]
    threshold: float
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> float:
        return min(self.components.values())

    @property
    def is_draft(self) -> bool:
        return self.final < self.threshold

    # The episodes table keeps its three columns (completeness, correlation_strength, recency).
    @property
    def completeness(self) -> float:
        return min(self.components["bench_completeness"], self.components["telemetry_completeness"])

    @property
    def recency(self) -> float:
        return self.components["freshness"]


@dataclass
class Composition:
    """Everything an episode says, before it is written anywhere."""

    episode: int
    title: str
    status: str
    front_matter: dict[str, Any]
    markdown: str
    svg: str
    evidence: dict[str, Any]
    confidence: Confidence
    correlation_r: float | None
    tokens_total: int
    cost_total: float
    facts: Facts
    hearts_commit: str
    packs_commit: str
    narration: Any = None  # muse.analysis.narrator.Narration when the narrator ran (issue 21)


def _repo_path(ctx: RunContext, repo: str) -> Path:
    path = ctx.settings.repos.named(repo).dir
    if path is None:
        raise ConfigError(
            f"repos.{repo}.path is not set", hint=f"set it in the config file or MUSE_REPOS_{repo.upper()}_PATH"
        )
    return path


class _Facts:
    """Facts computed through the same rules ``trace --run`` uses, rows cached per query."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.facts = Facts()
        self._cache: dict[str, list[dict[str, Any]]] = {}

    def rows(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        key = query + json.dumps(params, sort_keys=True, default=str)
        if key not in self._cache:
            self._cache[key] = self.store.named(query, params).dicts()
        return self._cache[key]

    def sql(
        self,
        query: str,
        params: dict[str, Any],
        rule: str,
        fmt: str = "{:,.0f}",
        *,
        label: str,
        unit: str = "",
        keys: Any = (),
        scale: float = 1.0,
        **args: Any,
    ) -> Fact:
        r = {"name": rule, "args": args}
        value = factrules.apply(r, self.rows(query, params))
        return self.facts.add(
            value, fmt, label=label, query=query, params=params, rule=r, keys=keys, unit=unit, scale=scale
        )

    def pct(self, query: str, params: dict[str, Any], rule: str, *, label: str, keys: Any = (), **args: Any) -> Fact:
        return self.sql(query, params, rule, "{:+.1f}", label=label, unit="%", keys=keys, scale=100.0, **args)

    def other(
        self,
        value: Any,
        fmt: str,
        *,
        kind: str,
        label: str,
        query: str,
        params: dict[str, Any] | None = None,
        rule: dict[str, Any] | None = None,
        unit: str = "",
        keys: Any = (),
        scale: float = 1.0,
    ) -> Fact:
        return self.facts.add(
            value, fmt, label=label, query=query, params=params, rule=rule, unit=unit, keys=keys, kind=kind, scale=scale
        )

    def window(
        self, value: Any, fmt: str = "{}", *, label: str, params: dict[str, Any], query: str = "council window"
    ) -> Fact:
        """A time, day or count that places the episode's data, as a fact of kind ``window``."""
        return self.other(value, fmt, kind="window", label=label, query=query, params=params)

    def rule(
        self, value: Any, fmt: str, *, label: str, params: dict[str, Any], unit: str = "", scale: float = 1.0
    ) -> Fact:
        """A constant of the council's own rules the episode prints (an interval level, a threshold)."""
        return self.other(
            value, fmt, kind="config", label=label, query="council rule", params=params, unit=unit, scale=scale
        )

    def config(self, key: str, value: Any, fmt: str, *, label: str, unit: str = "", scale: float = 1.0) -> Fact:
        """A setting the episode prints, as a fact that names its config key."""
        return self.other(
            value, fmt, kind="config", label=label, query=f"config {key}", params={"key": key}, unit=unit, scale=scale
        )


def _is_change_finding(ins: dict[str, Any]) -> bool:
    t = str(ins.get("type") or "")
    return t.endswith("_regression") or t.endswith("_improvement")


def _day(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d")


def _minute(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


def compose(
    ctx: RunContext,
    *,
    window: Window,
    episode: int | None = None,
    forced: bool = False,
    gate_reason: str = "",
    verdict: Any = None,
    hearts_commit: str | None = None,
    packs_commit: str | None = None,
    run_id: str | None = None,
    narrate: bool = False,
) -> Composition:
    """Compute every fact of the window, score confidence, render the episode and its evidence.

    The steps run in the order the facts are numbered (E1, E2, ...): the window, the
    confidence, the analytics findings, model performance around each change point, the
    benchmark-to-user links, what shipped, benchmarks and users over the full days, their
    correlation and LLM spend; then the episode is rendered, optionally narrated, and
    checked number by number against its evidence.
    """
    F = _Facts(ctx.store)
    repos, hearts_commit, packs_commit = _sources(ctx, hearts_commit, packs_commit)
    if episode is None:
        episode = _next_episode(ctx.store, hearts_commit, packs_commit)

    story = _story(F, ctx, window, repos, verdict=verdict, hearts_commit=hearts_commit, packs_commit=packs_commit)
    title = esc.yaml_text(f"Episode {episode}: {_headline(story.primary)}")
    marked = render(
        "episode.md.j2", **_episode_context(F, episode, title, story, forced=forced, gate_reason=gate_reason)
    )
    narration = None
    if narrate:
        marked, narration = _narrate_unpublished(ctx, F, episode, marked, run_id=run_id or ctx.run_id)
    quality, changes, sums = story.quality, story.changes, story.summaries
    fm = _front_matter(
        episode,
        title,
        window,
        quality.conf,
        esc.yaml_text(_summary(story.primary, changes.links, sums.hearts, sums.packs)),
        hearts_commit=hearts_commit,
        packs_commit=packs_commit,
        run_id=run_id or ctx.run_id,
        forced=forced,
    )
    markdown, evidence = _traced_markdown(F, episode, fm, marked)
    svg = render("chart.svg.j2", **_chart_context(F, episode, story))
    return Composition(
        episode,
        title,
        fm["status"],
        fm,
        markdown,
        svg,
        evidence,
        quality.conf,
        sums.corr["r_value"],
        sums.tokens_total,
        sums.cost_total,
        F.facts,
        hearts_commit,
        packs_commit,
        narration,
    )


_Repos = tuple[tuple[str, Path, str], ...]


def _sources(ctx: RunContext, hearts_commit: str | None, packs_commit: str | None) -> tuple[_Repos, str, str]:
    """Both source repos as (name, path, branch), and the commits the episode covers: the
    given ones, else each branch's newest."""
    from muse import gitrepo

    s = ctx.settings
    hearts_repo, packs_repo = _repo_path(ctx, "banterhearts"), _repo_path(ctx, "banterpacks")
    h_branch, p_branch = s.repos.banterhearts.branch, s.repos.banterpacks.branch
    hearts_commit = hearts_commit or gitrepo.latest_commit(hearts_repo, h_branch).sha
    packs_commit = packs_commit or gitrepo.latest_commit(packs_repo, p_branch).sha
    repos = (("banterhearts", hearts_repo, h_branch), ("banterpacks", packs_repo, p_branch))
    return repos, hearts_commit, packs_commit


@dataclass
class _Changes:
    """The analytics findings, the change points they name, and what each did to benchmarks and users."""

    findings: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    commit_times: dict[str, Any]
    perf: _Performance
    lookback: Fact
    links: list[dict[str, Any]]


@dataclass
class _Summaries:
    """Benchmarks and users over the full days, their correlation, and LLM spend in the window."""

    hearts: dict[str, Fact] | None
    packs: dict[str, Fact] | None
    corr_rows: list[dict[str, Any]]
    corr: dict[str, Any]
    moves: dict[str, Any]
    material: Fact
    llm: dict[str, Fact]
    tokens_total: int
    cost_total: float


@dataclass
class _Story:
    """Everything the episode tells, each number a fact, computed in the order the facts are numbered."""

    window: dict[str, Fact]
    quality: _Quality
    changes: _Changes
    shipped: dict[str, Any]
    summaries: _Summaries
    primary: dict | None


def _story(
    F: _Facts,
    ctx: RunContext,
    window: Window,
    repos: _Repos,
    *,
    verdict: Any,
    hearts_commit: str,
    packs_commit: str,
) -> _Story:
    """The facts of the window, step by step; ``repos`` is (name, path, branch) of both sources."""
    full_since, full_until = window.full
    fp = {"since": ts_str(full_since), "until": ts_str(full_until)}
    full_days = factrules.days_between(full_since, full_until)
    win = _window_facts(F, window, fp, full_days)
    quality = _confidence(
        F, ctx, window, fp, full_days, verdict=verdict, hearts_commit=hearts_commit, packs_commit=packs_commit
    )
    changes = _changes(F, ctx, window, repos[0][1])
    shipped = _shipped(F, window, changes.commit_times, repos)
    summaries = _summaries(F, ctx, window, fp, quality)
    primary = _primary(changes.changes, changes.perf.by_key)
    return _Story(win, quality, changes, shipped, summaries, primary)


def _changes(F: _Facts, ctx: RunContext, window: Window, hearts_repo: Path) -> _Changes:
    """The findings, the benchmark series around the commits they name, and the users' side of each."""
    s = ctx.settings
    material = s.council.material_change
    span_days = s.council.link_span_days
    findings = _findings(F, window.params)
    changes = [x for x in findings if _is_change_finding(x["raw"])]
    commit_times = _commit_times(hearts_repo, changes)
    perf = _model_performance(F, window, changes, commit_times, span_days)
    lookback_fact = F.config("council.link_span_days", span_days, "{:g}", label="days either side of a change point")
    links = _links(
        F,
        ctx.store,
        window,
        changes,
        commit_times,
        perf.by_key,
        span_days=span_days,
        min_calls=s.council.link_min_calls,
        material=material,
    )
    return _Changes(findings, changes, commit_times, perf, lookback_fact, links)


def _summaries(F: _Facts, ctx: RunContext, window: Window, fp: dict[str, str], quality: _Quality) -> _Summaries:
    """The full days' benchmarks and users, whether they moved together, and what the LLM calls cost."""
    material = ctx.settings.council.material_change
    hearts = _hearts_summary(F, fp, quality.hearts_daily_full)
    packs = _packs_summary(F, fp)
    corr_rows, corr = _correlation(F, fp)
    moves = _moves(hearts["trend"].value if hearts else None, packs["trend"].value if packs else None, material)
    material_fact = F.config(
        "council.material_change", material, "{:.0f}", label="material change", unit="%", scale=100.0
    )
    llm_ctx, tokens_total, cost_total = _llm_spend(F, window.params)
    return _Summaries(hearts, packs, corr_rows, corr, moves, material_fact, llm_ctx, tokens_total, cost_total)


def _headline(primary: dict | None) -> str:
    """What the episode's title says it is about."""
    return (
        f"{primary['finding']['metric'] or 'latency'} regression in {primary['finding']['raw'].get('model')}"
        if primary
        else "the week in benchmarks and user experience"
    )


def _episode_context(
    F: _Facts, episode: int, title: str, story: _Story, *, forced: bool, gate_reason: str
) -> dict[str, Any]:
    """The episode template's variables (the interval level is the story's last fact)."""
    changes, sums = story.changes, story.summaries
    return {
        "episode_number": episode,
        "title": title,
        "draft": story.quality.conf.is_draft,
        "forced": forced,
        "gate_reason": gate_reason,
        "window": story.window,
        "shipped": story.shipped,
        "hearts": sums.hearts,
        "packs": sums.packs,
        "models": changes.perf.models,
        "findings": changes.findings,
        "primary": story.primary,
        "links": changes.links,
        "llm": sums.llm,
        "corr": sums.corr,
        "moves": sums.moves,
        "material": sums.material,
        "conf": story.quality.context,
        "chart": epfmt.chart_name(episode),
        "lookback": changes.lookback,
        "evidence_name": epfmt.evidence_name(episode),
        "fact_ids": _FACT_IDS,
        "ci_level": F.rule(0.95, "{:.0f}", unit="%", scale=100.0, label="interval level", params={"interval": "95%"}),
    }


def _front_matter(
    episode: int,
    title: str,
    window: Window,
    conf: Confidence,
    summary: str,
    *,
    hearts_commit: str,
    packs_commit: str,
    run_id: str,
    forced: bool,
) -> dict[str, Any]:
    """The post's front matter: what it is, how confident, and which commits and window it covers."""
    return {
        "title": title,
        "episode": episode,
        "date": window.until.strftime("%Y-%m-%d"),
        "lang": "en",
        "status": "draft" if conf.is_draft else "ready",
        "summary": summary,
        "confidence": round(conf.final, 4),
        "confidence_components": {k: round(v, 4) for k, v in conf.components.items()},
        "hearts_commit": hearts_commit,
        "packs_commit": packs_commit,
        "run_id": run_id,
        "forced": forced,
        "window": {"since": window.since.isoformat(), "until": window.until.isoformat()},
        "chart": epfmt.chart_name(episode),
        "evidence": epfmt.evidence_name(episode),
    }


def _next_episode(store: Any, hearts_commit: str, packs_commit: str) -> int:
    """The episode these two commits already have, else one past the highest."""
    row = store.named("council_episode_for_commits", {"hearts": hearts_commit, "packs": packs_commit}).first() or {}
    return int(row["existing"]) if row.get("existing_count") else int(row.get("highest") or 0) + 1


def _window_facts(F: _Facts, window: Window, fp: dict[str, str], full_days: list[str]) -> dict[str, Fact]:
    """The window's bounds and full days, as facts."""
    wp = window.params
    return {
        "since": F.window(_minute(window.since), label="window start (UTC)", params=wp),
        "until": F.window(_minute(window.until), label="window end (UTC)", params=wp),
        "first_full": F.window(
            full_days[0] if full_days else _day(window.since), label="first full day of the window", params=fp
        ),
        "last_full": F.window(
            full_days[-1] if full_days else _day(window.until), label="last full day of the window", params=fp
        ),
        "full_days": F.window(len(full_days), "{:,}", label="full days in the window", params=fp),
    }


@dataclass
class _Quality:
    """The confidence score, its facts for the template, and the daily benchmark rows it read."""

    conf: Confidence
    context: dict[str, Any]
    hearts_daily_full: list[dict[str, Any]]


def _complete_hours(window: Window) -> tuple[datetime, datetime, dict[str, float]]:
    """The complete hours inside the window (the running hour is not missing), counted per day."""
    first_hour = window.since.replace(minute=0, second=0, microsecond=0)
    if first_hour < window.since:
        first_hour += timedelta(hours=1)
    last_hour = window.until.replace(minute=0, second=0, microsecond=0)  # exclusive: the running hour
    hours_expected: dict[str, float] = {}
    h = first_hour
    while h < last_hour:
        hours_expected[_day(h)] = hours_expected.get(_day(h), 0) + 1
        h += timedelta(hours=1)
    return first_hour, last_hour, hours_expected


def _confidence(
    F: _Facts,
    ctx: RunContext,
    window: Window,
    fp: dict[str, str],
    full_days: list[str],
    *,
    verdict: Any,
    hearts_commit: str,
    packs_commit: str,
) -> _Quality:
    """Confidence is data quality only: completeness of both sources, freshness, the watcher."""
    s = ctx.settings
    wp = window.params
    hearts_daily_full = F.rows("council_hearts_daily", fp)
    expected_bench = float(s.council.expected_bench_results_per_day)
    c_bench = _bench_completeness(F, fp, full_days, hearts_daily_full, expected_bench)
    c_packs, hours_present, hours_total = _telemetry_completeness(F, window)
    fresh, age = _freshness(F, wp)
    vrun = getattr(verdict, "run_id", None) if verdict is not None and getattr(verdict, "open", False) else None
    watch = _watcher_covers(F, ctx, wp, vrun, hearts_commit=hearts_commit, packs_commit=packs_commit)
    components = {
        "bench_completeness": float(c_bench.value),
        "telemetry_completeness": float(c_packs.value),
        "freshness": float(fresh.value),
        "watcher": float(watch.value),
    }
    conf = Confidence(components, s.council.confidence_threshold)
    final_fact = F.facts.add(
        conf.final,
        "{:.2f}",
        label="confidence (minimum of the data-quality components)",
        query="council confidence",
        kind="derived",
        rule={"name": "min", "args": {"facts": [c_bench.id, c_packs.id, fresh.id, watch.id]}},
    )
    conf_ctx = {
        "final": final_fact,
        "bench": c_bench,
        "packs": c_packs,
        "fresh": fresh,
        "age": age,
        "watch": watch,
        "watch_ok": bool(watch.value),
        "watcher_run": (vrun or "")[:8],
        "threshold": F.config("council.confidence_threshold", conf.threshold, "{:.2f}", label="confidence threshold"),
        "expected_bench": F.config(
            "council.expected_bench_results_per_day",
            int(expected_bench),
            "{:,}",
            label="benchmark results expected per full day",
        ),
        "hours_present": hours_present,
        "hours_total": hours_total,
    }
    return _Quality(conf, conf_ctx, hearts_daily_full)


def _bench_completeness(
    F: _Facts, fp: dict[str, str], full_days: list[str], hearts_daily_full: list[dict[str, Any]], expected_bench: float
) -> Fact:
    """The worst full day's benchmark results as a share of those expected."""
    bench_expected = {d: expected_bench for d in full_days}
    label = "benchmark completeness (worst full day: results / expected)"
    return _worst_day(
        F, "council_hearts_daily", fp, hearts_daily_full, label, present="result_rows", expected=bench_expected
    )


def _worst_day(
    F: _Facts,
    query: str,
    params: dict[str, str],
    rows: list[dict[str, Any]],
    label: str,
    *,
    present: str,
    expected: dict[str, float],
) -> Fact:
    """The lowest daily share of what was expected (column ``present`` of ``rows`` per day), as a fact."""
    return F.sql(
        query,
        params,
        "day_completeness",
        "{:.2f}",
        label=label,
        keys=[d["day"] for d in rows],
        present=present,
        expected=expected,
    )


def _telemetry_completeness(F: _Facts, window: Window) -> tuple[Fact, Fact, Fact]:
    """The worst day's complete hours with telemetry as a share of its complete hours, and both counts."""
    first_hour, last_hour, hours_expected = _complete_hours(window)
    hp = {"since": ts_str(first_hour), "until": ts_str(last_hour)}
    packs_hours_rows = F.rows("council_packs_daily", hp)
    label = "telemetry completeness (worst day: complete hours with data / complete hours)"
    c_packs = _worst_day(
        F, "council_packs_daily", hp, packs_hours_rows, label, present="hours", expected=hours_expected
    )
    hours_present = F.sql(
        "council_packs_daily", hp, "sum", "{:,.0f}", label="complete hours with telemetry", column="hours"
    )
    hours_total = F.window(int(sum(hours_expected.values())), "{:,}", label="complete hours in the window", params=hp)
    return c_packs, hours_present, hours_total


def _freshness(F: _Facts, wp: dict[str, str]) -> tuple[Fact, Fact]:
    """The staler source's freshness score at the window's end, and the age of its newest data in hours."""
    fresh = F.sql("council_freshness", wp, "freshness", "{:.2f}", label="freshness (staler source)", until=wp["until"])
    age = F.sql(
        "council_freshness",
        wp,
        "freshness",
        "{:,.1f}",
        unit="h",
        label="age of the staler source's newest data",
        until=wp["until"],
        part="age_hours",
    )
    return fresh, age


def _watcher_covers(
    F: _Facts, ctx: RunContext, wp: dict[str, str], vrun: str | None, *, hearts_commit: str, packs_commit: str
) -> Fact:
    """Whether the watcher's passing check ``vrun`` vouches for these commits and the window's end."""
    max_age = ctx.settings.watcher.status_max_age_minutes * 60
    if vrun:
        return F.sql(
            "watcher_gate_run",
            {"run_id": vrun},
            "watcher_covers",
            "{:.2f}",
            label="watcher verdict covers the window (1 yes, 0 no)",
            keys=[vrun],
            hearts_commit=hearts_commit,
            packs_commit=packs_commit,
            until=wp["until"],
            max_age_seconds=max_age,
        )
    # No open verdict (forced, or composed without the gate): recorded as such, not re-runnable.
    return F.window(
        0.0,
        "{:.2f}",
        label="watcher verdict covers the window (none: forced or not checked)",
        params={"verdict": "none"},
        query="council gate",
    )


def _findings(F: _Facts, wp: dict[str, str]) -> list[dict[str, Any]]:
    """The analytics worker's insights in the window, each with its numbers as facts."""
    ip = {"since": wp["since"]}
    insights = F.rows("council_insights", ip)
    findings: list[dict[str, Any]] = []
    for ins in insights:
        where = {"insight_id": ins["insight_id"]}
        metric = str(ins.get("metric") or "")
        fmt, unit = _metric_format(metric)
        keys = [ins.get("insight_id", ""), ins.get("commit_sha", "")]

        def val(column: str, label: str, fmt: str = fmt, unit: str = unit) -> Fact | None:
            if factrules.value(insights, column=column, where=where) is None:
                return None
            return F.sql(
                "council_insights",
                ip,
                "value",
                fmt,
                label=esc.clean(f"{label} ({metric})"),
                unit=unit,
                keys=keys,
                column=column,
                where=where,
            )

        findings.append(
            {
                "type": str(ins.get("type") or "").replace("_", " "),
                "severity": ins.get("severity") or "",
                "source": ins.get("source") or "",
                "operation": ins.get("operation") or "",
                "hour": F.sql(
                    "council_insights",
                    ip,
                    "value",
                    "{}",
                    label="hour of the finding (UTC)",
                    keys=keys,
                    column="observed_hour",
                    where=where,
                ),
                "ids": [x for x in (ins.get("model"), ins.get("quant"), ins.get("dataset")) if x],
                "commit": (ins.get("commit_sha") or "")[:10],
                "metric": metric.removesuffix("_usd").replace("_", " "),
                "baseline": val("baseline_value", "baseline"),
                "observed": val("observed_value", "observed"),
                "z": val("z_score", "z-score", "{:+.1f}", ""),
                "raw": ins,
            }
        )
    return findings


def _commit_times(hearts_repo: Path, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The commits the findings name, from git (not the store); None for one git does not know."""
    from muse import gitrepo

    commit_times: dict[str, Any] = {}
    for x in changes:
        sha = x["raw"].get("commit_sha") or ""
        if sha and sha not in commit_times:
            commit_times[sha] = gitrepo.find_commit(hearts_repo, sha)
    return commit_times


def _series_key(raw: dict[str, Any]) -> tuple[str, str, str]:
    return (raw.get("model") or "", raw.get("quant") or "", raw.get("dataset") or "")


@dataclass
class _Performance:
    """Model performance rows for the template, by (model, quant, dataset), and the runs read."""

    models: list[dict[str, Any]]
    by_key: dict[tuple[str, str, str], dict[str, Any]]
    runs: list[dict[str, Any]]
    params: dict[str, str]


def _model_performance(
    F: _Facts, window: Window, changes: list[dict[str, Any]], commit_times: dict[str, Any], span_days: float
) -> _Performance:
    """Each benchmark series split at its change point (a finding's commit, else the window start)."""
    lookback = timedelta(days=span_days)
    points = [c.time for c in commit_times.values() if c is not None] + [window.since]
    mp = {"since": ts_str(min(points) - lookback), "until": window.params["until"]}
    runs = F.rows("council_model_runs", mp)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["model"], r["quant"], r["dataset"]), []).append(r)
    change_at = _change_points(changes, commit_times, groups)
    model_rows = _model_rows(runs, groups, change_at, window, lookback)
    models = [_model_facts(F, mp, groups, m) for m in model_rows]
    by_key = {(m["model"], m["quant"], m["dataset"]): m for m in models}
    return _Performance(models, by_key, runs, mp)


def _change_points(
    changes: list[dict[str, Any]], commit_times: dict[str, Any], groups: dict[tuple[str, str, str], Any]
) -> dict[tuple[str, str, str], tuple[datetime, str]]:
    """Per benchmark series, the time and sha of the first commit a finding names for it."""
    change_at: dict[tuple[str, str, str], tuple[datetime, str]] = {}
    for x in changes:
        raw = x["raw"]
        c = commit_times.get(raw.get("commit_sha") or "")
        key = _series_key(raw)
        if c is not None and key in groups and key not in change_at:
            change_at[key] = (c.time, c.sha)
    return change_at


def _model_rows(
    runs: list[dict[str, Any]],
    groups: dict[tuple[str, str, str], list[dict[str, Any]]],
    change_at: dict[tuple[str, str, str], tuple[datetime, str]],
    window: Window,
    lookback: timedelta,
) -> list[dict[str, Any]]:
    """The series to show: every one a finding names, then the biggest steps, ``MODEL_ROWS`` at least."""
    model_rows: list[dict[str, Any]] = []
    for key, series in groups.items():
        at, sha = change_at.get(key, (window.since, ""))
        where = {"model": key[0], "quant": key[1], "dataset": key[2]}
        args: dict[str, Any] = {"where": where, "at": ts_str(at), "lookback_from": ts_str(at - lookback)}
        change = factrules.step(runs, part="change", **args)
        n_after = factrules.step(runs, part="n_after", **args)
        if not n_after:
            continue
        model_rows.append(
            {"key": key, "args": args, "change_value": change, "finding": key in change_at, "sha": sha[:10], "at": at}
        )
    model_rows.sort(key=lambda m: (not m["finding"], -abs(m["change_value"] or 0), m["key"]))
    return [m for i, m in enumerate(model_rows) if m["finding"] or i < MODEL_ROWS + len(change_at)][
        : max(MODEL_ROWS, len(change_at))
    ]


def _model_facts(
    F: _Facts, mp: dict[str, str], groups: dict[tuple[str, str, str], list[dict[str, Any]]], m: dict[str, Any]
) -> dict[str, Any]:
    """One series' median p95 and run counts either side of its change point, as facts."""
    a = m["args"]
    keys = sorted({r["run_id"] for r in groups[m["key"]] if r["run_ts"] >= a["lookback_from"]})
    label = esc.clean("/".join(m["key"]))

    def step(part: str, fmt: str, what: str, unit: str = "") -> Fact:
        """One part of the series' step at the change point, as a fact of the council_model_runs query."""
        return F.sql(
            "council_model_runs", mp, "step", fmt, unit=unit, keys=keys, part=part, label=f"{what} ({label})", **a
        )

    return {
        "model": m["key"][0],
        "quant": m["key"][1],
        "dataset": m["key"][2],
        "sha": m["sha"],
        "before": step("before", "{:,.0f}", "median p95 before the change point", "ms"),
        "n_before": step("n_before", "{:,}", "runs before the change point"),
        "after": step("after", "{:,.0f}", "median p95 after the change point", "ms"),
        "n_after": step("n_after", "{:,}", "runs after the change point"),
        "change": F.pct(
            "council_model_runs",
            mp,
            "step",
            keys=keys,
            part="change",
            label=f"p95 change, median after vs before ({label})",
            **a,
        ),
        "change_value": m["change_value"],
        "since": F.window(_minute(m["at"]), label=f"change point ({label})", params=mp, query="council_model_runs"),
    }


def _links(
    F: _Facts,
    store: Any,
    window: Window,
    changes: list[dict[str, Any]],
    commit_times: dict[str, Any],
    by_key: dict[tuple[str, str, str], dict[str, Any]],
    *,
    span_days: float,
    min_calls: int,
    material: float,
) -> list[dict[str, Any]]:
    """The benchmark -> user link, once per regressed model."""
    links = []
    urange = store.named("council_user_range", {"until": window.params["until"]}).first() or {}
    oldest = parse_ts(urange.get("oldest"), zero_is_none=True)
    seen_models: set[str] = set()
    for x in changes:
        raw = x["raw"]
        model = raw.get("model") or ""
        c = commit_times.get(raw.get("commit_sha") or "")
        if not model or c is None or model in seen_models:
            continue
        seen_models.add(model)
        links.append(
            _user_link(
                F,
                model=model,
                commit=c,
                window=window,
                oldest=oldest,
                span_days=span_days,
                min_calls=min_calls,
                material=material,
                bench=by_key.get(_series_key(raw)),
            )
        )
    return links


def _shipped(
    F: _Facts, window: Window, commit_times: dict[str, Any], repos: tuple[tuple[str, Path, str], ...]
) -> dict[str, Any]:
    """What shipped in each repo: every commit a finding names is listed, then the newest others."""
    from muse import gitrepo

    wp = window.params
    shipped = {}
    named = {sha for sha in commit_times}
    for name, path, branch in repos:
        commits = gitrepo.commits_between(path, branch, window.since, window.until)
        gparams = {"repo": name, "branch": branch, **wp}
        flagged = [c for c in commits if c.sha in named]
        rest = [c for c in commits if c.sha not in named][:SHIPPED_LIMIT]
        extra = [
            commit_times[sha]
            for sha in named
            if name == "banterhearts" and commit_times[sha] is not None and commit_times[sha] not in commits
        ]
        listed = flagged + [c for c in extra if c is not None] + rest
        more = max(0, len(commits) - len(flagged) - len(rest))
        shipped[name] = {
            "count": F.other(
                len(commits),
                "{:,}",
                kind="git",
                label=f"{name} commits in window",
                query=f"git log {name}",
                params=gparams,
                keys=[c.sha for c in commits],
                rule={"name": "count", "args": {}},
            ),
            "commits": [
                {
                    "sha": c.sha[:10],
                    "subject": c.subject,
                    "finding": c.sha in named,
                    "outside": c not in commits,
                    "date": F.window(
                        _minute(c.time),
                        label="commit time (UTC)",
                        params={"repo": name, "sha": c.sha},
                        query=f"git log {name}",
                    ),
                }
                for c in listed
            ],
            "more": more,
            "more_text": F.other(
                more,
                "{:,}",
                kind="git",
                label=f"{name} commits not listed",
                query=f"git log {name}",
                params=gparams,
                rule={"name": "count", "args": {"minus": len(flagged) + len(rest)}},
            ),
        }
    return shipped


def _hearts_summary(F: _Facts, fp: dict[str, str], hearts_daily_full: list[dict[str, Any]]) -> dict[str, Fact] | None:
    """Benchmarks over the full days; None without any."""
    if not hearts_daily_full:
        return None
    run_keys = sorted({r for d in hearts_daily_full for r in d["run_ids"]})
    return {
        "avg_p95": F.sql(
            "council_hearts_daily",
            fp,
            "weighted_mean",
            "{:,.0f}",
            unit="ms",
            keys=run_keys,
            label="mean benchmark p95 over the full days (per result)",
            column="avg_p95_ms",
            weight="result_rows",
        ),
        "results": F.sql(
            "council_hearts_daily",
            fp,
            "sum",
            "{:,.0f}",
            keys=run_keys,
            label="benchmark results on the full days",
            column="result_rows",
        ),
        "days": F.sql(
            "council_hearts_daily",
            fp,
            "count",
            "{:,}",
            label="full days with benchmark results",
            keys=[d["day"] for d in hearts_daily_full],
        ),
        "trend": F.pct(
            "council_hearts_daily",
            fp,
            "halves",
            label="benchmark daily mean p95, median of later half of full days vs earlier half",
            column="avg_p95_ms",
        ),
    }


def _packs_summary(F: _Facts, fp: dict[str, str]) -> dict[str, Fact] | None:
    """Users over the full days; None without any telemetry."""
    packs_full = F.rows("council_packs_daily", fp)
    if not packs_full:
        return None
    hour_keys = sorted({h_ for d in packs_full for h_ in d["hour_keys"]})

    def daily(rule: str, fmt: str, label: str, **args: Any) -> Fact:
        """One figure of the full days, as a fact of the council_packs_daily query."""
        return F.sql("council_packs_daily", fp, rule, fmt, label=label, **args)

    def share(column: str, fmt: str, label: str) -> Fact:
        """A per-session rate over the full days, weighted by sessions, as a percent."""
        return daily(
            "weighted_mean", fmt, label, unit="%", scale=100.0, keys=hour_keys, column=column, weight="sessions"
        )

    packs = {
        "sessions": daily("sum", "{:,.0f}", "sessions on the full days", keys=hour_keys, column="sessions"),
        "events": daily("sum", "{:,.0f}", "events on the full days", keys=hour_keys, column="events"),
        "user_latency": daily(
            "weighted_mean",
            "{:,.0f}",
            "event-weighted mean user latency over the full days",
            unit="ms",
            keys=hour_keys,
            column="user_latency_ms",
            weight="events",
        ),
        "error_rate": share("error_rate", "{:.2f}", "session-weighted error rate over the full days"),
        "abandonment": share("abandonment_rate", "{:.1f}", "session-weighted abandonment rate over the full days"),
        "trend": F.pct(
            "council_packs_daily",
            fp,
            "halves",
            label="user daily latency, median of later half of full days vs earlier half",
            column="user_latency_ms",
        ),
        "worst_day": daily(
            "argmax", "{}", "full day with the highest user latency", by="user_latency_ms", column="day"
        ),
    }
    worst = packs["worst_day"].value
    packs["worst_latency"] = daily(
        "value", "{:,.0f}", "user latency on that day", unit="ms", column="user_latency_ms", where={"day": worst}
    )
    return packs


def _correlation(F: _Facts, fp: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The day-by-day correlation of benchmark and user latency: a finding, never a proof."""
    corr_rows = F.rows("council_correlation", fp)
    cargs: dict[str, Any] = {"x": "bench_p95_ms", "y": "user_latency_ms"}
    ckeys = [d["day"] for d in corr_rows]

    def part(name: str, fmt: str, label: str) -> Fact:
        """One number of the correlation finding, as a fact of the council_correlation query."""
        return F.sql("council_correlation", fp, "correlation", fmt, keys=ckeys, label=label, part=name, **cargs)

    corr: dict[str, Any] = {"n": part("n", "{:,}", "full days with both benchmark and user data")}
    r_value = factrules.correlation(corr_rows, part="r", **cargs)
    corr.update({"r_value": r_value, "r": None, "small": True, "negative": False, "strong": False})
    if r_value is not None:
        corr["r"] = part("r", "{:+.2f}", "Pearson r, daily benchmark mean p95 vs daily user latency")
        corr["low"] = part("ci_low", "{:+.2f}", "r, 95% interval low (Fisher z)")
        corr["high"] = part("ci_high", "{:+.2f}", "r, 95% interval high (Fisher z)")
        corr["p"] = part("p", "{:.3f}", "permutation p-value of r (two-sided)")
        n = int(corr["n"].value)
        p = corr["p"].value
        corr["small"] = n < STRONG_MIN_N
        corr["negative"] = r_value < 0
        corr["strong"] = (not corr["small"]) and p is not None and p < STRONG_MAX_P and r_value > 0
        thresholds = {"min_n": STRONG_MIN_N, "max_p": 0.05}
        corr["min_n"] = F.rule(
            STRONG_MIN_N, "{}", label="days needed before a correlation can be called strong", params=thresholds
        )
        corr["max_p"] = F.rule(STRONG_MAX_P, "{:.2f}", label="p-value a strong correlation needs", params=thresholds)
    return corr_rows, corr


def _llm_spend(F: _Facts, wp: dict[str, str]) -> tuple[dict[str, Fact], int, float]:
    """LLM tokens and cost in the window: the facts, and the totals for the run's details."""
    llm = F.rows("council_llm_totals", wp)
    tokens_total = int(sum(int(x["tokens"]) for x in llm))
    cost_total = float(sum(float(x["cost_usd"]) for x in llm))
    llm_ctx = {
        "tokens": F.sql("council_llm_totals", wp, "sum", "{:,.0f}", label="LLM tokens in window", column="tokens"),
        "cost": F.sql("council_llm_totals", wp, "sum", "${:,.2f}", label="LLM cost in window (USD)", column="cost_usd"),
    }
    return llm_ctx, tokens_total, cost_total


def _primary(changes: list[dict[str, Any]], by_key: dict[tuple[str, str, str], dict[str, Any]]) -> dict | None:
    """The finding the episode leads with: the latency regression with the biggest step."""
    regressions = [x for x in changes if "regression" in x["type"]]
    if not regressions:
        return None
    # The latency finding with the biggest step leads (the worker orders by severity, then time).
    lat = [x for x in regressions if "latency" in x["type"]]
    found = [(by_key.get(_series_key(x["raw"])), x) for x in (lat or regressions)]
    stepped = [(m, x) for m, x in found if m is not None]
    if stepped:
        m, x = max(stepped, key=lambda mx: abs(mx[0]["change_value"] or 0))
        return {"finding": x, "model": m}
    return {"finding": regressions[0], "model": by_key.get(_series_key(regressions[0]["raw"]))}


def _narrate_unpublished(ctx: RunContext, F: _Facts, episode: int, marked: str, *, run_id: str) -> tuple[str, Any]:
    """Issue 21: LLM prose over the facts, verified number by number (muse/analysis/narrator.py);
    never spent on an episode that run() will not rewrite (published or rolled back)."""
    prior = ctx.store.named("council_episode", {"episode": episode, "lang": "en"}).first()
    if prior and prior["status"] in ("published", "rolled_back"):
        return marked, None
    from muse.analysis import narrator

    return narrator.narrate_marked(
        marked, F.facts, settings=ctx.settings, store=ctx.store, telemetry=ctx.telemetry, run_id=run_id
    )


def _traced_markdown(F: _Facts, episode: int, fm: dict[str, Any], marked: str) -> tuple[str, dict[str, Any]]:
    """The post's markdown and its evidence sidecar; RuntimeError when a number is not a fact."""
    # Offsets are taken in the body as the file will hold it (after the front-matter).
    doc = epfmt.parse(epfmt.render(fm, marked))
    body, occurrences = strip_markers(doc.body)
    evidence, occurrences = sidecar(episode=episode, body=body, facts=F.facts, occurrences=occurrences)
    # The fact list goes last, so filling it in moves no recorded offset.
    ids = ", ".join(f["id"] for f in evidence["facts"])
    body = body.replace(_FACT_IDS, ids)
    markdown, _ = strip_markers(epfmt.render(fm, marked).replace(_FACT_IDS, ids))
    evidence["body_sha256"] = sha256(body)
    untraced = [t for t in trace(body, evidence) if not t.traced]
    if untraced:  # a template printed a number that is not a fact: a bug, never published
        raise RuntimeError(
            f"episode {episode}: untraced numbers in the rendered text: "
            + ", ".join(f"{t.number!r} at line {t.line}" for t in untraced[:5])
        )
    return markdown, evidence


def _metric_format(metric: str) -> tuple[str, str]:
    """Number format and unit for an insight's metric name."""
    m = metric.lower()
    if "cost" in m:
        return "{:,.4f}", "USD"
    if "latency" in m or m.endswith("_ms"):
        return "{:,.0f}", "ms"
    if "throughput" in m or "tokens_per_sec" in m:
        return "{:,.1f}", "tokens/s"
    return "{:,.1f}", ""


def _moves(bench: float | None, users: float | None, material: float) -> dict[str, Any]:
    """Agree / contradict only when both moves are material; otherwise say which did not move."""
    if bench is None or users is None:
        return {"kind": "unknown"}
    b, u = abs(bench) >= material, abs(users) >= material
    if b and u:
        return {
            "kind": "agree" if (bench > 0) == (users > 0) else "contradict",
            "bench_up": bench > 0,
            "users_up": users > 0,
        }
    if not b and not u:
        return {"kind": "neither"}
    return {"kind": "bench_only" if b else "users_only", "bench_up": bench > 0, "users_up": users > 0}


def _user_link(
    F: _Facts,
    *,
    model: str,
    commit: Any,
    window: Window,
    oldest: datetime | None,
    span_days: float,
    min_calls: int,
    material: float,
    bench: dict[str, Any] | None,
) -> dict[str, Any]:
    """Users' latency on ``model`` before vs after the commit, equal spans clipped to the data."""
    at = commit.time
    span = timedelta(days=span_days)
    after_room = window.until - at
    before_room = (at - oldest) if oldest else timedelta(0)
    used = min(span, after_room, before_room)
    link: dict[str, Any] = {
        "model": model,
        "sha": commit.sha[:10],
        "cannot": "",
        "user": None,
        "controls": [],
        "moves": None,
        "bench": None,
        "clipped": False,
        "operation": "",
    }
    if used <= timedelta(0):
        link["cannot"] = "no_span"
        return link
    params = {"before_since": ts_str(at - used), "at": ts_str(at), "after_until": ts_str(at + used)}
    rows = F.rows("council_user_link", params)
    link["span"], link["at"] = _link_span(F, params, used, at)
    link["clipped"] = used < span
    ops = sorted({(r["model"], r["operation"]) for r in rows})
    op = _lead_operation(rows, ops, model)
    if op is None:
        link["cannot"] = "not_served"
        return link
    link["operation"] = op
    link["user"] = _user_side(F, rows, params, model, op, min_calls=min_calls, material=material)
    link["controls"] = [
        _user_side(F, rows, params, m, op, min_calls=min_calls, material=material)
        for m in sorted({m for m, o in ops if o == op and m != model})
    ]
    link["min_calls"] = F.config("council.link_min_calls", min_calls, "{:,}", label="user calls needed on each side")
    if not link["user"]["enough"]:
        link["cannot"] = "too_few"
        return link
    if bench is not None and bench["change_value"] is not None and link["user"]["change"].value is not None:
        link["bench"] = bench
        link["moves"] = _moves(bench["change_value"], link["user"]["change"].value, material)
    return link


def _link_span(F: _Facts, params: dict[str, str], used: timedelta, at: datetime) -> tuple[Fact, Fact]:
    """The days compared either side of the commit, and the commit's time, as facts."""
    span = F.window(
        round(used.total_seconds() / 86400, 1),
        "{:.1f}",
        label="days compared either side of the commit (clipped to the data)",
        params=params,
        query="council_user_link",
    )
    at_fact = F.window(_minute(at), label="commit time (UTC)", params=params, query="council_user_link")
    return span, at_fact


def _lead_operation(rows: list[dict[str, Any]], ops: list[tuple[str, str]], model: str) -> str | None:
    """The operation with most calls for this model (its control is every other model on it); None if unserved."""
    mine = [o for m, o in ops if m == model]
    if not mine:
        return None
    calls = {o: sum(int(r["calls"]) for r in rows if r["model"] == model and r["operation"] == o) for o in mine}
    return max(mine, key=lambda o: (calls[o], o))


def _user_side(
    F: _Facts,
    rows: list[dict[str, Any]],
    params: dict[str, str],
    m: str,
    op: str,
    *,
    min_calls: int,
    material: float,
) -> dict[str, Any]:
    """One model's calls on ``op`` before vs after the commit: counts, and with enough calls on
    both sides the median latencies and their change with a bootstrap interval."""
    where = {"model": m, "operation": op}
    tag = esc.clean(f"{m}, {op}")
    n_b = factrules.ratio_of_medians(rows, where=where, part="n_before", min_n=min_calls)
    n_a = factrules.ratio_of_medians(rows, where=where, part="n_after", min_n=min_calls)
    a: dict[str, Any] = {"where": where, "min_n": min_calls}

    def fact(part: str, what: str, fmt: str = "", unit: str = "") -> Fact:
        """One part of the comparison as a fact of the council_user_link query; a percent without ``fmt``."""
        if not fmt:
            return F.pct("council_user_link", params, "ratio_of_medians", part=part, label=f"{what} ({tag})", **a)
        return F.sql(
            "council_user_link", params, "ratio_of_medians", fmt, unit=unit, part=part, label=f"{what} ({tag})", **a
        )

    out: dict[str, Any] = {
        "model": m,
        "n_before": fact("n_before", "user calls before the commit", "{:,}"),
        "n_after": fact("n_after", "user calls after the commit", "{:,}"),
        "enough": (n_b or 0) >= min_calls and (n_a or 0) >= min_calls,
    }
    if out["enough"]:
        out["change"] = fact("change", "user latency change, median after / before - 1")
        out["low"] = fact("low", "95% interval low, bootstrap")
        out["high"] = fact("high", "95% interval high, bootstrap")
        out["median_before"] = fact("median_before", "median user latency before", "{:,.0f}", "ms")
        out["median_after"] = fact("median_after", "median user latency after", "{:,.0f}", "ms")
        v, lo, hi = out["change"].value, out["low"].value, out["high"].value
        out["up"] = v is not None and v > 0
        out["significant"] = lo is not None and hi is not None and (lo > 0 or hi < 0)
        out["material"] = v is not None and abs(v) >= material
    return out


def _summary(primary: dict | None, links: list[dict], hearts: dict | None, packs: dict | None) -> str:
    parts = []
    if primary:
        raw = primary["finding"]["raw"]
        parts.append(
            f"A {primary['finding']['metric'] or 'latency'} regression in {raw.get('model')} "
            f"{raw.get('quant')} at commit {(raw.get('commit_sha') or '')[:10]}."
        )
    for link in links[:1]:
        user = link.get("user") or {}
        if user.get("enough") and user.get("change") is not None:
            parts.append(f"Users' {link['model']} calls moved {user['change'].display} after it.")
    if hearts:
        parts.append("Benchmarks and user latency compared day by day.")
    if packs and not links:
        parts.append("User experience from banterpacks telemetry.")
    return " ".join(parts) or "Not enough data for a summary."


# The chart's layout in pixels: width, one panel's height, margins, and the gap between panels.
_CHART_W, _PANEL_H, _LEFT, _RIGHT, _TOP, _GAP = 720, 240, 70, 30, 50, 70
_PLOT_W = _CHART_W - _LEFT - _RIGHT


def _chart_context(F: _Facts, episode: int, story: _Story) -> dict[str, Any]:
    """Percent change from a stated baseline on one shared axis per panel."""
    changes = story.changes
    panels = [_days_panel(story.summaries.corr_rows)]
    if story.primary and story.primary.get("model"):
        panels.append(_change_panel(F, story.primary["model"], changes.links, changes.perf.params, changes.perf.runs))
    for p in panels:
        p["title"] = esc.svg_text(p["title"], max_len=140)
    height = _TOP + len(panels) * (_PANEL_H + _GAP)
    return {"width": _CHART_W, "height": height, "left": _LEFT, "plot_w": _PLOT_W, "episode": episode, "panels": panels}


def _panel(
    series: list[tuple[str, str, list[tuple[str, float]]]],
    days: list[str],
    y0: float,
    marker_day: str | None = None,
) -> dict[str, Any]:
    """One panel at height ``y0``: the series on a symmetric percent axis, the days along the bottom."""
    vals = [v for _, _, pts in series for _, v in pts]
    lim = max([5.0] + [abs(v) for v in vals])
    lim = float(int(lim / 5 + 1) * 5)
    plot_h = _PANEL_H - 40

    def y(v: float) -> float:
        return round(y0 + plot_h * (1 - (v + lim) / (2 * lim)), 1)

    def x(i: int) -> float:
        return round(_LEFT + _PLOT_W * i / max(1, len(days) - 1), 1)

    idx = {d: i for i, d in enumerate(days)}
    lines = []
    for name, color, pts in series:
        xy = [(x(idx[d]), y(v)) for d, v in pts if d in idx]
        lines.append(
            {"name": esc.svg_text(name), "color": color, "points": " ".join(f"{a},{b}" for a, b in xy), "dots": xy}
        )
    ticks = [{"y": y(t), "text": f"{t:+.0f}%"} for t in (-lim, -lim / 2, 0.0, lim / 2, lim)]
    labels = [{"x": x(i), "text": d[5:]} for i, d in enumerate(days)]
    mark = {"x": x(idx[marker_day])} if marker_day in idx else None
    return {"y0": y0, "h": plot_h, "ticks": ticks, "labels": labels, "lines": lines, "zero": y(0.0), "mark": mark}


def _pct_series(pts: list[tuple[str, float]], base: float | None) -> list[tuple[str, float]]:
    """Each point as percent change from ``base``; nothing without a base."""
    return [(d, (v / base - 1) * 100) for d, v in pts if base]


def _days_panel(corr_rows: list[dict]) -> dict[str, Any]:
    """The first panel: daily benchmark p95 and user latency, from the first full day."""
    days = [d["day"] for d in corr_rows]
    bench = [(d["day"], float(d["bench_p95_ms"])) for d in corr_rows]
    user = [(d["day"], float(d["user_latency_ms"])) for d in corr_rows]
    return {
        "title": f"Daily benchmark mean p95 and user latency, % change from the first full day"
        f"{' (' + days[0] + ')' if days else ''}",
        **_panel(
            [
                ("benchmark p95", "#c0392b", _pct_series(bench, bench[0][1] if bench else None)),
                ("user latency", "#2471a3", _pct_series(user, user[0][1] if user else None)),
            ],
            days,
            _TOP,
        ),
    }


def _change_panel(
    F: _Facts, m: dict[str, Any], links: list[dict], mp: dict[str, str], runs: list[dict]
) -> dict[str, Any]:
    """The second panel: the lead finding's benchmark series and its model's users around the commit."""
    from muse.analysis import stats

    key = (m["model"], m["quant"], m["dataset"])
    at = m["since"].value
    series = [r for r in runs if (r["model"], r["quant"], r["dataset"]) == key]
    by_day: dict[str, list[float]] = {}
    for r in series:
        by_day.setdefault(r["run_ts"][:10], []).append(float(r["p95_ms"]))
    bdays = sorted(by_day)
    b_pts = [(d, stats.median(v) or 0.0) for d, v in sorted(by_day.items())]
    b_base = m["before"].value
    link = next((lk for lk in links if lk["model"] == m["model"]), None)
    u_pts: list[tuple[str, float]] = []
    u_base = None
    if link and (link.get("user") or {}).get("enough"):
        rows = F.store.named(
            "council_user_daily", {"model": m["model"], "since": mp["since"], "until": mp["until"]}
        ).dicts()
        u_pts = [(r["day"], float(r["median_ms"])) for r in rows]
        u_base = link["user"]["median_before"].value
    all_days = sorted(set(bdays) | {d for d, _ in u_pts})
    return {
        "title": f"{m['model']} {m['quant']} {m['dataset']}: % change from the median before "
        f"the commit ({at} UTC, dashed line)",
        **_panel(
            [
                ("benchmark p95 (daily median)", "#c0392b", _pct_series(b_pts, b_base)),
                (f"users' {m['model']} calls (daily median)", "#2471a3", _pct_series(u_pts, u_base)),
            ],
            all_days,
            _TOP + _PANEL_H + _GAP,
            marker_day=at[:10],
        ),
    }


# Confidence and its components are printed with 2 decimals; freshness decays with the clock
# (at most 0.0035 an hour), so a re-run within the hour moves it by less than half a printed
# unit: that is the same episode.
_SCORES = {"confidence_score", "completeness", "correlation_strength", "recency"}
_SCORE_TOLERANCE = 0.005


def _same_episode_row(stored: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether the stored row version already says what ``row`` would: the same commits,
    title, path, status, tokens and cost (to its 6 places), and scores within
    ``_SCORE_TOLERANCE``."""
    for key in epfmt.CONTENT_COLUMNS:
        old, new = stored.get(key), row.get(key)
        if key in _SCORES:
            if old is None or new is None or abs(float(old) - float(new)) >= _SCORE_TOLERANCE:
                return False
        elif key == "cost_total":
            if old is None or new is None or round(float(old), 6) != round(float(new), 6):
                return False
        elif key == "forced":
            if bool(old) != bool(new):
                return False
        elif str(old if old is not None else "") != str(new if new is not None else ""):
            return False
    return True


def run(
    ctx: RunContext,
    *,
    force: bool = False,
    window_days: int | None = None,
    now: datetime | None = None,
    narrate: bool | None = None,
) -> AgentResult:
    """Generate (or re-render) the episode for the latest commits of both repos.

    Blocked unless the watcher's status file is valid; ``force`` overrides, loudly.
    ``narrate`` (default ``narrator.enabled``) lets the LLM narrator write the prose sections.
    """
    s = ctx.settings
    verdict = _gate(ctx, force=force)
    gate_reason = verdict.reason
    until = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(second=0, microsecond=0)
    days = window_days or s.council.window_days
    window = Window(until - timedelta(days=days), until)

    blog = _repo_path(ctx, "banterblogs")
    posts_dir = blog / s.repos.banterblogs.posts_dir
    comp = compose(
        ctx,
        window=window,
        forced=force and not verdict.open,
        gate_reason=gate_reason,
        verdict=verdict,
        hearts_commit=verdict.hearts_commit if verdict.open else None,
        packs_commit=verdict.packs_commit if verdict.open else None,
        narrate=s.narrator.enabled if narrate is None else narrate,
    )

    existing = ctx.store.named("council_episode", {"episode": comp.episode, "lang": "en"}).first()
    if existing and existing["status"] in ("published", "rolled_back"):
        return AgentResult(
            message=f"episode {comp.episode} for these commits is already {existing['status']}; not re-rendering it",
            details={"episode": comp.episode, "status": existing["status"]},
        )

    post = _write_files(posts_dir, comp)
    rel = post.relative_to(blog).as_posix()
    forced_flag = force and not verdict.open
    row = _episode_row(ctx, comp, rel, forced=forced_flag)
    details = _details(comp, post, forced=forced_flag)
    if existing and _same_episode_row(existing, row):
        # A re-run that computed the same episode (its files are rewritten above) writes no new
        # row version (issue 17: two demo runs leave every table's raw count() unchanged) and
        # does not alert again.
        return AgentResult(
            message=f"episode {comp.episode} {comp.status} (confidence {comp.confidence.final:.2f}) "
            f"unchanged at {post}; no new row version" + (" [FORCED]" if forced_flag else ""),
            forced=forced_flag,
            details={**details, "unchanged": True},
        )
    ctx.store.insert("episodes", [row])
    _report(ctx, comp, rel)
    message = f"episode {comp.episode} {comp.status} (confidence {comp.confidence.final:.2f}) at {post}" + (
        " [FORCED]" if forced_flag else ""
    )
    return AgentResult(message=message, rows_written=1, forced=forced_flag, details=details)


def _gate(ctx: RunContext, *, force: bool) -> Any:
    """The watcher's verdict on the latest commits; BlockedError when it is closed and not forced."""
    from muse.analysis import circuit

    verdict = circuit.check_gate(ctx.settings, ctx.store)
    if not verdict.open and not force:
        raise BlockedError(f"council blocked by the circuit breaker: {verdict.reason}")
    if not verdict.open:
        log.warning("FORCED: generating despite the circuit breaker: %s", verdict.reason)
    return verdict


def _write_files(posts_dir: Path, comp: Composition) -> Path:
    """Write the chart, the evidence sidecar and then the post (the post last: it names the other two)."""
    post = posts_dir / epfmt.post_name(comp.episode)
    atomic_write_text(posts_dir / epfmt.chart_name(comp.episode), comp.svg)
    atomic_write_text(posts_dir / epfmt.evidence_name(comp.episode), dump_sidecar(comp.evidence))
    atomic_write_text(post, comp.markdown)
    return post


def _episode_row(ctx: RunContext, comp: Composition, rel: str, *, forced: bool) -> dict[str, Any]:
    """The episodes table row of this rendering (path ``rel`` inside the blog repo)."""
    return {
        "ts": ts_str(datetime.now(timezone.utc)),
        "episode": comp.episode,
        "lang": "en",
        "translation_of": None,
        "run_id": ctx.run_id,
        "hearts_commit": comp.hearts_commit,
        "packs_commit": comp.packs_commit,
        "title": comp.title,
        "path": rel,
        "confidence_score": comp.confidence.final,
        "completeness": comp.confidence.completeness,
        "correlation_strength": abs(comp.correlation_r or 0.0),
        "recency": comp.confidence.recency,
        "tokens_total": comp.tokens_total,
        "cost_total": round(comp.cost_total, 6),
        "status": comp.status,
        "forced": forced,
        "approved_by": "",
        "published_commit": "",
    }


def _details(comp: Composition, post: Path, *, forced: bool) -> dict[str, Any]:
    """The run's details: what was written where, how confident, how many facts."""
    return {
        "episode": comp.episode,
        "status": comp.status,
        "path": str(post),
        "title": comp.title,
        "confidence": comp.confidence.final,
        "components": dict(comp.confidence.components),
        "correlation_r": comp.correlation_r,
        "forced": forced,
        "facts": len(comp.facts.items),
        **({"narration": comp.narration.summary()} if comp.narration is not None else {}),
    }


def _report(ctx: RunContext, comp: Composition, rel: str) -> None:
    """Metrics of a new episode row, and a warning alert when it is a draft that needs review."""
    t = ctx.telemetry
    t.count("episodes.generated", 1, confidence_score=f"{comp.confidence.final:.1f}")
    t.gauge("episodes.confidence_score", comp.confidence.final, episode=comp.episode)
    t.gauge("episodes.correlation", comp.correlation_r or 0.0)
    t.gauge("episodes.tokens_total", comp.tokens_total)
    t.gauge("episodes.cost_total", comp.cost_total)
    if comp.status == "draft":
        ctx.alert(
            "warning",
            "Low confidence episode, review needed",
            f"Episode {comp.episode} has confidence {comp.confidence.final:.2f} "
            f"(< {comp.confidence.threshold:.2f}); draft at {rel}. "
            f"Review it, then `muse publish {comp.episode} --approve`.",
            dedup_key=f"muse-episode-{comp.episode}-draft",
        )
