"""The analytics worker: baselines per group and hour, z-scores on read, insights.

Entry point: :func:`run` (``muse analytics run``, cron, tests and the demo call it through
``run_agent(settings, "analytics", run)``). Reference: docs/analytics.md.

Each run analyses what is new since the previous one and nothing else:

* **llm_events**: per (source, operation, model) and hour with events, a baseline of the
  group's calls in the trailing ``baseline_window_days`` before the hour (no look-ahead) is
  stored in ``analytics_baselines``, on a log scale: latency conditioned on output tokens
  (least squares of ln latency on ln(1 + tokens_out)), cost on total tokens, tokens alone.
  Models are never pooled; fewer than ``min_baseline_samples`` calls is
  ``insufficient_baseline``. The ``run_analytics`` view computes every call's z-scores on
  read; only calls with |z| > 3 are materialised (``analytics_outliers``). An hour of one
  group with more extreme calls than the metric's false-alarm rate explains (binomial test,
  Benjamini-Hochberg over every group-hour scored) is an outlier insight, folded into a cost
  anomaly of the same hour and source when there is one.
* **level shifts**: per group and metric (latency, cost), the hourly levels of the last
  ``level_shift_days`` are searched for one sustained step (least squares change point,
  Bonferroni over the splits, Benjamini-Hochberg over the series): one ``level_shift``
  insight with the start hour, medians before/after, the ratio's interval and the commits
  first seen around it.
* **bench_runs**: per (model, quant, dataset) series, median / MAD baselines of the earlier
  runs; a run worse by |z| >= ``bench_z_threshold`` and by ``regression_min_change_pct`` is a
  regression (warning; critical when the next run confirms it or |z| >= twice the
  threshold), a run the next one reverts is an outlier; its size is the ratio of the medians
  after/before the change point, with a bootstrap interval.
* **cost anomaly**: each hour with new LLM events whose cost exceeds
  ``cost_anomaly_factor`` x the median of the same hour on the previous days (at least
  ``cost_anomaly_min_days`` of them), by at least ``cost_anomaly_min_excess`` typical hours'
  spend, alerts (Slack) once, deduplicated through its insight.
* **ingest gaps** recorded by the ingest worker become insights.

Writes happen in an order that makes a failed run safe to repeat: insights and outliers
(idempotent, deduplicated by key) first, the baselines last; a stored baseline is what marks
an hour (or a bench row) analysed.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Sequence

from muse.analysis import insights as ins
from muse.analysis import stats as stats_mod
from muse.errors import ConfigError, MuseError, StoreError
from muse.analysis.insights import Insight
from muse.hours import require_ts  # the one timestamp parser
from muse.hours import ts_str
from muse.runs import AgentResult, ItemOutcome, RunContext

if TYPE_CHECKING:
    from muse.config import Settings
    from muse.store import Store

log = logging.getLogger(__name__)

AGENT = "analytics"
EXTREME_Z = 3.0  # |z| above this (log scale) is materialised; z > this counts as an extreme call
LOG_SCALE_FLOOR = 0.01  # an llm scale is never below 1% (log units)
SCALE_FLOOR_RATIO = 0.01  # a bench scale is never below 1% of the center ...
BENCH_FLOORS = {"cost": 1e-6, "latency": 1.0, "tokens": 0.01}  # ... nor below one unit of the metric
# The per-call false-alarm rate an extreme count (z > 3) is tested against: a bound on the
# rates measured on normal demo traffic (docs/analytics.md: latency 0.002%, cost 0.58% of
# calls; the normal tail would be 0.135%), or the rate
# over every call of the run when it scored enough calls to measure it and it is higher.
FALSE_ALARM_RATE = {"latency": 0.005, "cost": 0.01}
RATE_MIN_CALLS = 2000
# The session-scoped temporary tables of one run (sql/queries/analytics_*.sql create them).
TEMP_TABLES = ("_an_hours", "_an_buckets", "_an_hist", "_an_base", "_an_out", "_an_bench_long", "_an_bench")
LEVEL_SHIFT_MIN_CALLS = 3  # hours with fewer calls of a group are left out of its level series

BENCH_METRICS = {
    # metric: (insight type, what it measures, unit, worse direction text)
    "latency": ("latency_regression", "latency p95", "ms"),
    "throughput": ("throughput_regression", "throughput", "tokens/s"),
    "cost": ("cost_regression", "cost per 1k tokens", "USD"),
}
SUGGESTED = {
    "latency_regression": "Diff the commit against the last good one for changes to this model/quant path "
    "(batching, kernels, quantization config); re-run the benchmark to rule out a noisy host.",
    "throughput_regression": "Diff the commit against the last good one for changes to generation settings or "
    "kernels of this model/quant; re-run the benchmark on an idle host.",
    "cost_regression": "Check pricing tables and token accounting changed in this commit for this model.",
    "bench_outlier": "No action unless it recurs: the next run was back to normal (likely a noisy run or host).",
    "llm_outlier": "Open the listed runs: look for prompts or responses far longer than usual, retries, or a "
    "slow provider in that hour.",
    "cost_anomaly": "Check which source and model drove the spend (see metrics.by_source_model) and whether "
    "a loop, retry storm or a new caller started in that hour.",
    "level_shift": "Diff the commits first seen around the start hour (listed in metrics.commits) for changes to "
    "this model's serving path; the shift persists, so it is not a noisy hour.",
    "ingestion_gap": "Check the banterpacks telemetry exporter and the ingest runs of that hour; re-run "
    "`muse ingest packs` for it once the files are there.",
}


@dataclass(frozen=True)
class Params:
    window_days: int
    min_n: int
    cost_factor: float
    cost_days: int
    cost_min_days: int
    cost_min_excess: float
    thresholds: tuple[int, int, int, int]
    outlier_min_rows: int
    outlier_min_share: float
    min_change_pct: float
    overlap_s: float
    alert_max_age_h: float
    bench_min_n: int
    bench_z: float
    fdr_q: float
    shift_days: int
    shift_min_hours: int
    shift_min_change: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "Params":
        raw = settings.analytics.category_tokens
        try:
            thresholds = tuple(int(x) for x in str(raw).split(","))
        except ValueError:
            thresholds = ()
        if len(thresholds) != 4 or any(t <= 0 for t in thresholds) or list(thresholds) != sorted(set(thresholds)):
            raise ConfigError(
                f"invalid setting analytics.category_tokens: expected 4 increasing positive integers "
                f"(tiny<small<medium<large<huge bands), got {raw!r}"
            )
        return cls(
            window_days=settings.analytics.baseline_window_days,
            min_n=settings.analytics.min_baseline_samples,
            cost_factor=settings.analytics.cost_anomaly_factor,
            cost_days=settings.analytics.cost_anomaly_baseline_days,
            cost_min_days=settings.analytics.cost_anomaly_min_days,
            cost_min_excess=settings.analytics.cost_anomaly_min_excess,
            thresholds=thresholds,
            outlier_min_rows=settings.analytics.outlier_min_rows,
            outlier_min_share=settings.analytics.outlier_min_share,
            min_change_pct=settings.analytics.regression_min_change_pct,
            overlap_s=settings.analytics.watermark_overlap_seconds,
            alert_max_age_h=settings.analytics.alert_max_age_hours,
            bench_min_n=settings.analytics.bench_min_baseline_runs,
            bench_z=settings.analytics.bench_z_threshold,
            fdr_q=settings.analytics.fdr_q,
            shift_days=settings.analytics.level_shift_days,
            shift_min_hours=settings.analytics.level_shift_min_hours,
            shift_min_change=settings.analytics.level_shift_min_change_pct / 100,
        )

    def scale_params(self, floors: dict[str, float]) -> dict[str, Any]:
        return {
            "floor_ratio": SCALE_FLOOR_RATIO,
            "floor_cost": floors["cost"],
            "floor_latency": floors["latency"],
            "floor_tokens": floors["tokens"],
        }


# Every insight type the worker writes: their unresolved ones are read in one query a run.
INSIGHT_TYPES = ("outlier", "cost_anomaly", "level_shift", "ingestion_gap") + tuple(
    t for t, _, _ in BENCH_METRICS.values()
)


class OpenInsights:
    """The unresolved insights of the worker's types, read in one query when first needed and
    kept current by this run's own writes (its upserts and resolves go through here). Callers
    get copies: an insight they change is stored only if they upsert it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_id: dict[str, Insight] | None = None

    def of(self, types: Sequence[str]) -> list[Insight]:
        if self._by_id is None:
            self._by_id = {i.insight_id: i for i in ins.open_of_types(self.store, INSIGHT_TYPES)}
        return [copy.deepcopy(i) for i in self._by_id.values() if i.type in types]

    def upsert(self, desired: Sequence[Insight], *, run_id: str) -> ins.UpsertResult:
        result = ins.upsert(self.store, desired, run_id=run_id)
        for new in result.created + result.updated:
            self._seen(new)
        return result

    def resolve(self, insights: Sequence[Insight], *, reason: str, run_id: str) -> list[Insight]:
        done = ins.resolve(self.store, insights, reason=reason, run_id=run_id)
        for i in done:
            self._seen(i)
        return done

    def _seen(self, insight: Insight) -> None:
        if self._by_id is None:
            return
        if insight.status == "resolved":
            self._by_id.pop(insight.insight_id, None)
        else:
            self._by_id[insight.insight_id] = copy.deepcopy(insight)


@dataclass
class Findings:
    """What one run did and found: its message, details, metrics and demo summary."""

    live: OpenInsights  # the unresolved insights, read once a run
    llm_rows: int = 0
    bench_rows: int = 0
    insufficient: int = 0
    outliers: dict[str, int] = field(default_factory=dict)
    extremes: dict[str, int] = field(default_factory=dict)
    hours: list[datetime] = field(default_factory=list)
    created: list[Insight] = field(default_factory=list)
    updated: int = 0
    resolved: int = 0
    alerts: list[str] = field(default_factory=list)
    rows_written: int = 0
    llm_outlier_groups: list[dict[str, Any]] = field(default_factory=list)
    llm_stats: dict[str, Any] = field(default_factory=dict)
    llm_full: bool = False
    stored_outliers: bool = True  # analytics_outliers holds some row (tombstones may be due)
    bench_changes: list[dict[str, Any]] = field(default_factory=list)

    def absorb(self, result: ins.UpsertResult) -> None:
        self.created.extend(result.created)
        self.updated += len(result.updated)


def run(ctx: RunContext, *, full: bool = False) -> AgentResult:
    """Analyse what is new since the last run (everything with ``full``).

    Example: run_agent(settings, "analytics", run, full=False)
    """
    params = Params.from_settings(ctx.settings)
    found = Findings(live=OpenInsights(ctx.store))
    items: list[ItemOutcome] = []
    _drop_temp(ctx)
    try:
        # llm rows are scored first; cost anomalies of their hours and the outlier insights
        # are written before the records that mark the rows analysed, so a failure in
        # between is redone by the next run instead of lost.
        llm: list[ItemOutcome] = []
        if _step(llm, "llm_events", lambda: _llm(ctx, params, found, full=full)):
            if llm:  # finished early: nothing new
                items.extend(llm)
                items.append(ItemOutcome("cost_anomaly", "ok", "no new hours"))
            else:
                cost_ok = _step(items, "cost_anomaly", lambda: _cost(ctx, params, found))
                if cost_ok:
                    if _step(items, "llm_events", lambda: _llm_commit(ctx, params, found)):
                        _step(items, "level_shifts", lambda: _level_shifts(ctx, params, found))
                else:
                    items.append(
                        ItemOutcome(
                            "llm_events",
                            "failed",
                            "not committed: the cost anomaly check failed; the next run redoes these rows",
                        )
                    )
        else:
            items.extend(llm)
            items.append(ItemOutcome("cost_anomaly", "skipped", "llm_events failed before its hours were known"))
        _step(items, "bench_runs", lambda: _bench(ctx, params, found, full=full))
        _step(items, "ingest_gaps", lambda: _gaps(ctx, found))
    finally:
        try:
            _drop_temp(ctx)
        except MuseError as exc:  # the session ends with the store anyway; never hide the result
            log.warning("could not drop the temporary tables: %s", exc.message)
    _emit(ctx, found)
    failed = [i for i in items if i.status == "failed"]
    regressions = [i for i in found.created if i.type.endswith("_regression")]
    parts = [f"{found.llm_rows} llm and {found.bench_rows} bench rows analysed", f"{len(found.created)} new insight(s)"]
    if regressions:
        parts.append(f"{len(regressions)} regression(s)")
    shifts = [i for i in found.created if i.type == "level_shift"]
    if shifts:
        parts.append(f"{len(shifts)} level shift(s)")
    anomalies = [i for i in found.created if i.type == "cost_anomaly"]
    if anomalies:
        parts.append(f"{len(anomalies)} cost anomal{'y' if len(anomalies) == 1 else 'ies'}")
    if failed:
        parts.append("failed: " + "; ".join(f"{i.item}: {i.message}" for i in failed))
    details = {
        "llm_rows": found.llm_rows,
        "bench_rows": found.bench_rows,
        "insufficient_baseline": found.insufficient,
        "outliers": found.outliers,
        "extremes": found.extremes,
        "hours": [ts_str(h)[:16] for h in found.hours[:50]],
        "insights_created": [
            {"id": i.insight_id, "type": i.type, "severity": i.severity, "title": i.title} for i in found.created[:50]
        ],
        "insights_updated": found.updated,
        "insights_resolved": found.resolved,
        "alerts": found.alerts,
        "summary": summary_lines(found),
    }
    return AgentResult(
        status="failed" if failed else "ok",
        message=", ".join(parts),
        rows_written=found.rows_written,
        items=items,
        details=details,
    )


def summary_lines(found: Findings, limit: int = 8) -> list[str]:
    """Plain lines naming what this run found, most severe first."""
    ranked = sorted(found.created, key=lambda i: -ins.severity_rank(i.severity))
    lines = [f"[{i.severity}] {i.title}" for i in ranked if i.severity != "info"][:limit]
    infos = sum(1 for i in ranked if i.severity == "info")
    if infos:
        lines.append(f"{infos} informational insight(s) (outliers, gaps): `muse insights list`")
    return lines


def _step(items: list[ItemOutcome], name: str, fn: Callable[[], ItemOutcome | None]) -> bool:
    """Run one part of the analysis; a failure is recorded and the others go on."""
    try:
        outcome = fn()
    except MuseError as exc:
        log.error("analytics %s failed: %s", name, exc.message)
        items.append(ItemOutcome(name, "failed", exc.message))
        return False
    if outcome is not None:
        items.append(outcome)
    return True


def _drop_temp(ctx: RunContext) -> None:
    """Drop this run's temporary tables (a previous run in the same session may have left some)."""
    ctx.store.execute("DROP TEMPORARY TABLE IF EXISTS " + ", ".join(TEMP_TABLES))


# -- llm_events -----------------------------------------------------------------------------


def _llm(ctx: RunContext, p: Params, found: Findings, *, full: bool) -> ItemOutcome | None:
    """Baselines and extreme calls of the changed hours into temp tables; None = computed, to be
    committed by _llm_commit (ItemOutcome = finished early: nothing new)."""
    store = ctx.store
    mark = store.named("analytics_llm_watermark").first() or {}
    watermark = mark.get("watermark")
    found.stored_outliers = bool(mark.get("outliers", True))
    full = full or watermark is None
    if not full and watermark is not None:  # (full is set whenever there is no watermark)
        store.named("analytics_llm_changed_hours", {"lo": watermark - timedelta(seconds=p.overlap_s)})
        if not int(store.query("SELECT count() FROM _an_hours").scalar(0) or 0):
            return ItemOutcome("llm_events", "ok", "nothing new")
    else:
        store.execute("CREATE TEMPORARY TABLE _an_hours (hour DateTime('UTC')) ENGINE = Memory")
    store.named("analytics_llm_buckets", {"full": int(full)})
    span = store.named("analytics_llm_span").first() or {}
    if not span.get("n"):
        return ItemOutcome("llm_events", "ok", "nothing new")
    if ctx.progress:
        ctx.progress("llm_events", 0, int(span["n"]))
    found.hours = [require_ts(h) for h in span["hours"]]
    _llm_history(ctx, p, found.hours, full=full)
    store.named("analytics_llm_baselines_table")
    store.named("analytics_llm_baselines", {"win_h": p.window_days * 24, "floor": LOG_SCALE_FLOOR})
    store.named("analytics_llm_score", {"full": int(full), "min_n": p.min_n, "extreme_z": EXTREME_Z})
    stats = store.named("analytics_llm_run_stats", {"min_n": p.min_n}).first() or {}
    if stats.get("groups") != stats.get("join_keys"):  # 64-bit hashes: never seen, but never silent
        raise StoreError(
            f"analytics: the score join keys of {stats.get('groups')} (source, operation, model) groups collide; "
            "nothing was stored (report this: the join key in analytics_llm_score.sql needs another hash)"
        )
    stats["n"] = stats.pop("total", 0)
    groups = store.named("analytics_llm_outlier_groups").dicts()
    found.llm_outlier_groups = _significant_groups(p, groups, stats)
    found.llm_stats = stats
    found.llm_full = full
    return None


def _llm_history(ctx: RunContext, p: Params, hours: list[datetime], *, full: bool) -> None:
    """_an_hist: the stored buckets the windows need (and the level-shift series), read once;
    a full run recomputes every bucket and reads none."""
    if full:
        ctx.store.named("analytics_llm_history_none")
        return
    h_lo, h_hi = hours[0], hours[-1] + timedelta(hours=1)
    ctx.store.named(
        "analytics_llm_history",
        {"full": 0, "hist_lo": h_lo - timedelta(days=max(p.window_days, p.shift_days)), "hist_hi": h_hi},
    )


def _significant_groups(p: Params, groups: list[dict[str, Any]], stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The group-hours whose count of extreme calls is a discovery at FDR q (Benjamini-Hochberg
    over every scored (group, hour, metric)), and at least outlier_min_rows and min_share of
    the hour's calls. The per-call false-alarm rate of a metric is FALSE_ALARM_RATE, or the
    rate over every call of a large run when higher: heavy tails are not discoveries."""
    scored = int(stats.get("scored") or 0)
    m = 2 * int(stats.get("tested_buckets") or 0)
    if not groups or not scored:
        return []
    rate = {
        metric: max(
            FALSE_ALARM_RATE[metric], int(stats.get(f"{metric}_up") or 0) / scored if scored >= RATE_MIN_CALLS else 0.0
        )
        for metric in ("cost", "latency")
    }
    # Every scored (group, hour, metric) is a test (m); a count under outlier_min_rows can never
    # become an insight, so its p-value is not worth computing (1 is conservative for BH).
    pvals = [
        stats_mod.binom_sf(int(g["extreme_rows"]), int(g["rows"]), rate[g["metric"]])
        if g["extreme_rows"] >= p.outlier_min_rows
        else 1.0
        for g in groups
    ]
    keep = stats_mod.bh_reject(pvals, p.fdr_q, m=m)
    out = []
    for g, pv, k in zip(groups, pvals, keep):
        if k and g["extreme_rows"] >= p.outlier_min_rows and g["extreme_rows"] >= p.outlier_min_share * g["rows"]:
            out.append({**g, "p_value": pv, "false_alarm_rate": rate[g["metric"]], "tests": m})
    return out


def _llm_commit(ctx: RunContext, p: Params, found: Findings) -> ItemOutcome:
    """Outlier insights and rows, then the baselines (a stored baseline marks its hour analysed)."""
    store = ctx.store
    version = int(datetime.now(timezone.utc).timestamp() * 1000) * 2
    _write_llm_outlier_insights(ctx, found)
    full = int(found.llm_full)
    if found.stored_outliers:  # (no outlier row ever stored: nothing to tombstone)
        store.named("analytics_llm_outlier_tombstones", {"full": full, "version": version, "run_id": ctx.run_id})
    store.named("analytics_llm_save_outliers", {"version": version + 1, "run_id": ctx.run_id})
    store.named("analytics_llm_save_baselines", {"run_id": ctx.run_id, "window_days": p.window_days, "min_n": p.min_n})
    stats = found.llm_stats
    n = int(stats.get("n") or 0)
    buckets = int(stats.get("buckets") or 0)
    found.llm_rows += n
    found.rows_written += buckets
    found.insufficient += int(stats.get("insufficient") or 0)
    for m in ("cost", "latency", "tokens"):  # the view's flags: outlier |z| > 3, extreme |z| > 5
        found.outliers[f"llm.{m}"] = int(stats.get(f"{m}_o") or 0)
        found.extremes[f"llm.{m}"] = int(stats.get(f"{m}_x") or 0)
    return ItemOutcome(
        "llm_events",
        "ok",
        f"{n} rows analysed over {len(found.hours)} hour(s)"
        f"{' (full)' if found.llm_full else ''}, {stats.get('insufficient', 0)} with insufficient "
        f"baseline; {buckets} baseline bucket(s) stored",
        rows=n,
    )


def _write_llm_outlier_insights(ctx: RunContext, found: Findings) -> None:
    """One open insight per (source, operation, model, metric): later extreme hours extend
    it instead of opening another. A group-hour that coincides with a cost anomaly of the same
    source is folded into that anomaly (listed in its metrics.folded_outliers) instead."""
    live = {
        (i.source, i.operation, i.model, i.metric): i
        for i in found.live.of(["outlier"])
        if i.status == "open" and i.evidence.get("kind") == "llm"
    }
    anomalies = found.live.of(["cost_anomaly"])
    merged: dict[tuple[str, str, str, str], Insight] = {}
    folded: dict[str, Insight] = {}
    for g in sorted(found.llm_outlier_groups, key=lambda g: g["hour"]):
        key = (g["source"], g["operation"], g["model"], g["metric"])
        hour = ts_str(g["hour"])
        entry = {
            "rows": g["rows"],
            "extreme_rows": g["extreme_rows"],
            "max_z": g["max_z"],
            "worst_value": g["worst_value"],
            "worst_baseline": g["worst_center"],
            "worst_event_id": g["worst_event_id"],
            "run_ids": g["run_ids"],
            "p_value": g["p_value"],
            "false_alarm_rate": g["false_alarm_rate"],
            "tests": g["tests"],
        }
        anomaly = next(
            (
                a
                for a in anomalies
                if hour in a.metrics.get("hours", {})
                and any(b.get("source") == g["source"] for b in a.metrics["hours"][hour].get("by_source_model", []))
            ),
            None,
        )
        if anomaly is not None:
            target = folded.setdefault(anomaly.insight_id, anomaly)
            fold = [
                f
                for f in target.metrics.get("folded_outliers", [])
                if (f["source"], f["operation"], f["model"], f["metric"], f["hour"]) != (*key, hour)
            ]
            fold.append(
                {
                    "source": g["source"],
                    "operation": g["operation"],
                    "model": g["model"],
                    "metric": g["metric"],
                    "hour": hour,
                    **entry,
                }
            )
            target.metrics["folded_outliers"] = fold
            continue
        base = merged.get(key) or live.get(key)
        hours = dict(base.metrics.get("hours", {})) if base else {}
        hours[hour] = entry
        merged[key] = _llm_outlier_insight(key, hours, base)
    found.absorb(found.live.upsert(list(merged.values()) + list(folded.values()), run_id=ctx.run_id))


def _llm_outlier_insight(
    key: tuple[str, str, str, str], hours: dict[str, dict[str, Any]], base: Insight | None
) -> Insight:
    source, operation, model, metric = key
    unit = "USD" if metric == "cost" else "ms"
    context = "the call's answer size (tokens_out)" if metric == "latency" else "the call's total tokens"
    first, last = min(hours), max(hours)
    worst_hour = max(hours, key=lambda h: hours[h]["max_z"])
    worst = hours[worst_hour]
    extreme = sum(h["extreme_rows"] for h in hours.values())
    rows = sum(h["rows"] for h in hours.values())
    span = (
        f"in the hour {first[:13]}:00 UTC"
        if len(hours) == 1
        else f"in {len(hours)} hours between {first[:13]}:00 and {last[:13]}:00 UTC"
    )
    title = f"{extreme} extreme {metric} calls: {source}/{operation} on {model} {span}"
    rate = worst.get("false_alarm_rate", FALSE_ALARM_RATE[metric])
    desc = (
        f"{extreme} of {rows} {operation} calls of {model} ({source}) {span} scored z > {EXTREME_Z:g} on "
        f"log {metric} against their model's baseline at {context}; at a false-alarm rate of "
        f"{rate:.2%} per call that many is a discovery at the run's false-discovery rate "
        f"(Benjamini-Hochberg over {worst.get('tests', 0)} group-hour tests, p = {worst.get('p_value', 0):.1e} in "
        f"the worst hour). The worst was {_num(worst['worst_value'])} {unit} against "
        f"{_num(worst['worst_baseline'])} {unit} expected (z {worst['max_z']:.1f}, hour {worst_hour[:13]}:00). "
        f"A shift that persists is reported as a level_shift insight."
    )
    run_ids = sorted({r for h in hours.values() for r in h["run_ids"]})[:10]
    return Insight(
        insight_id=base.insight_id if base else ins.insight_id("llm_outlier", *key, first),
        type="outlier",
        severity="info",
        title=title,
        description=desc,
        observed_at=require_ts(first),
        source=source,
        model=model,
        operation=operation,
        metric=metric,
        baseline_value=worst["worst_baseline"],
        observed_value=worst["worst_value"],
        z_score=worst["max_z"],
        suggested_action=SUGGESTED["llm_outlier"],
        metrics={
            "extreme_rows": extreme,
            "rows": rows,
            "hours_count": len(hours),
            "first_hour": first,
            "last_hour": last,
            "max_z": worst["max_z"],
            "hours": hours,
        },
        evidence={
            "kind": "llm",
            "query": "analytics_llm_outlier_groups",
            "table": "analytics_outliers",
            "parameters": {
                "source": source,
                "operation": operation,
                "model": model,
                "metric": metric,
                "z_above": EXTREME_Z,
                "hours": sorted(hours)[-24:],
            },
            "run_ids": run_ids,
            "worst_event_id": worst["worst_event_id"],
        },
    )


# -- level shifts ---------------------------------------------------------------------------


def _level_shifts(ctx: RunContext, p: Params, found: Findings) -> ItemOutcome:
    """One level_shift insight per (group, metric) with a sustained step in its hourly levels."""
    if not found.hours:
        return ItemOutcome("level_shifts", "ok", "no new hours")
    store = ctx.store
    hi = found.hours[-1] + timedelta(hours=1)
    lo = hi - timedelta(days=p.shift_days)
    tests: list[dict[str, Any]] = []
    for g in store.named(
        "analytics_level_shift_series", {"lo": lo, "hi": hi, "min_calls": LEVEL_SHIFT_MIN_CALLS}
    ).dicts():
        for metric in ("latency", "cost"):
            levels = list(zip(g["hours"], g[metric]))
            cp = stats_mod.change_point([v for _, v in levels], min_size=p.shift_min_hours)
            if cp is None:
                continue
            tests.append({"group": g, "metric": metric, "levels": levels, "cp": cp})
    keep = stats_mod.bh_reject([t["cp"].p_value for t in tests], p.fdr_q)
    live = [i for i in found.live.of(["level_shift"]) if i.status != "resolved"]
    desired = []
    for t, k in zip(tests, keep):
        cp = t["cp"]
        ratio = math.exp(cp.after_median - cp.before_median)
        if not (k and cp.sustained and abs(ratio - 1) >= p.shift_min_change):
            continue
        desired.append(_level_shift_insight(ctx, p, t, live))
    # Outlier insights of the same group and metric from the shift's start on were its first
    # hours, seen before the shift could be called: folded into it (listed, and resolved).
    outliers = [i for i in found.live.of(["outlier"]) if i.evidence.get("kind") == "llm"]
    fold: list[tuple[Insight, Insight]] = []
    for shift in desired:
        start = shift.metrics["start_hour"]
        mine = [
            o
            for o in outliers
            if (o.source, o.operation, o.model, o.metric) == (shift.source, shift.operation, shift.model, shift.metric)
            and (str(o.metrics["last_hour"]) if "last_hour" in o.metrics else ts_str(o.observed_at)) >= start
        ]
        old = ins.load(store, [shift.insight_id]).get(shift.insight_id)
        shift.metrics["folded_outliers"] = sorted(
            set((old.metrics.get("folded_outliers", []) if old else []) + [o.insight_id for o in mine])
        )
        fold += [(o, shift) for o in mine]
    result = found.live.upsert(desired, run_id=ctx.run_id)
    found.absorb(result)
    for o, shift in fold:
        found.resolved += len(
            found.live.resolve(
                [o], reason=f"part of the level shift {shift.insight_id} ({shift.title})", run_id=ctx.run_id
            )
        )
    for new in result.created:
        _alert(ctx, p, found, new, "warning")
    return ItemOutcome(
        "level_shifts", "ok", f"{len(tests)} series tested, {len(desired)} level shift(s) ({len(result.created)} new)"
    )


def _commits_around(ctx: RunContext, start: datetime) -> list[dict[str, Any]]:
    """The commits first seen in the 12 hours before a shift's start hour (each once)."""
    commits: list[dict[str, Any]] = []
    for c in ctx.store.named(
        "analytics_level_shift_commits",
        {"scan_lo": start - timedelta(days=7), "lo": start - timedelta(hours=12), "hi": start + timedelta(hours=1)},
    ).dicts():
        if all(c["commit_sha"] != k["commit_sha"] for k in commits):  # a commit seen by two sources once
            commits.append(c)
    return commits


def _same_shift(live: list[Insight], key: tuple[str, str, str, str], start: datetime) -> Insight | None:
    """An unresolved level_shift of the same group and metric starting within 24 hours of start."""
    return next(
        (
            i
            for i in live
            if (i.source, i.operation, i.model, i.metric) == key
            and abs((i.observed_at - start).total_seconds()) <= 24 * 3600
        ),
        None,
    )


def _level_shift_insight(ctx: RunContext, p: Params, t: dict[str, Any], live: list[Insight]) -> Insight:
    cp = t["cp"]
    metric, levels = t["metric"], t["levels"]
    source, operation, model = t["group"]["source"], t["group"]["operation"], t["group"]["model"]
    start = require_ts(levels[cp.index][0])
    last_before = levels[cp.index - 1][0]
    before, after = math.exp(cp.before_median), math.exp(cp.after_median)
    ratio, lo_r, hi_r = after / before, math.exp(cp.step_low), math.exp(cp.step_high)
    commits = _commits_around(ctx, start)
    suspect = next(
        (c for c in reversed(commits) if require_ts(c["first_seen"]) < start), commits[0] if commits else None
    )
    unit, what = (
        ("ms", "latency at the group's typical answer size")
        if metric == "latency"
        else ("USD", "cost per call at the group's typical size")
    )
    direction = "rose" if ratio > 1 else "fell"
    title = (
        f"Level shift: {source}/{operation} {model} {metric} {direction} x{ratio:.2f} from {ts_str(start)[:13]}:00 UTC"
    )
    named = ", ".join(f"{c['repo']} {c['commit_sha'][:8]} ({c['first_seen'][:16]})" for c in commits[:5]) or "none"
    desc = (
        f"The hourly {what} of {model} ({source}/{operation}) {direction} from a median of {_num(before)} {unit} "
        f"over {cp.n_before} hours to {_num(after)} {unit} over {cp.n_after} hours from {ts_str(start)[:13]}:00 "
        f"UTC (ratio {ratio:.2f}, 95% interval {lo_r:.2f}-{hi_r:.2f}; change point t = {cp.t:.1f}, "
        f"p = {cp.p_value:.1e} after Bonferroni over the splits, a discovery at FDR {p.fdr_q:g}). The shift "
        f"holds in both halves of the later hours. Commits first seen in the 12 hours before: {named}."
    )
    old = _same_shift(live, (source, operation, model, metric), start)
    return Insight(
        insight_id=old.insight_id
        if old
        else ins.insight_id("level_shift", source, operation, model, metric, ts_str(start)),
        type="level_shift",
        severity="warning",
        title=title,
        description=desc,
        observed_at=start,
        source=source,
        model=model,
        operation=operation,
        metric=metric,
        commit_sha=suspect["commit_sha"] if suspect else "",
        baseline_value=before,
        observed_value=after,
        z_score=cp.t,
        suggested_action=SUGGESTED["level_shift"],
        metrics={
            "start_hour": ts_str(start),
            "last_hour_before": last_before,
            "before_median": before,
            "after_median": after,
            "ratio": ratio,
            "ratio_low": lo_r,
            "ratio_high": hi_r,
            "change_pct": (ratio - 1) * 100,
            "hours_before": cp.n_before,
            "hours_after": cp.n_after,
            "t": cp.t,
            "p_value": cp.p_value,
            "fdr_q": p.fdr_q,
            "unit": unit,
            "commits": commits,
        },
        evidence={
            "kind": "llm",
            "query": "analytics_level_shift_series",
            "table": "analytics_baselines",
            "parameters": {
                "source": source,
                "operation": operation,
                "model": model,
                "metric": metric,
                "days": p.shift_days,
                "min_hours": p.shift_min_hours,
            },
            "commits_query": "analytics_level_shift_commits",
        },
    )


# -- cost anomaly ---------------------------------------------------------------------------


def _cost(ctx: RunContext, p: Params, found: Findings) -> ItemOutcome:
    """Hours of new events whose cost exceeds factor x the same-hour median. Consecutive
    anomalous hours are one anomaly (one insight, one alert), extended as hours arrive."""
    if not found.hours:
        return ItemOutcome("cost_anomaly", "ok", "no new hours")
    hours = found.hours
    params = {
        "from": hours[0] - timedelta(days=p.cost_days),
        "to": hours[-1] + timedelta(hours=1),
        "days_s": p.cost_days * 86400,
        "hours": [ts_str(h)[:19] for h in hours],
    }
    # The hours just analysed come from this run's buckets (analytics_cost_hours_run gives the
    # result of analytics_cost_hours, the form the insight's evidence names, without a re-read).
    rows = ctx.store.named("analytics_cost_hours_run", {**params, "full": int(found.llm_full)}).dicts()
    hot = [
        r
        for r in rows
        if r["base_days"] >= p.cost_min_days
        and r["baseline"] > 0
        and r["cost"] > p.cost_factor * r["baseline"]
        and r["cost"] - r["baseline"] >= p.cost_min_excess * r["typical"]
    ]
    if rows:
        ctx.telemetry.gauge("analytics.cost_last_hour_usd", rows[-1]["cost"])
        ctx.telemetry.gauge("analytics.cost_baseline_usd", rows[-1]["baseline"])
    live = [i for i in found.live.of(["cost_anomaly"])]
    episodes: list[tuple[Insight | None, dict[str, dict[str, Any]]]] = []
    for r in hot:
        hour = r["hour"]
        entry = {
            "cost_usd": r["cost"],
            "baseline_usd": r["baseline"],
            "ratio": r["cost"] / r["baseline"],
            "typical_hour_usd": r["typical"],
            "events": r["events"],
            "baseline_days": r["base_days"],
            "baseline_costs": r["base_costs"],
            "by_source_model": ctx.store.named("analytics_cost_breakdown", {"hour": hour}).dicts(),
        }
        near = {ts_str(hour), ts_str(hour - timedelta(hours=1))}
        target = next((e for e in episodes if near & set(e[1])), None)
        if target is None:
            old = next((i for i in live if near & set(i.metrics.get("hours", {}))), None)
            target = (old, dict(old.metrics.get("hours", {})) if old else {})
            episodes.append(target)
        target[1][ts_str(hour)] = entry
    desired = [_cost_insight(p, old, hours_map) for old, hours_map in episodes]
    result = found.live.upsert(desired, run_id=ctx.run_id)
    found.absorb(result)
    for new in result.created:
        _alert(ctx, p, found, new, "warning")
    return ItemOutcome(
        "cost_anomaly",
        "ok",
        f"{len(rows)} hour(s) checked, {len(hot)} above "
        f"{p.cost_factor:g}x baseline ({len(result.created)} new anomal"
        f"{'y' if len(result.created) == 1 else 'ies'})",
    )


def _cost_insight(p: Params, old: Insight | None, hours: dict[str, dict[str, Any]]) -> Insight:
    first, last = min(hours), max(hours)
    peak_hour = max(hours, key=lambda h: hours[h]["ratio"])
    peak = hours[peak_hour]
    cost = sum(h["cost_usd"] for h in hours.values())
    baseline = sum(h["baseline_usd"] for h in hours.values())
    events = sum(h["events"] for h in hours.values())
    top = ", ".join(f"{b['source']}/{b['model']} ${b['cost']:.2f}" for b in peak["by_source_model"][:3])
    if len(hours) == 1:
        title = (
            f"LLM cost spike: ${cost:.2f} in the hour {first[:13]}:00 UTC, {peak['ratio']:.1f}x its "
            f"baseline ${baseline:.2f}"
        )
        when = f"the hour {first[:13]}:00 UTC"
    else:
        title = (
            f"LLM cost spike: ${cost:.2f} over {len(hours)} hours from {first[:13]}:00 UTC, peak "
            f"{peak['ratio']:.1f}x baseline"
        )
        when = f"the {len(hours)} hours from {first[:13]}:00 to {last[:13]}:00 UTC"
    desc = (
        f"LLM cost of {when} was ${cost:.4f} over {events} events against ${baseline:.4f} expected: each "
        f"hour's baseline is the median cost of the same hour on the previous {p.cost_days} days with data "
        f"(alert above {p.cost_factor:g}x, and at least {p.cost_min_excess:g}x the median hourly cost of those "
        f"days above it). Peak {peak['ratio']:.1f}x at {peak_hour[:13]}:00; largest there: "
        f"{top}."
    )
    return Insight(
        insight_id=old.insight_id if old else ins.insight_id("cost_anomaly", first),
        type="cost_anomaly",
        severity="warning",
        title=title,
        description=desc,
        observed_at=require_ts(first),
        metric="cost_usd",
        baseline_value=baseline,
        observed_value=cost,
        suggested_action=SUGGESTED["cost_anomaly"],
        metrics={
            "cost_usd": cost,
            "baseline_usd": baseline,
            "ratio": cost / baseline,
            "peak_ratio": peak["ratio"],
            "events": events,
            "factor": p.cost_factor,
            "min_excess": p.cost_min_excess,
            "baseline_days": peak["baseline_days"],
            "by_source_model": peak["by_source_model"],
            "hours": hours,
            **(
                {"folded_outliers": old.metrics["folded_outliers"]}
                if old and old.metrics.get("folded_outliers")
                else {}
            ),
        },
        evidence={
            "query": "analytics_cost_hours",
            "table": "llm_events",
            "parameters": {"hours": sorted(hours), "days": p.cost_days, "factor": p.cost_factor},
            "baseline_hours": [ts_str(require_ts(first) - timedelta(days=d)) for d in range(1, p.cost_days + 1)],
        },
    )


# -- bench_runs -----------------------------------------------------------------------------


def _bench(ctx: RunContext, p: Params, found: Findings, *, full: bool) -> ItemOutcome:
    store = ctx.store
    pending = int(store.named("analytics_bench_pending").scalar(0) or 0)
    if not pending and not full:
        return ItemOutcome("bench_runs", "ok", "nothing new")
    base = {
        "full": int(full),
        "min_n": p.bench_min_n,
        "run_id": ctx.run_id,
        "window_days": p.window_days,
        "win_s": p.window_days * 86400,
        **p.scale_params(BENCH_FLOORS),
    }
    for name in ("analytics_bench_long", "analytics_bench_scores"):
        store.named(name, _only(name, base))
    changes = store.named(
        "analytics_bench_changes", {"min_n": p.bench_min_n, "z_thr": p.bench_z, "min_change": p.min_change_pct / 100}
    ).dicts()
    _write_bench_insights(ctx, p, found, changes)
    stats = (
        store.query(
            "SELECT count() AS n, countIf(lvl = '') AS insufficient, countIf(abs(cost_z) > 3) AS cost_o, "
            "countIf(abs(latency_z) > 3) AS latency_o, countIf(abs(tokens_z) > 3) AS tokens_o, "
            "countIf(abs(cost_z) >= {z:Float64}) AS cost_x, countIf(abs(latency_z) >= {z:Float64}) AS latency_x, "
            "countIf(abs(tokens_z) >= {z:Float64}) AS tokens_x FROM _an_bench WHERE is_cand",
            {"z": p.bench_z},
        ).first()
        or {}
    )
    store.named("analytics_bench_save_baselines", _only("analytics_bench_save_baselines", base))
    n = int(stats.get("n") or 0)
    found.bench_rows += n
    found.rows_written += n
    found.insufficient += int(stats.get("insufficient") or 0)
    for m in ("cost", "latency", "tokens"):
        found.outliers[f"bench.{m}"] = int(stats.get(f"{m}_o") or 0)
        found.extremes[f"bench.{m}"] = int(stats.get(f"{m}_x") or 0)
    kinds = {c["kind"] for c in found.bench_changes}
    return ItemOutcome(
        "bench_runs",
        "ok",
        f"{n} rows analysed; {len(changes)} change point(s)" + (f" ({', '.join(sorted(kinds))})" if kinds else ""),
        rows=n,
    )


def classify_change(c: dict[str, Any], z_thr: float = 5.0) -> tuple[str, str]:
    """(kind, severity) of a change point: regression (warning/critical) or outlier (a blip).

    critical needs confirmation by the next run or a score of at least twice the threshold;
    a next run that is not also worse than the pre-change baseline makes it a one-run outlier.
    """
    if c["has_next"] and not c["next_confirms"]:
        return "outlier", "info"
    if c["has_next"]:
        return "regression", "critical"
    if c["badness"] >= 2 * z_thr:
        return "regression", "critical"
    return "regression", "warning"


def _write_bench_insights(ctx: RunContext, p: Params, found: Findings, changes: list[dict[str, Any]]) -> None:
    desired: list[Insight] = []
    for c in changes:
        kind, severity = classify_change(c, p.bench_z)
        found.bench_changes.append({"kind": kind, "severity": severity})
        desired.append(_bench_insight(p, c, kind, severity))
    # Regressions stored before that are no longer change points (a blip now known, or
    # data replaced) are resolved; their pages, if any, are resolved too.
    wanted = {d.insight_id for d in desired}
    stale = [i for i in found.live.of([t for t, _, _ in BENCH_METRICS.values()]) if i.insight_id not in wanted]
    existing = ins.load(ctx.store, wanted)
    result = found.live.upsert(desired, run_id=ctx.run_id)
    found.absorb(result)
    for done in found.live.resolve(
        stale,
        reason="the next run reverted it (reported as an outlier) or the data changed",
        run_id=ctx.run_id,
    ):
        found.resolved += 1
        if done.severity == "critical":  # only a critical one paged
            ctx.telemetry.resolve(dedup_key=_dedup(done), title=done.title)
    for new in result.created:
        if new.type.endswith("_regression"):
            _alert(ctx, p, found, new, new.severity)
    for up in result.escalated:
        if up.type.endswith("_regression") and existing.get(up.insight_id) is not None:
            _alert(ctx, p, found, up, up.severity)


@dataclass(frozen=True)
class _BenchSize:
    """A change point's size: the one run against the baseline, and the ratio of the medians
    after/before the change with its bootstrap interval (inf when it cannot be computed)."""

    run_pct: float
    pct: float
    ratio: float
    low: float | None
    high: float | None
    before: list[float]
    after: list[float]

    @classmethod
    def of(cls, c: dict[str, Any]) -> "_BenchSize":
        run_pct = (c["value"] - c["center"]) / c["center"] * 100 if c["center"] else float("inf")
        before, after = [float(v) for v in c["before"]], [float(v) for v in c["after"]]
        rom = stats_mod.ratio_of_medians(before, after, min_n=1) if before and after else None
        ratio, r_lo, r_hi = (
            (rom.ratio, rom.low, rom.high) if rom and rom.ratio is not None else (math.inf, math.inf, math.inf)
        )
        pct = (ratio - 1) * 100 if math.isfinite(ratio) else run_pct
        return cls(run_pct, pct, ratio, r_lo, r_hi, before, after)

    def text(self) -> str:
        return (
            f"ratio of medians after/before {self.ratio:.2f} (95% bootstrap interval {self.low:.2f}-{self.high:.2f}; "
            f"{len(self.after)} run(s) from this commit on against the {len(self.before)} before)"
        )


def _bench_wording(p: Params, c: dict[str, Any], kind: str, severity: str, size: _BenchSize) -> tuple[str, str, str]:
    """Title, state sentence and suggested action of a bench change point."""
    rtype, what, unit = BENCH_METRICS[c["metric"]]
    series = f"{c['model']} {c['quant']} on {c['dataset']}"
    sha = str(c["commit_sha"])
    if kind == "outlier":
        title = (
            f"One-run {what} outlier: {series} {size.run_pct:+.0f}% at commit {sha[:8]}, back to normal at "
            f"{c['next_commit'][:8]}"
        )
        state = (
            f"The next run (commit {c['next_commit'][:8]}) was not worse by both {p.bench_z:g} scale units "
            f"and {p.min_change_pct:g}%, so this is a one-run blip, not a regression."
        )
        return title, state, SUGGESTED["bench_outlier"]
    title = f"{what[0].upper()}{what[1:]} regression: {series} {size.pct:+.0f}% at commit {sha[:8]}"
    if c["has_next"]:
        state = (
            f"Confirmed by the next run (commit {c['next_commit'][:8]}, {_num(c['next_value'])} {unit}, "
            f"{c['next_badness']:.1f} scale units worse than the pre-change baseline)."
        )
    elif severity == "critical":
        state = f"Extreme score (>= {2 * p.bench_z:g}); not yet confirmed by a later run."
    else:
        state = "Awaiting confirmation by the next run (critical if it stays worse)."
    state += f" Size: {size.text()}."
    return title, state, SUGGESTED[rtype]


def _bench_insight(p: Params, c: dict[str, Any], kind: str, severity: str) -> Insight:
    """The insight of one bench change point: a regression, or a one-run outlier the next run reverted."""
    rtype, what, unit = BENCH_METRICS[c["metric"]]
    series = f"{c['model']} {c['quant']} on {c['dataset']}"
    sha = str(c["commit_sha"])
    size = _BenchSize.of(c)
    title, state, action = _bench_wording(p, c, kind, severity, size)
    if kind == "outlier":
        itype = "outlier"
        iid = ins.insight_id("bench_outlier", c["model"], c["quant"], c["dataset"], c["metric"], sha)
    else:
        itype = rtype
        iid = ins.insight_id("bench_regression", c["model"], c["quant"], c["dataset"], c["metric"], sha)
    desc = (
        f"{what[0].upper()}{what[1:]} of {series} was {_num(c['value'])} {unit} at commit {sha[:8]} against a "
        f"median of {_num(c['center'])} {unit} over the {c['n']} earlier run(s) of the series in "
        f"{p.window_days} days (scale 1.4826 x MAD = {_num(c['scale'])}, {c['badness']:.1f} units worse; "
        f"threshold {p.bench_z:g} and {p.min_change_pct:g}%). {state}"
    )
    return Insight(
        insight_id=iid,
        type=itype,
        severity=severity,
        title=title,
        description=desc,
        observed_at=c["ts"],
        source="banterhearts",
        model=c["model"],
        quant=c["quant"],
        dataset=c["dataset"],
        commit_sha=sha,
        metric=c["metric"],
        baseline_value=c["center"],
        observed_value=c["value"],
        z_score=_signed_z(c),
        suggested_action=action,
        metrics=_bench_metrics(p, c, kind, size),
        evidence={
            "kind": "bench",
            "query": "analytics_bench_changes",
            "table": "bench_runs",
            "parameters": {
                "model": c["model"],
                "quant": c["quant"],
                "dataset": c["dataset"],
                "metric": c["metric"],
                "window_days": p.window_days,
                "min_n": p.bench_min_n,
                "z_threshold": p.bench_z,
            },
            "run_id": str(c["run_id"]),
            "commit_sha": sha,
            "previous_commit": c["prev_commit"],
            "next_run_id": c["next_run_id"] or None,
            "next_commit": c["next_commit"] or None,
            "baseline_commits": c["baseline_commits"],
        },
    )


def _bench_metrics(p: Params, c: dict[str, Any], kind: str, size: _BenchSize) -> dict[str, Any]:
    return {
        "value": c["value"],
        "baseline_median": c["center"],
        "baseline_scale": c["scale"],
        "baseline_runs": c["n"],
        "change_pct": size.pct if math.isfinite(size.pct) else None,
        "run_change_pct": size.run_pct if math.isfinite(size.run_pct) else None,
        "ratio_of_medians": size.ratio if math.isfinite(size.ratio) else None,
        "ratio_low": size.low if size.low is not None and math.isfinite(size.low) else None,
        "ratio_high": size.high if size.high is not None and math.isfinite(size.high) else None,
        "median_after": statistics.median(size.after) if size.after else None,
        "runs_after": len(size.after),
        "z_threshold": p.bench_z,
        "badness": c["badness"],
        "next_value": c["next_value"] if c["has_next"] else None,
        "next_badness": c["next_badness"],
        "confirmed": bool(c["has_next"] and kind != "outlier"),
    }


def _signed_z(c: dict[str, Any]) -> float:
    # badness is direction-adjusted; z keeps the metric's own sign (throughput drops are negative).
    return -c["badness"] if c["metric"] == "throughput" else c["badness"]


# -- ingest gaps ----------------------------------------------------------------------------


def _gap_spans(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive hours of one kind (rows ordered by hour, kind) as one gap: a night without
    telemetry is one insight, not one per hour (issue 17)."""
    by_kind: dict[str, list[list[dict[str, Any]]]] = {}
    for g in rows:
        spans = by_kind.setdefault(g["kind"], [])
        hour = datetime.fromisoformat(g["hour"])
        if spans and hour - datetime.fromisoformat(spans[-1][-1]["hour"]) == timedelta(hours=1):
            spans[-1].append(g)
        else:
            spans.append([g])
    return sorted((s for spans in by_kind.values() for s in spans), key=lambda s: (s[0]["hour"], s[0]["kind"]))


def _gaps(ctx: RunContext, found: Findings) -> ItemOutcome:
    rows = ctx.store.named("analytics_ingest_gaps").dicts()
    desired = []
    covered: dict[str, str] = {}  # the id an hour's own insight had -> the gap that holds the hour now
    for span in _gap_spans(rows):
        insight = _gap_insight(span)
        for x in span[1:]:
            covered[ins.insight_id("ingestion_gap", x["hour"], x["kind"])] = insight.insight_id
        desired.append(insight)
    result = found.live.upsert(desired, run_id=ctx.run_id)
    found.absorb(result)
    stale = _resolve_stale_gaps(ctx, found, {d.insight_id for d in desired}, covered)
    recorded = (
        f"{len(rows)} gap(s) recorded"
        if len(rows) == len(desired)
        else f"{len(rows)} gap hour(s) recorded as {len(desired)} gap(s)"
    )
    return ItemOutcome(
        "ingest_gaps",
        "ok",
        f"{recorded}, {len(result.created)} new insight(s)" + (f", {stale} resolved" if stale else ""),
    )


def _gap_text(kind: str, n: int, hour: str, end: str, events: int, baseline: float) -> tuple[str, str]:
    """Title and description of a gap of n hours from `hour` to `end` (UTC)."""
    if kind == "no_telemetry" and n == 1:
        title = f"No telemetry in the hour {hour} UTC"
        desc = (
            f"The ingest worker found no banterpacks telemetry for the hour {hour} UTC "
            f"(baseline {baseline:.0f} events)."
        )
    elif kind == "no_telemetry":
        title = f"No telemetry for {n} hours, {hour} to {end} UTC"
        desc = (
            f"The ingest worker found no banterpacks telemetry in the {n} hours from {hour} to {end} UTC "
            f"(baseline {baseline:.0f} events an hour)."
        )
    elif n == 1:
        title = f"Telemetry dropped to {events} events in the hour {hour} UTC (baseline {baseline:.0f})"
        desc = (
            f"The ingest worker counted {events} events in the hour {hour} UTC against a baseline of "
            f"{baseline:.1f} for that hour."
        )
    else:
        title = (
            f"Telemetry dropped for {n} hours, {hour} to {end} UTC: {events} events (baseline {baseline:.0f} an hour)"
        )
        desc = (
            f"The ingest worker counted {events} events in the {n} hours from {hour} to {end} UTC against "
            f"a baseline of {baseline:.1f} an hour."
        )
    return title, desc


def _gap_insight(span: list[dict[str, Any]]) -> Insight:
    """One ingestion_gap insight for consecutive gap hours of one kind."""
    g, last, n = span[0], span[-1], len(span)
    hour = g["hour"][:16]
    end = (datetime.fromisoformat(last["hour"]) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    end = end[11:] if end[:10] == hour[:10] else end  # "10:00 to 15:00" within a day
    events = sum(int(x["events"]) for x in span)
    baseline = sum(float(x["baseline"]) for x in span) / n
    title, desc = _gap_text(g["kind"], n, hour, end, events, baseline)
    # The id of a gap is its first hour and kind: a one-hour gap keeps the id it always had,
    # and a gap that goes on keeps its insight (updated) instead of opening one per hour.
    return Insight(
        insight_id=ins.insight_id("ingestion_gap", g["hour"], g["kind"]),
        type="ingestion_gap",
        severity="warning",
        title=title,
        description=desc,
        observed_at=require_ts(g["hour"]),
        source="banterpacks",
        metric="events",
        baseline_value=baseline,
        observed_value=float(events),
        suggested_action=SUGGESTED["ingestion_gap"],
        metrics={"events": events, "baseline": baseline, "kind": g["kind"], "hours": n},
        evidence={
            "query": "analytics_ingest_gaps",
            "table": "ingest_gaps",
            "parameters": {"hour": g["hour"], "kind": g["kind"], "hours": n, "last_hour": last["hour"]},
            "ingest_run_id": last["run_id"],
            "detected_at": last["detected_at"],
        },
    )


def _resolve_stale_gaps(ctx: RunContext, found: Findings, wanted: set[str], covered: dict[str, str]) -> int:
    """The ingest worker deletes a gap that later data filled: its insight is resolved. An
    hour that now belongs to a longer gap is resolved into that gap's insight. Returns how
    many open gap insights were stale."""
    stale = [i for i in found.live.of(["ingestion_gap"]) if i.insight_id not in wanted]
    filled = [i for i in stale if i.insight_id not in covered]
    folded = [i for i in stale if i.insight_id in covered]
    found.resolved += len(
        found.live.resolve(
            filled,
            reason="later data filled the hour (the ingest worker removed the gap)",
            run_id=ctx.run_id,
        )
    )
    for i in folded:
        found.resolved += len(
            found.live.resolve([i], reason=f"part of the longer gap {covered[i.insight_id]}", run_id=ctx.run_id)
        )
    return len(stale)


# -- alerts and metrics ---------------------------------------------------------------------


def _dedup(insight: Insight) -> str:
    return f"muse-analytics-{insight.insight_id}"


def _alert(ctx: RunContext, p: Params, found: Findings, insight: Insight, severity: str) -> None:
    """Alert once per insight (callers alert only on creation or escalation), if recent."""
    observed = insight.observed_at
    if datetime.now(timezone.utc) - observed > timedelta(hours=p.alert_max_age_h):
        log.info("not alerting for %s (%s): older than %g hours", insight.insight_id, insight.title, p.alert_max_age_h)
        return
    text = (
        f"{insight.description}\nSuggested: {insight.suggested_action}\nInsight: muse insights ack {insight.insight_id}"
    )
    ctx.alert(severity, insight.title, text, dedup_key=_dedup(insight), insight=insight.insight_id, type=insight.type)
    found.alerts.append(insight.insight_id)


def _emit(ctx: RunContext, found: Findings) -> None:
    tel = ctx.telemetry
    tel.count("analytics.rows_analyzed", found.llm_rows, kind="llm")
    tel.count("analytics.rows_analyzed", found.bench_rows, kind="bench")
    tel.count("analytics.insufficient_baseline", found.insufficient)
    for key, n in found.outliers.items():
        kind, metric = key.split(".")
        tel.count("analytics.outliers", n, kind=kind, metric=metric, level="outlier")
        tel.count("analytics.outliers", found.extremes.get(key, 0), kind=kind, metric=metric, level="extreme")
    for new in found.created:
        tel.count("analytics.insights", 1, type=new.type, severity=new.severity)
    try:
        for row in ctx.store.named("analytics_insight_counts").dicts():
            tel.gauge("analytics.open_insights", row["n"], severity=row["severity"])
    except MuseError as exc:
        log.warning("could not count open insights: %s", exc.message)


# -- helpers --------------------------------------------------------------------------------


def _only(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a named query declares (chDB rejects unknown ones)."""
    from muse.store import load_query

    text = load_query(name)
    return {k: v for k, v in params.items() if "{" + k + ":" in text}


def _num(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.6f}".rstrip("0")
