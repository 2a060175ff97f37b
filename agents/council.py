"""Council: the daily episode, every number traceable to a query, a row and a commit.

Pipeline: gate (the watcher's status file, unless forced) -> window figures from the store
-> confidence -> facts (each number formatted once, with its provenance) -> Jinja2
templates -> ``<blog repo>/<posts_dir>/ep-{n}.md`` + ``ep-{n}.svg`` -> an episodes row.

The seam for a later LLM narrator is :func:`compose`: it returns the verified facts and
the template context; a narrator could rephrase that context, and the trace check would
still hold it to the Evidence appendix. None is added now.

Entry point: :func:`run`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from muse.fsutil import atomic_write_text
from muse import episode as epfmt
from muse.errors import BlockedError, ConfigError
from muse.evidence import Facts, appendix_table
from muse.runs import AgentResult, RunContext, ts_str
from muse.templating import md_code, render

log = logging.getLogger(__name__)

CONTRADICTION_THRESHOLD = 0.05  # a 5% move in opposite directions counts as a contradiction
SHIPPED_LIMIT = 15  # commits listed per repo; the count is always complete


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


@dataclass
class Confidence:
    completeness: float
    correlation: float
    recency: float
    threshold: float
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> float:
        return min(self.completeness, self.correlation, self.recency)

    @property
    def is_draft(self) -> bool:
        return self.final < self.threshold


@dataclass
class Composition:
    """Everything an episode says, before it is written anywhere."""

    episode: int
    title: str
    status: str
    front_matter: dict[str, Any]
    markdown: str
    svg: str
    confidence: Confidence
    correlation_r: float | None
    tokens_total: int
    cost_total: float
    facts: Facts
    hearts_commit: str
    packs_commit: str


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _halves(values: list[float]) -> tuple[float, float] | None:
    """Mean of the first and second half of a series (the middle day goes to neither)."""
    if len(values) < 2:
        return None
    half = len(values) // 2
    first, second = values[:half], values[len(values) - half:]
    return sum(first) / len(first), sum(second) / len(second)


def _metric_format(metric: str) -> tuple[str, str]:
    """Number format and unit for an insight's metric name."""
    m = metric.lower()
    if "cost" in m:
        return "{:,.4f}", " USD"
    if "latency" in m or m.endswith("_ms"):
        return "{:,.0f}", " ms"
    if "throughput" in m or "tokens_per_sec" in m:
        return "{:,.1f}", " tokens/s"
    return "{:,.1f}", ""


def recency_score(age: timedelta | None) -> float:
    """1.0 when the newest data is under 24 h old, linear down to 0.5 at 7 days, 0.5 after."""
    if age is None:
        return 0.5
    hours = age.total_seconds() / 3600
    if hours <= 24:
        return 1.0
    return max(0.5, 1.0 - 0.5 * (hours - 24) / (6 * 24))


def _parse_ts(text: str | None) -> datetime | None:
    if not text or text.startswith("1970-01-01"):
        return None
    return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=timezone.utc)


def _strength(r: float | None) -> str:
    if r is None:
        return "none"
    a = abs(r)
    return "strong" if a >= 0.7 else "moderate" if a >= 0.4 else "weak"


def _repo_path(ctx: RunContext, repo: str) -> Path:
    path = ctx.settings.path_of(f"repos.{repo}.path")
    if path is None:
        raise ConfigError(f"repos.{repo}.path is not set", hint=f"set it in the config file or MUSE_REPOS_{repo.upper()}_PATH")
    return path


def compose(ctx: RunContext, *, window: Window, episode: int | None = None, forced: bool = False,
            gate_reason: str = "", hearts_commit: str | None = None, packs_commit: str | None = None,
            run_id: str | None = None) -> Composition:
    """Query the window, score confidence, register every number, render the episode."""
    from muse import gitrepo

    s = ctx.settings
    store = ctx.store
    facts = Facts()
    wp = hp = window.params

    hearts_repo, packs_repo = _repo_path(ctx, "banterhearts"), _repo_path(ctx, "banterpacks")
    h_branch, p_branch = s["repos.banterhearts.branch"], s["repos.banterpacks.branch"]
    hearts_commit = hearts_commit or gitrepo.latest_commit(hearts_repo, h_branch).sha
    packs_commit = packs_commit or gitrepo.latest_commit(packs_repo, p_branch).sha

    hearts_daily = store.named("council_hearts_daily", wp).dicts()
    packs_daily = store.named("council_packs_daily", hp).dicts()
    corr_row = store.named("council_correlation", wp).first() or {}
    series = store.named("council_model_series", wp).dicts()
    llm = store.named("council_llm_totals", wp).dicts()
    fresh = store.named("council_freshness", wp).first() or {}
    insights = _insights(ctx, window)

    if episode is None:
        row = store.named("council_episode_for_commits", {"hearts": hearts_commit, "packs": packs_commit}).first() or {}
        episode = int(row["existing"]) if row.get("existing_count") else int(row.get("highest") or 0) + 1

    # --- confidence -----------------------------------------------------------------
    days = max(1, round(window.days))
    hearts_expected = days * s["council.expected_bench_results_per_day"]
    packs_expected = days * 24
    hearts_present = sum(int(d["result_rows"]) for d in hearts_daily)
    packs_present = sum(int(d["hours"]) for d in packs_daily)
    completeness = (min(hearts_present, hearts_expected) + min(packs_present, packs_expected)) / (
        hearts_expected + packs_expected)
    n_joined = int(corr_row.get("n") or 0)
    r = _finite(corr_row.get("r")) if n_joined >= 3 else None
    correlation = abs(r) if r is not None else 0.0
    newest = [t for t in (_parse_ts(fresh.get("hearts_newest")), _parse_ts(fresh.get("packs_newest"))) if t]
    stalest = min(newest) if len(newest) == 2 else None
    age = (window.until - stalest) if stalest else None
    recency = recency_score(age)
    conf = Confidence(completeness, correlation, recency, s["council.confidence_threshold"], {
        "hearts_present": hearts_present, "hearts_expected": hearts_expected,
        "packs_present": packs_present, "packs_expected": packs_expected, "joined_days": n_joined,
        "r": r, "newest_age_hours": None if age is None else age.total_seconds() / 3600,
    })
    status = "draft" if conf.is_draft else "ready"

    # --- facts and template context ---------------------------------------------------
    f = facts
    ep_text = f.num(episode, "{}", label="episode number", query="council_episode_for_commits",
                    params={"hearts": hearts_commit, "packs": packs_commit})
    win = {
        "since": f.num(window.since.strftime("%Y-%m-%d %H:%M"), "{}", label="window start (UTC)",
                       query="council window", params={"window_days": round(window.days, 2)}),
        "until": f.num(window.until.strftime("%Y-%m-%d %H:%M"), "{}", label="window end (UTC)",
                       query="council window", params={"window_days": round(window.days, 2)}),
    }

    # What shipped: commits of both repos in the window, from git.
    shipped = {}
    for name, path, branch in (("banterhearts", hearts_repo, h_branch), ("banterpacks", packs_repo, p_branch)):
        commits = gitrepo.commits_between(path, branch, window.since, window.until)
        shipped[name] = {
            "count": f.num(len(commits), "{:,}", label=f"{name} commits in window", query=f"git log {name}",
                           params={"branch": branch, **wp}, keys=[c.sha for c in commits]),
            "commits": [{"sha": c.sha[:10], "subject": c.subject,
                         "date": c.time.strftime("%Y-%m-%d")} for c in commits[:SHIPPED_LIMIT]],
            "more": max(0, len(commits) - SHIPPED_LIMIT),
            "more_text": f.num(max(0, len(commits) - SHIPPED_LIMIT), "{:,}", label=f"{name} commits not listed",
                               query=f"git log {name}", params={"branch": branch, **wp}),
        }

    hearts_vals = [float(d["avg_p95_ms"]) for d in hearts_daily]
    packs_vals = [float(d["user_latency_ms"]) for d in packs_daily if d["user_latency_ms"] is not None]
    h_halves, p_halves = _halves(hearts_vals), _halves(packs_vals)
    h_trend = (h_halves[1] / h_halves[0] - 1) if h_halves and h_halves[0] else None
    p_trend = (p_halves[1] / p_halves[0] - 1) if p_halves and p_halves[0] else None
    all_hearts_runs = sorted({r_ for d in hearts_daily for r_ in d["run_ids"]})
    all_hours = sorted({h for d in packs_daily for h in d["hour_keys"]})

    hearts = None
    if hearts_daily:
        avg_p95 = sum(float(d["avg_p95_ms"]) * int(d["result_rows"]) for d in hearts_daily) / max(1, hearts_present)
        hearts = {
            "avg_p95": f.num(avg_p95, "{:,.0f}", unit=" ms", label="mean benchmark p95 latency",
                             query="council_hearts_daily", params=wp, keys=all_hearts_runs),
            "results": f.num(hearts_present, "{:,}", label="benchmark results in window",
                             query="council_hearts_daily", params=wp, keys=all_hearts_runs),
            "days": f.num(len(hearts_daily), "{:,}", label="days with benchmark results",
                          query="council_hearts_daily", params=wp, keys=[d["day"] for d in hearts_daily]),
            "trend": f.pct(h_trend, label="benchmark p95, second half of window vs first half",
                           query="council_hearts_daily", params=wp, keys=[d["day"] for d in hearts_daily]),
            "trend_value": h_trend,
        }

    packs = None
    if packs_daily:
        sessions = sum(int(d["sessions"]) for d in packs_daily)
        w = [(d, int(d["sessions"])) for d in packs_daily]
        err = sum(float(d["error_rate"] or 0) * n for d, n in w) / max(1, sessions)
        aband = sum(float(d["abandonment_rate"] or 0) * n for d, n in w) / max(1, sessions)
        user_lat = sum(packs_vals) / len(packs_vals) if packs_vals else None
        worst = max(packs_daily, key=lambda d: float(d["user_latency_ms"] or 0))
        packs = {
            "sessions": f.num(sessions, "{:,}", label="sessions in window", query="council_packs_daily",
                              params=hp, keys=all_hours),
            "hours": f.num(packs_present, "{:,}", label="hours with telemetry", query="council_packs_daily",
                           params=hp, keys=all_hours),
            "user_latency": f.num(user_lat, "{:,.0f}", unit=" ms", label="mean daily user latency",
                                  query="council_packs_daily", params=hp, keys=all_hours),
            "error_rate": f.num(err * 100, "{:.2f}", unit="%", label="session error rate",
                                query="council_packs_daily", params=hp, keys=all_hours),
            "abandonment": f.num(aband * 100, "{:.1f}", unit="%", label="session abandonment rate",
                                 query="council_packs_daily", params=hp, keys=all_hours),
            "trend": f.pct(p_trend, label="user latency, second half of window vs first half",
                           query="council_packs_daily", params=hp, keys=[d["day"] for d in packs_daily]),
            "trend_value": p_trend,
            "worst_day": f.num(worst["day"], "{}", label="day with the highest user latency",
                               query="council_packs_daily", params=hp, keys=worst["hour_keys"]),
            "worst_latency": f.num(float(worst["user_latency_ms"] or 0), "{:,.0f}", unit=" ms",
                                   label="user latency on that day", query="council_packs_daily", params=hp,
                                   keys=worst["hour_keys"]),
        }

    model_rows = []
    for row in sorted(series, key=lambda x: -abs((x["last_p95_ms"] / x["first_p95_ms"] - 1)
                                                 if x["first_p95_ms"] else 0))[:8]:
        keys = [row["first_run_id"], row["last_run_id"], row["last_commit"]]
        sp = {**wp, "model": row["model"], "quant": row["quant"], "dataset": row["dataset"]}
        change = (row["last_p95_ms"] / row["first_p95_ms"] - 1) if row["first_p95_ms"] else None
        model_rows.append({
            "model": row["model"], "quant": row["quant"], "dataset": row["dataset"],
            "first": f.num(row["first_p95_ms"], "{:,.0f}", unit=" ms", label="first p95 in window",
                           query="council_model_series", params=sp, keys=keys),
            "last": f.num(row["last_p95_ms"], "{:,.0f}", unit=" ms", label="latest p95 in window",
                          query="council_model_series", params=sp, keys=keys),
            "change": f.pct(change, label="p95 change, latest vs first", query="council_model_series",
                            params=sp, keys=keys),
            "tps": f.num(row["last_tokens_per_sec"], "{:,.1f}", label="latest tokens/s",
                         query="council_model_series", params=sp, keys=keys),
        })

    findings = []
    for ins in insights:
        ip = {"since": wp["since"]}
        keys = [ins.get("insight_id", ""), ins.get("commit_sha", "")]
        fmt, unit = _metric_format(ins.get("metric") or "")

        def val(column: str, label: str, fmt: str = fmt, unit: str = unit) -> str | None:
            v = _finite(ins.get(column))
            return None if v is None else f.num(v, fmt, unit=unit, label=f"{label} ({ins.get('metric')})",
                                                 query="council_insights", params=ip, keys=keys)

        findings.append({
            "type": ins.get("type", ""), "severity": ins.get("severity", ""),
            "ids": [x for x in (ins.get("model"), ins.get("quant"), ins.get("dataset")) if x],
            "model": ins.get("model") or "", "quant": ins.get("quant") or "",
            "dataset": ins.get("dataset") or "", "commit": (ins.get("commit_sha") or "")[:10],
            "metric": (ins.get("metric") or "").removesuffix("_usd").replace("_", " "),
            "baseline": val("baseline_value", "baseline"), "observed": val("observed_value", "observed"),
            "z": val("z_score", "z-score", "{:+.1f}", ""),
        })
    regressions = [x for x in findings if x["type"].endswith("regression")]

    tokens_total = int(sum(int(x["tokens"]) for x in llm))
    cost_total = float(sum(float(x["cost_usd"]) for x in llm))
    llm_ctx = {
        "tokens": f.num(tokens_total, "{:,}", label="LLM tokens in window", query="council_llm_totals", params=wp),
        "cost": f.num(cost_total, "${:,.2f}", label="LLM cost in window (USD)", query="council_llm_totals", params=wp),
        "top": [{"source": x["source"], "model": x["model"],
                 "cost": f.num(float(x["cost_usd"]), "${:,.2f}", label="LLM cost (USD)", query="council_llm_totals",
                               params={**wp, "source": x["source"], "model": x["model"]})} for x in llm[:3]],
    }

    contradiction = None
    if h_trend is not None and p_trend is not None:
        if h_trend <= -CONTRADICTION_THRESHOLD and p_trend >= CONTRADICTION_THRESHOLD:
            contradiction = "faster_bench_slower_users"
        elif h_trend >= CONTRADICTION_THRESHOLD and p_trend <= -CONTRADICTION_THRESHOLD:
            contradiction = "slower_bench_faster_users"

    corr_ctx = {
        "n": f.num(n_joined, "{:,}", label="days with both benchmark and user data",
                   query="council_correlation", params=wp, keys=corr_row.get("days") or []),
        "r": f.num(r, "{:+.2f}", label="Pearson r, daily benchmark p95 vs user latency",
                   query="council_correlation", params=wp, keys=corr_row.get("days") or []) if r is not None else None,
        "strength": _strength(r),
        "min_days": f.num(3, "{}", label="minimum joined days for a correlation", query="council rule", params={}),
    }
    conf_ctx = {
        "final": f.num(conf.final, "{:.2f}", label="confidence (minimum of the components)", query="council rule",
                       params={"threshold": conf.threshold}),
        "threshold": f.num(conf.threshold, "{:.2f}", label="confidence threshold",
                           query="config council.confidence_threshold", params={}),
        "completeness": f.num(conf.completeness, "{:.2f}", label="completeness", query="council rule",
                              params={"formula": "(min(hearts, hearts_expected) + min(packs, packs_expected)) / "
                                                 "(hearts_expected + packs_expected)"}),
        "hearts_present": f.num(hearts_present, "{:,}", label="benchmark results present",
                                query="council_hearts_daily", params=wp, keys=all_hearts_runs),
        "hearts_expected": f.num(hearts_expected, "{:,}", label="benchmark results expected",
                                 query="config council.expected_bench_results_per_day", params={"days": days}),
        "packs_present": f.num(packs_present, "{:,}", label="telemetry hours present",
                               query="council_packs_daily", params=hp, keys=all_hours),
        "packs_expected": f.num(packs_expected, "{:,}", label="telemetry hours expected",
                                query="council rule", params={"days": days, "hours_per_day": 24}),
        "correlation": f.num(conf.correlation, "{:.2f}", label="correlation strength |r|",
                             query="council_correlation", params=wp),
        "recency": f.num(conf.recency, "{:.2f}", label="recency", query="council rule",
                         params={"full_until_hours": 24, "half_at_days": 7}),
        "age": f.num(None if age is None else age.total_seconds() / 3600, "{:,.1f}", unit=" h",
                     label="age of the staler source's newest data", query="council_freshness", params=wp),
    }

    headline = (f"{regressions[0]['metric'] or 'latency'} regression in {regressions[0]['model']}"
                if regressions else "the week in benchmarks and user experience")
    title = f"Episode {episode}: {' '.join(headline.split())}"
    chart = epfmt.chart_name(episode)
    context = {
        "episode": ep_text, "episode_number": episode, "title": title, "draft": conf.is_draft, "forced": forced,
        "gate_reason": gate_reason, "window": win, "shipped": shipped, "hearts": hearts, "packs": packs,
        "models": model_rows, "findings": findings, "regressions": regressions, "llm": llm_ctx,
        "more_regressions": f.num(max(0, len(regressions) - 2), "{:,}", label="regression findings not repeated",
                                  query="council_insights", params={"since": wp["since"]}),
        "corr": corr_ctx, "contradiction": contradiction, "conf": conf_ctx, "chart": chart,
        "hearts_commit": hearts_commit, "packs_commit": packs_commit,
    }
    body = render("episode.md.j2", **context)
    body = body.rstrip() + "\n\n## Evidence\n\n" + appendix_table(facts) + "\n"
    svg = render("chart.svg.j2", **_chart_context(hearts_daily, packs_daily, episode))
    fm = {
        "title": title, "episode": episode, "date": window.until.strftime("%Y-%m-%d"), "lang": "en",
        "status": status, "summary": _summary(hearts, packs, regressions),
        "confidence": round(conf.final, 4),
        "confidence_components": {"completeness": round(conf.completeness, 4),
                                  "correlation": round(conf.correlation, 4), "recency": round(conf.recency, 4)},
        "hearts_commit": hearts_commit, "packs_commit": packs_commit, "run_id": run_id or ctx.run_id,
        "forced": forced, "window": {"since": window.since.isoformat(), "until": window.until.isoformat()},
        "chart": chart,
    }
    return Composition(episode, title, status, fm, epfmt.render(fm, body), svg, conf, r, tokens_total, cost_total,
                       facts, hearts_commit, packs_commit)


def _summary(hearts: dict | None, packs: dict | None, regressions: list[dict]) -> str:
    parts = []
    if regressions:
        parts.append(f"A {regressions[0]['metric'] or 'latency'} regression in {regressions[0]['model']}.")
    if hearts:
        parts.append("Benchmark and user latency compared day by day.")
    if packs:
        parts.append("User experience from banterpacks telemetry.")
    return " ".join(parts) or "Not enough data for a summary."


def _insights(ctx: RunContext, window: Window) -> list[dict[str, Any]]:
    return ctx.store.named("council_insights", {"since": window.params["since"]}).dicts()


def _chart_context(hearts_daily: list[dict], packs_daily: list[dict], episode: int) -> dict[str, Any]:
    days = sorted({d["day"] for d in hearts_daily} | {d["day"] for d in packs_daily})
    width, height, left, right, top, bottom = 720, 320, 70, 70, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom

    def points(rows: list[dict], key: str) -> tuple[list[tuple[float, float]], float, float]:
        vals = {d["day"]: _finite(d[key]) for d in rows}
        present = [v for v in vals.values() if v is not None]
        if not present:
            return [], 0.0, 0.0
        lo, hi = min(present), max(present)
        span = (hi - lo) or max(1.0, hi * 0.1)
        lo, hi = lo - span * 0.1, hi + span * 0.1
        pts = []
        for i, day in enumerate(days):
            v = vals.get(day)
            if v is None:
                continue
            x = left + (plot_w * i / max(1, len(days) - 1))
            y = top + plot_h * (1 - (v - lo) / (hi - lo))
            pts.append((round(x, 1), round(y, 1)))
        return pts, lo, hi

    h_pts, h_lo, h_hi = points(hearts_daily, "avg_p95_ms")
    p_pts, p_lo, p_hi = points(packs_daily, "user_latency_ms")
    labels = [{"x": round(left + plot_w * i / max(1, len(days) - 1), 1), "text": d[5:]} for i, d in enumerate(days)]
    return {"width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
            "plot_w": plot_w, "plot_h": plot_h, "episode": episode, "labels": labels,
            "hearts": " ".join(f"{x},{y}" for x, y in h_pts), "packs": " ".join(f"{x},{y}" for x, y in p_pts),
            "hearts_pts": h_pts, "packs_pts": p_pts,
            "h_lo": f"{h_lo:,.0f}", "h_hi": f"{h_hi:,.0f}", "p_lo": f"{p_lo:,.0f}", "p_hi": f"{p_hi:,.0f}"}


def run(ctx: RunContext, *, force: bool = False, window_days: int | None = None,
        now: datetime | None = None) -> AgentResult:
    """Generate (or re-render) the episode for the latest commits of both repos.

    Blocked unless the watcher's status file is valid; ``force`` overrides, loudly.
    """
    from muse import circuit

    s = ctx.settings
    verdict = circuit.check_gate(s, ctx.store)
    gate_reason = verdict.reason
    if not verdict.open and not force:
        raise BlockedError(f"council blocked by the circuit breaker: {verdict.reason}")
    if not verdict.open:
        log.warning("FORCED: generating despite the circuit breaker: %s", verdict.reason)
    until = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(second=0, microsecond=0)
    days = window_days or s["council.window_days"]
    window = Window(until - timedelta(days=days), until)

    blog = _repo_path(ctx, "banterblogs")
    posts_dir = blog / s["repos.banterblogs.posts_dir"]
    comp = compose(ctx, window=window, forced=force and not verdict.open, gate_reason=gate_reason,
                   hearts_commit=verdict.hearts_commit if verdict.open else None,
                   packs_commit=verdict.packs_commit if verdict.open else None)

    existing = ctx.store.named("council_episode", {"episode": comp.episode, "lang": "en"}).first()
    if existing and existing["status"] in ("published", "rolled_back"):
        return AgentResult(message=f"episode {comp.episode} for these commits is already {existing['status']}; "
                                   "not re-rendering it", details={"episode": comp.episode, "status": existing["status"]})

    post = posts_dir / epfmt.post_name(comp.episode)
    atomic_write_text(posts_dir / epfmt.chart_name(comp.episode), comp.svg)
    atomic_write_text(post, comp.markdown)
    rel = post.relative_to(blog).as_posix()
    forced_flag = force and not verdict.open
    ctx.store.insert("episodes", [{
        "ts": ts_str(datetime.now(timezone.utc)), "episode": comp.episode, "lang": "en", "translation_of": None,
        "run_id": ctx.run_id, "hearts_commit": comp.hearts_commit, "packs_commit": comp.packs_commit,
        "title": comp.title, "path": rel, "confidence_score": comp.confidence.final,
        "completeness": comp.confidence.completeness, "correlation_strength": comp.confidence.correlation,
        "recency": comp.confidence.recency, "tokens_total": comp.tokens_total, "cost_total": round(comp.cost_total, 6),
        "status": comp.status, "forced": forced_flag, "approved_by": "", "published_commit": "",
    }])
    t = ctx.telemetry
    t.count("episodes.generated", 1, confidence_score=f"{comp.confidence.final:.1f}")
    t.gauge("episodes.confidence_score", comp.confidence.final, episode=comp.episode)
    t.gauge("episodes.correlation", comp.correlation_r or 0.0, strength=_strength(comp.correlation_r))
    t.gauge("episodes.tokens_total", comp.tokens_total)
    t.gauge("episodes.cost_total", comp.cost_total)
    if comp.status == "draft":
        ctx.alert("warning", "Low confidence episode, review needed",
                  f"Episode {comp.episode} has confidence {comp.confidence.final:.2f} "
                  f"(< {comp.confidence.threshold:.2f}); draft at {rel}. "
                  f"Review it, then `muse publish {comp.episode} --approve`.",
                  dedup_key=f"muse-episode-{comp.episode}-draft")
    message = (f"episode {comp.episode} {comp.status} (confidence {comp.confidence.final:.2f}) at {post}"
               + (" [FORCED]" if forced_flag else ""))
    return AgentResult(message=message, rows_written=1, forced=forced_flag, details={
        "episode": comp.episode, "status": comp.status, "path": str(post), "title": comp.title,
        "confidence": comp.confidence.final, "components": {
            "completeness": comp.confidence.completeness, "correlation": comp.confidence.correlation,
            "recency": comp.confidence.recency}, "correlation_r": comp.correlation_r, "forced": forced_flag,
        "facts": len(comp.facts.items)})
