"""The rules that turn a named query's rows into a fact's value, shared by the council (when
it writes an episode) and ``muse council trace --fact E12 --run`` (when it checks one).

A fact records ``query`` + ``params`` + ``rule = {"name": ..., "args": {...}}``; the value is
``RULES[name](rows, **args)`` over ``store.named(query, params)``. Because the council
computes every value through this same function, re-running a fact reproduces it exactly
unless the rows changed since.

Fact kinds besides ``sql``: ``git`` (commit counts, re-run with git log), ``config`` (a
setting), ``window`` (the episode window itself, a parameter not a measurement) and
``derived`` (the minimum of other facts, re-run from their re-runs).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from muse.analysis import stats
from muse.hours import parse_ts, require_ts

if TYPE_CHECKING:
    from muse.config import Settings


def _match(row: dict[str, Any], where: dict[str, Any] | None) -> bool:
    return all(str(row.get(k)) == str(v) for k, v in (where or {}).items())


def _rows(rows: list[dict[str, Any]], where: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [r for r in rows if _match(r, where)]


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def value(rows: list[dict[str, Any]], *, column: str, where: dict[str, Any] | None = None) -> Any:
    hit = _rows(rows, where)
    if not hit:
        return None
    v = hit[0].get(column)
    return v if isinstance(v, (str, int, float)) or v is None else float(v)  # Decimal -> float


def total(rows: list[dict[str, Any]], *, column: str, where: dict[str, Any] | None = None) -> float:
    return float(sum(_num(r.get(column)) or 0.0 for r in _rows(rows, where)))


def count(rows: list[dict[str, Any]], *, where: dict[str, Any] | None = None) -> int:
    return len(_rows(rows, where))


def weighted_mean(
    rows: list[dict[str, Any]], *, column: str, weight: str, where: dict[str, Any] | None = None
) -> float | None:
    raw = [(_num(r.get(column)), _num(r.get(weight)) or 0.0) for r in _rows(rows, where)]
    pairs = [(v, w) for v, w in raw if v is not None and w > 0]
    wsum = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / wsum if wsum else None


def argmax(rows: list[dict[str, Any]], *, by: str, column: str) -> Any:
    hit = [r for r in rows if _num(r.get(by)) is not None]
    if not hit:
        return None
    return max(hit, key=lambda r: (_num(r.get(by)), str(r.get(column))))[column]


def day_completeness(rows: list[dict[str, Any]], *, present: str, expected: dict[str, float]) -> float:
    """min over the expected days of min(1, present / expected); a day without a row is 0."""
    if not expected:
        return 1.0
    have = {str(r["day"]): _num(r.get(present)) or 0.0 for r in rows}
    return min(min(1.0, have.get(day, 0.0) / exp) if exp > 0 else 1.0 for day, exp in expected.items())


def recency_score(age_hours: float | None) -> float:
    """1.0 when the newest data is under 24 h old, linear down to 0.5 at 7 days, 0.5 after
    (no data at all: 0)."""
    if age_hours is None:
        return 0.0
    if age_hours <= 24:
        return 1.0
    return max(0.5, 1.0 - 0.5 * (age_hours - 24) / (6 * 24))


def freshness(rows: list[dict[str, Any]], *, until: str, part: str = "score") -> float | None:
    row = rows[0] if rows else {}
    end = parse_ts(until, zero_is_none=True)
    newest = [
        parse_ts(row.get("hearts_newest"), zero_is_none=True),
        parse_ts(row.get("packs_newest"), zero_is_none=True),
    ]
    ages = [(end - t).total_seconds() / 3600 if t and end else None for t in newest]
    if part == "age_hours":
        return None if None in ages else max(a for a in ages if a is not None)
    return min(recency_score(a) for a in ages)


def watcher_covers(
    rows: list[dict[str, Any]], *, hearts_commit: str, packs_commit: str, until: str, max_age_seconds: float
) -> float:
    """1.0 when the named watcher run passed for exactly these commits no longer than the
    status file's max age before the window's end; else 0.0."""
    row = rows[0] if rows else None
    if not row or row.get("status") != "valid":
        return 0.0
    if (str(row.get("hearts_commit")), str(row.get("packs_commit"))) != (hearts_commit, packs_commit):
        return 0.0
    ran, end = parse_ts(row.get("ts"), zero_is_none=True), parse_ts(until, zero_is_none=True)
    if ran is None or end is None or (end - ran).total_seconds() > max_age_seconds:
        return 0.0
    return 1.0


def correlation(rows: list[dict[str, Any]], *, x: str, y: str, part: str) -> float | None:
    xs = [_num(r.get(x)) for r in rows]
    ys = [_num(r.get(y)) for r in rows]
    pairs = [(a, b) for a, b in zip(xs, ys) if a is not None and b is not None]
    n = len(pairs)
    if part == "n":
        return n
    px, py = [a for a, _ in pairs], [b for _, b in pairs]
    r = stats.pearson(px, py)
    if r is None:
        return None
    if part == "r":
        return r
    if part in ("ci_low", "ci_high"):
        ci = stats.fisher_ci(r, n)
        return None if ci is None else ci[0 if part == "ci_low" else 1]
    if part == "p":
        return stats.permutation_p(px, py)
    raise ValueError(f"unknown correlation part {part!r}")


def _split(rows: list[dict[str, Any]], where: dict[str, Any]) -> tuple[list[float], list[float]]:
    before: list[float] = []
    after: list[float] = []
    for r in _rows(rows, where):
        (before if r.get("side") == "before" else after).extend(float(v) for v in r.get("latencies") or [])
    return before, after


_RATIO_CACHE: dict[tuple[Any, ...], stats.RatioOfMedians] = {}


def ratio_of_medians(rows: list[dict[str, Any]], *, where: dict[str, Any], part: str, min_n: int = 20) -> float | None:
    """User-side change of one (model, operation): median after / median before - 1 (as a
    fraction), its bootstrap 95% interval, or the counts."""
    before, after = _split(rows, where)
    if part in ("n_before", "n_after"):
        return len(before) if part == "n_before" else len(after)
    key = (hash(tuple(before)), hash(tuple(after)), len(before), len(after), min_n)
    res = _RATIO_CACHE.get(key)
    if res is None:  # the bootstrap is the slow part; several facts read one result
        res = _RATIO_CACHE[key] = stats.ratio_of_medians(before, after, min_n=min_n)
        while len(_RATIO_CACHE) > 64:
            _RATIO_CACHE.pop(next(iter(_RATIO_CACHE)))
    pick = {"change": res.ratio, "low": res.low, "high": res.high}
    if part in pick:
        v = pick[part]
        return None if v is None else v - 1.0
    return {"median_before": res.median_before, "median_after": res.median_after}[part]


def step(
    rows: list[dict[str, Any]], *, where: dict[str, Any], at: str, lookback_from: str, column: str = "p95_ms", part: str
) -> float | None:
    """One benchmark series split at its change point: median of the runs in
    [lookback_from, at) against the median of the runs from ``at`` on."""
    series = _rows(rows, where)
    before = [float(r[column]) for r in series if lookback_from <= r["run_ts"] < at]
    after = [float(r[column]) for r in series if r["run_ts"] >= at]
    mb, ma = stats.median(before), stats.median(after)
    if part == "before":
        return mb
    if part == "after":
        return ma
    if part == "n_before":
        return len(before)
    if part == "n_after":
        return len(after)
    if part == "change":
        return ma / mb - 1.0 if mb and ma is not None else None
    raise ValueError(f"unknown step part {part!r}")


def halves(rows: list[dict[str, Any]], *, column: str) -> float | None:
    """Median of the second half of the days against the first half (the middle day in
    neither), as a fraction."""
    vals = [v for v in (_num(r.get(column)) for r in rows) if v is not None]
    if len(vals) < 2:
        return None
    half = len(vals) // 2
    a, b = stats.median(vals[:half]), stats.median(vals[len(vals) - half :])
    return b / a - 1.0 if a and b is not None else None


RULES: dict[str, Callable[..., Any]] = {
    "value": value,
    "sum": total,
    "count": count,
    "weighted_mean": weighted_mean,
    "argmax": argmax,
    "day_completeness": day_completeness,
    "freshness": freshness,
    "watcher_covers": watcher_covers,
    "correlation": correlation,
    "ratio_of_medians": ratio_of_medians,
    "step": step,
    "halves": halves,
}


def apply(rule: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    fn = RULES.get(str(rule.get("name")))
    if fn is None:
        raise ValueError(f"unknown rule {rule.get('name')!r}")
    return fn(rows, **(rule.get("args") or {}))


def rerun(fact: dict[str, Any], *, store: Any, settings: Settings, facts: dict[str, dict[str, Any]]) -> Any:
    """Re-execute one fact from the sidecar and return the value it yields today."""
    kind = fact.get("kind")
    rule = fact.get("rule") or {}
    params = fact.get("params") or {}
    if kind == "sql":
        rows = store.named(fact["query"], params).dicts()
        return apply(rule, rows)
    if kind == "git":
        from muse import gitrepo

        path = settings.repos.named(params["repo"]).dir
        if path is None:
            raise ValueError(f"repos.{params['repo']}.path is not set")
        since, until = require_ts(params["since"]), require_ts(params["until"])
        commits = gitrepo.commits_between(path, params["branch"], since, until)
        n = len(commits)
        return max(0, n - int(rule.get("args", {}).get("minus", 0)))
    if kind == "config":  # a setting, or (no key) a constant of the council's rules
        return settings[params["key"]] if "key" in params else fact.get("value")
    if kind == "window":
        return fact.get("value")
    if kind == "derived":
        vals = [rerun(facts[i], store=store, settings=settings, facts=facts) for i in rule["args"]["facts"]]
        return min(v for v in vals if v is not None) if rule.get("name") == "min" else None
    raise ValueError(f"fact {fact.get('id')} has unknown kind {kind!r}")


def days_between(since: datetime, until: datetime) -> list[str]:
    out, d = [], since.date()
    while d <= (until - timedelta(microseconds=1)).date():
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def check(
    fact: dict[str, Any], *, store: Any, settings: Settings, facts: dict[str, dict[str, Any]]
) -> tuple[Any, str, bool]:
    """Re-run one sidecar fact: (value now, its display, whether it reproduces the recorded one)."""
    from muse.analysis.evidence import fmt_value

    now = rerun(fact, store=store, settings=settings, facts=facts)
    display = fmt_value(
        now, str(fact.get("format") or "{}"), str(fact.get("unit") or ""), float(fact.get("scale") or 1.0)
    )
    recorded = fact.get("value")
    same = display == fact.get("display")
    if isinstance(now, (int, float)) and isinstance(recorded, (int, float)):
        same = same and math.isclose(float(now), float(recorded), rel_tol=1e-9, abs_tol=1e-12)
    return now, display, same
