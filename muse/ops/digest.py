"""`muse digest`: the last N days at a glance, from the store.

``build_digest(store, days=7)`` returns a plain dict (JSON-ready); ``render_digest_text``
turns it into plain text for a pipe, cron mail or the end of `muse demo`. The CLI renders
the same dict with Rich on a TTY.

Days are UTC calendar days, today included: ``days=7`` covers today and the six before.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from muse.hours import require_ts, ts_str
from muse.store import Store

SPARKS = "▁▂▃▄▅▆▇█"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
INSIGHTS_LIMIT = 10_000
# Watcher statuses that are not failures (a commit younger than its threshold is pending).
PASSING_WATCHER = ("valid", "valid-pending", "valid_pending")


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value, scaled between the series' min and max; blank = no data."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return " " * len(values)
    lo, hi = min(present), max(present)
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(" ")
        elif hi == lo:
            out.append(SPARKS[0] if hi == 0 else SPARKS[len(SPARKS) // 2])
        else:
            out.append(SPARKS[round((v - lo) / (hi - lo) * (len(SPARKS) - 1))])
    return "".join(out)


def _days(until: date, days: int) -> list[str]:
    return [(until - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def _series(rows: Iterable[dict[str, Any]], days: list[str], key: str) -> list[Any]:
    by_day = {r["day"]: r.get(key) for r in rows}
    return [by_day.get(d) for d in days]


def _insights(store: Store) -> dict[str, Any]:
    """Open insights, critical first (the analytics worker's own listing)."""
    from muse.analysis.insights import list_insights

    rows = list_insights(store, open_only=True, limit=INSIGHTS_LIMIT)
    items = [
        {
            "id": i.insight_id,
            "severity": i.severity,
            "type": i.type,
            "title": i.title,
            "created": ts_str(i.observed_at),
            "suggested_action": i.suggested_action,
        }
        for i in rows
    ]
    counts: dict[str, int] = {}
    for i in items:
        counts[i["severity"]] = counts.get(i["severity"], 0) + 1
    note = f"showing the first {INSIGHTS_LIMIT} open insights" if len(rows) >= INSIGHTS_LIMIT else ""
    return {"available": True, "note": note, "open": items[:50], "counts": counts, "open_total": len(items)}


EXIT_LABELS = {
    "skipped": "skipped (exit 4)",
    "unavailable": "store unavailable (exit 5)",
    "interrupted": "interrupted (exit 130/143)",
    "failed": "failed",
    "blocked": "blocked (exit 3)",
    "ok": "ok",
}


def _run_outcomes(
    store: Store, params: dict[str, Any], since: datetime, ledger: list[dict[str, Any]]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Runs by how they ended (store + local ledger not folded yet), and the ledger's failures."""
    counts: dict[str, int] = {}
    for r in store.named("digest_run_exits", params).dicts():
        counts[r["status"]] = counts.get(r["status"], 0) + int(r["runs"])
    pending_fails = []
    cutoff = ts_str(since)
    for row in ledger:
        if str(row.get("started", "")) < cutoff:
            continue
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        if row["status"] in ("failed", "unavailable", "interrupted"):
            pending_fails.append(
                {
                    "agent": row["agent"],
                    "run_id": str(row["run_id"]),
                    "started_at": row["started"],
                    "status": row["status"],
                    "exit_code": row.get("exit_code"),
                    "message": row.get("message", ""),
                    "error": row.get("error", ""),
                }
            )
    return counts, pending_fails


def build_digest(
    store: Store, days: int = 7, *, now: datetime | None = None, ledger: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The digest of the last ``days`` UTC days as a plain dict (see module docstring).

    ``ledger``: runs recorded in the state dir's run ledger and not folded into the store yet
    (muse.runs.read_ledger), so a run that could not reach the store is counted at once."""
    if days < 1:
        raise ValueError("days must be >= 1")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    day_list = _days(now.date(), days)
    since = require_ts(day_list[0])
    params = {"since": ts_str(since)}

    watcher_by_day = _watcher_by_day(store, params, day_list)
    statuses = sorted({s for v in watcher_by_day.values() for s in v})
    watcher_last = store.named("digest_watcher_last").first()
    llm = store.named("digest_llm_cost", params).dicts()
    daily = _daily(store, params, day_list, watcher_by_day)

    total_cost = sum(float(r["cost_usd"] or 0) for r in llm)
    run_counts, pending_fails = _run_outcomes(store, params, since, ledger or [])
    failed_runs = sorted(
        store.named("digest_failed_runs", params).dicts() + pending_fails, key=lambda f: f["started_at"], reverse=True
    )[:50]
    return {
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days": days,
        "since": day_list[0],
        "until": day_list[-1],
        "daily": daily,
        "sparklines": {key: sparkline([row[key] for row in daily]) for key in SPARKLINES},
        "totals": {
            "bench_results": sum(r["bench_results"] for r in daily),
            "sessions": sum(r["sessions"] for r in daily),
            "llm_calls": sum(int(r["calls"]) for r in llm),
            "llm_cost_usd": round(total_cost, 6),
        },
        "watcher": {
            "statuses": statuses,
            "by_day": [{"day": d, **watcher_by_day[d]} for d in day_list],
            "last": watcher_last,
        },
        "insights": _insights(store),
        "episodes": store.named("digest_episodes", params).dicts(),
        "deployments": store.named("digest_deployments", params).dicts(),
        "failed_runs": failed_runs,
        "run_outcomes": run_counts,
        "llm_cost": [{**r, "cost_usd": round(float(r["cost_usd"] or 0), 6)} for r in llm],
        "agents": store.named("agent_last_runs").dicts(),
    }


# The figures with a sparkline, in the order the digest lists them.
SPARKLINES = (
    "bench_results",
    "bench_avg_p95_ms",
    "sessions",
    "user_avg_latency_ms",
    "user_error_rate",
    "llm_cost_usd",
    "watcher_failing",
)


def _watcher_by_day(store: Store, params: dict[str, str], day_list: list[str]) -> dict[str, dict[str, int]]:
    """Watcher checks per day and status."""
    watcher_by_day: dict[str, dict[str, int]] = {d: {} for d in day_list}
    for r in store.named("digest_watcher_daily", params).dicts():
        watcher_by_day.setdefault(r["day"], {})[r["status"]] = int(r["checks"])
    return watcher_by_day


def _daily(
    store: Store, params: dict[str, str], day_list: list[str], watcher_by_day: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    """One row per day: benchmarks, users, LLM cost and watcher checks (zero or None when absent)."""
    bench = store.named("digest_bench_daily", params).dicts()
    users = store.named("digest_users_daily", params).dicts()
    llm_daily = store.named("digest_llm_cost_daily", params).dicts()
    failing = [sum(n for s, n in watcher_by_day[d].items() if s not in PASSING_WATCHER) for d in day_list]

    def col(rows: list[dict[str, Any]], key: str) -> list[Any]:
        return _series(rows, day_list, key)

    return [
        {
            "day": d,
            "bench_results": _int(col(bench, "results")[i]),
            "bench_avg_p95_ms": _round(col(bench, "avg_p95_ms")[i], 1),
            "bench_max_p95_ms": _int_or_none(col(bench, "max_p95_ms")[i]),
            "sessions": _int(col(users, "sessions")[i]),
            "user_avg_latency_ms": _round(col(users, "avg_latency_ms")[i], 1),
            "user_error_rate": _round(col(users, "error_rate")[i], 4),
            "llm_cost_usd": _round(col(llm_daily, "cost_usd")[i], 6),
            "watcher_checks": sum(watcher_by_day[d].values()),
            "watcher_failing": failing[i],
        }
        for i, d in enumerate(day_list)
    ]


def _int(v: Any) -> int:
    return int(v) if v is not None else 0


def _int_or_none(v: Any) -> int | None:
    return int(v) if v is not None else None


def _round(v: Any, digits: int) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else round(f, digits)


# -- plain text -------------------------------------------------------------------------
def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "-"
    return format(v, spec) if spec else str(v)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in columns]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]


def _indented(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A plain-text table indented under its heading line."""
    return ["  " + line for line in _table(columns, rows)]


def render_digest_text(d: dict[str, Any]) -> str:
    """The digest as plain text (no colour, no Rich), for pipes, logs and the demo."""
    out: list[str] = [f"muse digest: {d['since']} .. {d['until']} ({d['days']} days, UTC)", ""]
    for section in (
        _trend_lines,
        _per_day_lines,
        _watcher_lines,
        _insight_lines,
        _episode_lines,
        _failure_lines,
        _llm_cost_lines,
    ):
        out.extend(section(d))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _trend_lines(d: dict[str, Any]) -> list[str]:
    """Each figure's sparkline over the days, its latest value and its total or range."""
    daily = d["daily"]
    s = d["sparklines"]
    return ["Trend (oldest -> newest)"] + _indented(
        ["figure", "trend", "latest", "total/range"],
        [
            ("benchmark results", s["bench_results"], daily[-1]["bench_results"], d["totals"]["bench_results"]),
            (
                "bench avg p95 ms",
                s["bench_avg_p95_ms"],
                _fmt(daily[-1]["bench_avg_p95_ms"]),
                _range([r["bench_avg_p95_ms"] for r in daily]),
            ),
            ("user sessions", s["sessions"], daily[-1]["sessions"], d["totals"]["sessions"]),
            (
                "user avg latency ms",
                s["user_avg_latency_ms"],
                _fmt(daily[-1]["user_avg_latency_ms"]),
                _range([r["user_avg_latency_ms"] for r in daily]),
            ),
            (
                "user error rate",
                s["user_error_rate"],
                format_pct(daily[-1]["user_error_rate"]),
                _range([r["user_error_rate"] for r in daily], pct=True),
            ),
            (
                "LLM cost USD",
                s["llm_cost_usd"],
                format_money(daily[-1]["llm_cost_usd"]),
                format_money(d["totals"]["llm_cost_usd"]),
            ),
            (
                "failing watcher checks",
                s["watcher_failing"],
                daily[-1]["watcher_failing"],
                sum(r["watcher_failing"] for r in daily),
            ),
        ],
    )


def _per_day_lines(d: dict[str, Any]) -> list[str]:
    """One row a day: benchmarks, users, errors, LLM cost and watcher checks."""
    return ["Per day"] + _indented(
        ["day", "bench", "avg p95 ms", "sessions", "user lat ms", "errors", "LLM USD", "watcher ok/all"],
        [
            (
                r["day"],
                r["bench_results"],
                _fmt(r["bench_avg_p95_ms"]),
                r["sessions"],
                _fmt(r["user_avg_latency_ms"]),
                format_pct(r["user_error_rate"]),
                format_money(r["llm_cost_usd"]),
                f"{r['watcher_checks'] - r['watcher_failing']}/{r['watcher_checks']}",
            )
            for r in d["daily"]
        ],
    )


def _watcher_lines(d: dict[str, Any]) -> list[str]:
    """The watcher's last check, then its checks per day and status."""
    w = d["watcher"]
    last = w["last"]
    out = [
        "Watcher: "
        + (
            f"last check {last['status']} at {last['at']} UTC"
            + (f" ({last['message']})" if last.get("message") else "")
            if last
            else "no checks yet"
        )
    ]
    if w["statuses"]:
        out.extend(
            _indented(
                ["day", *w["statuses"]], [(r["day"], *[r.get(st, 0) for st in w["statuses"]]) for r in w["by_day"]]
            )
        )
    return out


def _insight_lines(d: dict[str, Any]) -> list[str]:
    """Open insights counted by severity, then the first of them."""
    ins = d["insights"]
    if not ins["available"]:
        return [f"Insights: {ins['note']}"]
    counts = ", ".join(
        f"{n} {sev}" for sev, n in sorted(ins["counts"].items(), key=lambda kv: SEVERITY_ORDER.get(kv[0], 3))
    )
    out = [f"Open insights: {counts or 'none'}" + (f" ({ins['note']})" if ins["note"] else "")]
    if ins["open"]:
        out.extend(
            _indented(
                ["severity", "type", "insight", "created"],
                [(i["severity"], i["type"], i["title"][:90], i["created"]) for i in ins["open"][:15]],
            )
        )
    return out


def _episode_lines(d: dict[str, Any]) -> list[str]:
    """The period's episodes and deployments."""
    out = [f"Episodes: {len(d['episodes'])}" if d["episodes"] else "Episodes: none in this period"]
    if d["episodes"]:
        out.extend(
            _indented(
                ["episode", "lang", "status", "confidence", "title"],
                [
                    (e["episode"], e["lang"], e["status"], _fmt(_round(e["confidence_score"], 2)), e["title"][:60])
                    for e in d["episodes"][:20]
                ],
            )
        )
    out.append(f"Deployments: {len(d['deployments'])}" if d["deployments"] else "Deployments: none in this period")
    if d["deployments"]:
        out.extend(
            _indented(
                ["episode", "deployment", "status", "build ms", "url"],
                [
                    (x["episode"], x["vercel_deployment_id"], x["status"], x["build_time_ms"], x["url"])
                    for x in d["deployments"][:20]
                ],
            )
        )
    return out


def _failure_lines(d: dict[str, Any]) -> list[str]:
    """Failed agent runs, then every run counted by outcome."""
    fails = d["failed_runs"]
    out = [f"Failed agent runs: {len(fails)}" if fails else "Failed agent runs: none"]
    if fails:
        out.extend(
            _indented(
                ["started", "agent", "run", "status", "message"],
                [
                    (
                        f["started_at"],
                        f["agent"],
                        f["run_id"][:8],
                        f.get("status", "failed"),
                        (f["message"] or f["error"] or "")[:90].replace("\n", " "),
                    )
                    for f in fails[:20]
                ],
            )
        )
    if d.get("run_outcomes"):
        out.append(run_outcomes_line(d["run_outcomes"]))
    return out


def _llm_cost_lines(d: dict[str, Any]) -> list[str]:
    """LLM cost and calls by source and model."""
    out = [
        f"LLM cost by source and model: {format_money(d['totals']['llm_cost_usd'])} USD, "
        f"{d['totals']['llm_calls']} calls"
        if d["llm_cost"]
        else "LLM cost: no LLM events in this period"
    ]
    if d["llm_cost"]:
        out.extend(
            _indented(
                ["source", "model", "calls", "tokens in", "tokens out", "USD"],
                [
                    (r["source"], r["model"], r["calls"], r["tokens_in"], r["tokens_out"], format_money(r["cost_usd"]))
                    for r in d["llm_cost"]
                ],
            )
        )
    return out


def run_outcomes_line(counts: dict[str, int]) -> str:
    order = ["ok", "failed", "unavailable", "skipped", "interrupted", "blocked"]
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order and counts[k])
    return "Agent runs: " + ", ".join(f"{counts[k]} {EXIT_LABELS.get(k, k)}" for k in keys)


def format_pct(v: Any) -> str:
    """A share as a percent with two decimals ("1.25%"), or "-" when unknown."""
    return "-" if v is None else f"{float(v) * 100:.2f}%"


def format_money(v: Any) -> str:
    """A USD amount with four decimals ("0.0125"), or "-" when unknown."""
    return "-" if v is None else f"{float(v):.4f}"


def _range(values: Sequence[Any], pct: bool = False) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    lo, hi = min(present), max(present)
    return f"{format_pct(lo)}..{format_pct(hi)}" if pct else f"{lo:g}..{hi:g}"
