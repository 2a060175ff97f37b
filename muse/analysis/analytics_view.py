"""Read side of the analytics records: one data run in the shape of the design's API.

``show_run(store, run_id)`` returns, for the llm_events and bench_runs rows of one run
(an llm_events/bench_runs ``run_id``, or a unique prefix of one), the seed's response
shape (input, metrics, baselines, anomaly_scores, efficiency, temporal) for the run as a
whole and for each analysed row under ``records``. The rows come from the ``run_analytics``
view (z-scores computed on read); each record's baseline is its group's row in
``analytics_baselines``: for llm rows on a log scale (docs/analytics.md), with the value
expected for the row's own answer size / total tokens.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from muse.errors import InputError, UsageError
from muse.store import Store

SUMMARY_ROWS = 100_000


def _f(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def show_run(store: Store, run_id: str, *, limit: int = 100) -> dict[str, Any]:
    """The analysed rows of a data run with their baselines; InputError if there are none."""
    prefix = run_id.strip().lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef-" for c in prefix):
        raise UsageError(f"run id {run_id!r} must be a UUID or at least its first 8 characters")
    count = store.named("analytics_show_count", {"run_id": prefix}).first() or {}
    if not count.get("rows"):
        raise InputError(
            f"no analysed llm_events or bench_runs rows with run_id {run_id!r} "
            f"(is it ingested, and has `muse analytics run` run since?)"
        )
    if count["runs"] > 1:
        raise UsageError(f"run id prefix {run_id!r} matches {count['runs']} runs; give more characters")
    # The summary covers every row of the run (runs are tens to thousands of calls); the
    # per-row records are capped at `limit`.
    rows = store.named("analytics_show_records", {"run_id": prefix, "limit": SUMMARY_ROWS}).dicts()
    shown = rows[:limit]
    baselines = _baselines(store, shown)
    records = [_record(r, baselines) for r in shown]
    return {
        "run_id": count["first_run_id"],
        "rows": count["rows"],
        "shown": len(records),
        **_summary(rows),
        "records": records,
    }


def _baselines(store: Store, rows: list[dict[str, Any]]) -> dict[tuple[str, int, str], dict[str, Any]]:
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    for kind in sorted({r["kind"] for r in rows}):
        mine = [r for r in rows if r["kind"] == kind]
        keys = sorted({r["genus_key"] for r in mine})
        ats = sorted({r["baseline_at"] for r in mine})
        for b in store.named("analytics_show_baselines", {"kind": kind, "keys": keys, "ats": ats}).dicts():
            out[(kind, b["key"], b["at"])] = b
    return out


def _metric_names(kind: str) -> dict[str, str]:
    if kind == "bench":
        return {"cost": "cost_per_1k", "latency": "latency_p95_ms", "tokens": "tokens_per_sec"}
    return {"cost": "cost_usd", "latency": "latency_ms", "tokens": "tokens"}


def _llm_baseline(b: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    """Log-scale centers and scales, and the value expected for this row's own context."""
    x, u = math.log(1 + r["tokens_out"]), math.log(1 + r["tokens"])
    return {
        "latency_ms": {
            "context": "x = ln(1 + tokens_out), x^2",
            "center": _f(b["latency_center"]),
            "slope": _f(b["latency_slope"]),
            "curve": _f(b["latency_curve"]),
            "scale": _f(b["latency_scale"]),
            "expected": _f(math.exp(b["latency_center"] + b["latency_slope"] * x + b["latency_curve"] * x * x)),
        },
        "cost_usd": {
            "context": "ln(1 + tokens)",
            "center": _f(b["cost_center"]),
            "slope": _f(b["cost_slope"]),
            "scale": _f(b["cost_scale"]),
            "expected": _f(math.exp(b["cost_center"] + b["cost_slope"] * u) - 1e-6),
        },
        "tokens": {
            "context": None,
            "center": _f(b["tokens_center"]),
            "slope": 0.0,
            "scale": _f(b["tokens_scale"]),
            "expected": _f(math.exp(b["tokens_center"]) - 1),
        },
    }


def _record(r: dict[str, Any], baselines: dict[tuple[str, int, str], dict[str, Any]]) -> dict[str, Any]:
    ident, inp, metrics = _record_identity(r)
    return {
        **ident,
        "input": inp,
        "metrics": metrics,
        "baselines": _record_baselines(r, baselines),
        "anomaly_scores": {
            "state": r["baseline_state"],
            "baseline_n": r["baseline_n"],
            "cost_z_score": _f(r["cost_z"]),
            "latency_z_score": _f(r["latency_z"]),
            "tokens_z_score": _f(r["tokens_z"]),
            "is_cost_outlier": bool(r["is_cost_outlier"]),
            "is_latency_outlier": bool(r["is_latency_outlier"]),
            "is_tokens_outlier": bool(r["is_tokens_outlier"]),
            "is_extreme": bool(r["is_extreme"]),
        },
        "efficiency": {
            "cost_per_message": _f(r["cost_per_message"]),
            "cost_per_token": _f(r["cost_per_token"]),
            "tokens_per_message": _f(r["tokens_per_message"]),
            "tokens_per_sec": _f(r["tokens_per_sec"]),
        },
        "temporal": {
            "hour_of_day": r["hour_of_day"],
            "day_of_week": r["day_of_week"],
            "is_weekend": bool(r["is_weekend"]),
        },
        "analysed_at": r["analysed_at"],
        "analytics_run_id": r["analytics_run_id"],
    }


def _record_baselines(r: dict[str, Any], baselines: dict[tuple[str, int, str], dict[str, Any]]) -> dict[str, Any]:
    """The baseline a row was scored against (None when its bucket has none stored)."""
    names = _metric_names(r["kind"])
    level = "model" if r["kind"] == "llm" else "series"
    base: dict[str, Any] = {"used": r["baseline_level"] or None, "baseline_at": r["baseline_at"]}
    b = baselines.get((r["kind"], r["genus_key"], r["baseline_at"]))
    if b is None:
        base[level] = None
        return base
    common = {
        "key": f"{r['genus_key']:016x}",
        "n": b["n"],
        "min_n": b["min_n"],
        "estimator": b["estimator"],
        "window_days": b["window_days"],
    }
    if r["kind"] == "llm":
        base[level] = {**common, "scale": "log", **_llm_baseline(b, r)}
    else:
        base[level] = {
            **common,
            "scale": "raw",
            **{
                names[m]: {"center": _f(b[f"{m}_center"]), "scale": _f(b[f"{m}_scale"])}
                for m in ("cost", "latency", "tokens")
            },
        }
    return base


def _record_identity(r: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A row's identity, its input description and its raw metrics (llm event or bench run)."""
    ident = {
        "kind": r["kind"],
        "source": r["source"],
        "ts": r["ts"],
        "run_id": r["run_id"],
        "commit_sha": r["commit_sha"],
        "model": r["model"],
    }
    if r["kind"] == "llm":
        ident.update(event_id=r["row_key"], operation=r["operation"])
        metrics = {
            "cost_usd": r["cost"],
            "latency_ms": r["latency_ms"],
            "tokens_in": r["tokens_in"],
            "tokens_out": r["tokens_out"],
            "tokens": r["tokens"],
            "is_error": bool(r["is_error"]),
        }
        inp = {
            "category": r["input_category"],
            "complexity_score": _f(r["input_complexity"]),
            "fingerprint": r["input_fingerprint"],
            "estimated_tokens": r["tokens_in"],
            "estimated_chars": r["tokens_in"] * 4,
        }
    else:
        ident.update(row_key=r["row_key"], quant=r["quant"], dataset=r["dataset"])
        metrics = {"cost_per_1k": r["cost"], "latency_p95_ms": r["latency_ms"], "tokens_per_sec": r["tokens"]}
        inp = {"category": None, "complexity_score": None, "fingerprint": r["input_fingerprint"]}
    return ident, inp, metrics


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run as a whole, like the design's per-session response."""
    llm = [r for r in rows if r["kind"] == "llm"]
    total_cost = sum(r["cost"] for r in llm)
    total_tokens = sum(r["tokens"] for r in llm)
    total_ms = sum(r["latency_ms"] for r in llm)
    tokens_out = sum(r["tokens_out"] for r in llm)
    first = min(rows, key=lambda r: r["ts"])

    def zmax(col: str) -> float | None:
        vals = [abs(v) for v in (_f(r[col]) for r in rows) if v is not None]
        return max(vals) if vals else None

    return {
        "kinds": dict(Counter(r["kind"] for r in rows)),
        "input": {
            "categories": dict(Counter(r["input_category"] for r in llm)),
            "complexity_score": (sum(r["input_complexity"] for r in llm) / len(llm)) if llm else None,
            "estimated_tokens": sum(r["tokens_in"] for r in llm),
        },
        "metrics": {
            "total_cost": total_cost,
            "total_duration_ms": total_ms,
            "message_count": len(llm),
            "tokens_in": sum(r["tokens_in"] for r in llm),
            "tokens_out": tokens_out,
            "error_count": sum(r["is_error"] for r in llm),
            "bench_rows": len(rows) - len(llm),
        },
        "baselines": {"levels_used": dict(Counter(r["baseline_level"] or "insufficient_baseline" for r in rows))},
        "anomaly_scores": {
            "max_abs_cost_z": zmax("cost_z"),
            "max_abs_latency_z": zmax("latency_z"),
            "max_abs_tokens_z": zmax("tokens_z"),
            "outlier_rows": sum(
                1 for r in rows if r["is_cost_outlier"] or r["is_latency_outlier"] or r["is_tokens_outlier"]
            ),
            "extreme_rows": sum(1 for r in rows if r["is_extreme"]),
            "insufficient_baseline_rows": sum(1 for r in rows if r["baseline_state"] == "insufficient_baseline"),
        },
        "efficiency": {
            "cost_per_message": total_cost / len(llm) if llm else None,
            "cost_per_token": total_cost / total_tokens if total_tokens else None,
            "tokens_per_message": total_tokens / len(llm) if llm else None,
            "tokens_per_sec": tokens_out * 1000 / total_ms if total_ms else None,
        },
        "temporal": {
            "first": first["ts"],
            "last": max(r["ts"] for r in rows),
            "hour_of_day": first["hour_of_day"],
            "day_of_week": first["day_of_week"],
            "is_weekend": bool(first["is_weekend"]),
        },
    }
