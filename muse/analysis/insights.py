"""Insights: findings a person should look at, acknowledge and judge.

The analytics worker writes them; `muse insights` lists and acknowledges them; the council
reads them. One row version per change in the ``insights`` table (ReplacingMergeTree on
``updated_at``): writing a new version is how an insight is escalated, resolved or
acknowledged. ``insight_id`` is a stable hash of what the insight is about (a benchmark
series and commit, an hour), so a re-run finds the insight it wrote before instead of
opening a duplicate.

Precision per type is true positives / insights acknowledged with a verdict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Iterable, Sequence

from muse.errors import InputError, UsageError
from muse.store import Store

TYPES = (
    "latency_regression",
    "throughput_regression",
    "cost_regression",
    "outlier",
    "cost_anomaly",
    "level_shift",
    "ingestion_gap",
)
SEVERITIES = ("info", "warning", "critical")
STATUSES = ("open", "acknowledged", "resolved")
VERDICTS = ("true-positive", "false-positive")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def insight_id(*parts: Any) -> str:
    """A stable 16-hex-digit id from what the insight is about."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def severity_rank(severity: str) -> int:
    return _RANK.get(severity, -1)


@dataclass
class Insight:
    insight_id: str
    type: str
    severity: str
    title: str
    description: str
    observed_at: datetime
    metrics: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    suggested_action: str = ""
    status: str = "open"
    source: str = ""
    model: str = ""
    quant: str = ""
    dataset: str = ""
    operation: str = ""
    commit_sha: str = ""
    metric: str = ""
    baseline_value: float | None = None
    observed_value: float | None = None
    z_score: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    verdict: str = ""
    analytics_run_id: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Insight":
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in row.items() if k in names}
        for key in ("metrics", "evidence"):
            raw = data.get(key) or "{}"
            try:
                data[key] = json.loads(raw) if isinstance(raw, str) else dict(raw)
            except ValueError:
                data[key] = {"unparsed": raw}
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["metrics"] = json.dumps(self.metrics, sort_keys=True, default=str)
        row["evidence"] = json.dumps(self.evidence, sort_keys=True, default=str)
        return row

    def to_json(self) -> dict[str, Any]:
        """The insight as JSON values, its times in the store's text form ('2026-05-01 13:00:00.000')."""
        from muse.hours import ts_str

        out = asdict(self)
        for key in _TIMES:
            if out[key] is not None:
                out[key] = ts_str(out[key])
        return out

    def content(self) -> tuple[Any, ...]:
        """What the worker decides; a change here is worth a new row version."""
        return (
            self.type,
            self.severity,
            self.title,
            self.description,
            json.dumps(self.metrics, sort_keys=True, default=str),
            json.dumps(self.evidence, sort_keys=True, default=str),
            self.suggested_action,
            _round(self.baseline_value),
            _round(self.observed_value),
            _round(self.z_score),
            self.status == "resolved",
        )


_TIMES = ("observed_at", "created_at", "updated_at", "resolved_at", "acknowledged_at")


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


@dataclass
class UpsertResult:
    created: list[Insight] = field(default_factory=list)
    updated: list[Insight] = field(default_factory=list)
    escalated: list[Insight] = field(default_factory=list)
    unchanged: int = 0


def _now() -> datetime:
    from muse.hours import utcnow

    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)  # the store keeps milliseconds


def load(store: Store, ids: Iterable[str]) -> dict[str, Insight]:
    """The current version of each insight id that exists."""
    wanted = sorted(set(ids))
    out: dict[str, Insight] = {}
    for i in range(0, len(wanted), 1000):
        for row in store.named("analytics_insights_by_id", {"ids": wanted[i : i + 1000]}).dicts():
            out[row["insight_id"]] = Insight.from_row(row)
    return out


def upsert(store: Store, desired: Sequence[Insight], *, run_id: str) -> UpsertResult:
    """Write what is new or changed; keep creation time and acknowledgement of existing ones.

    An insight that exists keeps its status (open or acknowledged) unless the new version
    resolves it; a resolved one the worker finds again is re-opened.
    """
    result = UpsertResult()
    existing = load(store, (d.insight_id for d in desired))
    now = _now()
    rows = []
    for new in desired:
        old = existing.get(new.insight_id)
        new.updated_at = now
        new.analytics_run_id = run_id
        if old is None:
            new.created_at = now
            if new.status == "resolved":
                new.resolved_at = now
            result.created.append(new)
        else:
            if old.content() == new.content():
                result.unchanged += 1
                continue
            new.created_at = old.created_at
            new.acknowledged_at, new.acknowledged_by, new.verdict = (
                old.acknowledged_at,
                old.acknowledged_by,
                old.verdict,
            )
            if new.status == "resolved":
                new.resolved_at = old.resolved_at or now
            else:
                new.status = "acknowledged" if old.acknowledged_at and old.status != "resolved" else "open"
                new.resolved_at = None
            if severity_rank(new.severity) > severity_rank(old.severity) and new.status != "resolved":
                result.escalated.append(new)
            result.updated.append(new)
        rows.append(new.to_row())
    store.insert("insights", rows)
    return result


def resolve(store: Store, insights: Sequence[Insight], *, reason: str, run_id: str) -> list[Insight]:
    """Mark insights resolved (a new version each), saying why in the description."""
    now = _now()
    rows, done = [], []
    for ins in insights:
        if ins.status == "resolved":
            continue
        ins.status = "resolved"
        ins.resolved_at = now
        ins.updated_at = now
        ins.analytics_run_id = run_id
        ins.description = f"{ins.description} Resolved: {reason}"
        rows.append(ins.to_row())
        done.append(ins)
    store.insert("insights", rows)
    return done


def open_of_types(store: Store, types: Sequence[str]) -> list[Insight]:
    return [
        Insight.from_row(r) for r in store.named("analytics_insights_open_of_types", {"types": list(types)}).dicts()
    ]


def list_insights(
    store: Store, *, severity: str | None = None, type: str | None = None, open_only: bool = False, limit: int = 100
) -> list[Insight]:
    if severity and severity not in SEVERITIES:
        raise UsageError(f"--severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if type and type not in TYPES:
        raise UsageError(f"--type must be one of {', '.join(TYPES)}, not {type!r}")
    rows = store.named(
        "analytics_insights_list",
        {"severity": severity or "", "type": type or "", "open_only": int(open_only), "limit": limit},
    ).dicts()
    return [Insight.from_row(r) for r in rows]


def find(store: Store, id_or_prefix: str) -> Insight:
    """The insight with this id, or the only one whose id starts with it."""
    prefix = id_or_prefix.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise UsageError(f"insight id {id_or_prefix!r} must be at least 4 hex digits (see `muse insights list`)")
    rows = store.named("analytics_insights_find", {"prefix": prefix}).dicts()
    exact = [r for r in rows if r["insight_id"] == prefix]
    if exact:
        rows = exact
    if not rows:
        raise InputError(f"no insight with id {id_or_prefix!r} (see `muse insights list`)")
    if len(rows) > 1:
        ids = ", ".join(r["insight_id"] for r in rows)
        raise UsageError(f"insight id {id_or_prefix!r} is ambiguous: {ids}")
    return Insight.from_row(rows[0])


def acknowledge(store: Store, id_or_prefix: str, *, by: str, verdict: str | None = None) -> Insight:
    """Acknowledge an insight (again, to change the verdict); returns the new version."""
    if verdict is not None and verdict not in VERDICTS:
        raise UsageError(f"--verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if not by.strip():
        raise UsageError("--by must name who acknowledges")
    ins = find(store, id_or_prefix)
    now = _now()
    ins.acknowledged_at = now
    ins.acknowledged_by = by.strip()
    if verdict is not None:
        ins.verdict = verdict
    if ins.status != "resolved":
        ins.status = "acknowledged"
    ins.updated_at = now
    store.insert("insights", [ins.to_row()])
    return ins


def precision(store: Store) -> list[dict[str, Any]]:
    """Per type: totals, acknowledged, true/false positives and precision (None without verdicts)."""
    return store.named("analytics_insight_precision").dicts()


def findings_summary(store: Store, *, limit: int = 8) -> str:
    """A few plain lines on what the insights say, most severe first (for `muse demo`)."""
    items = list_insights(store, open_only=False, limit=500)
    live = [i for i in items if i.status != "resolved"]
    if not live:
        return "analytics: no insights"
    counts = {s: sum(1 for i in live if i.severity == s) for s in SEVERITIES}
    lines = [
        f"analytics: {len(live)} insight(s) - {counts['critical']} critical, {counts['warning']} warning, "
        f"{counts['info']} info"
    ]
    ranked = sorted(
        live, key=lambda i: (-severity_rank(i.severity), i.type != "latency_regression", i.observed_at), reverse=False
    )
    for ins in ranked[:limit]:
        lines.append(f"  [{ins.severity}] {ins.type} {ins.insight_id}: {ins.title}")
    if len(ranked) > limit:
        lines.append(f"  ... and {len(ranked) - limit} more (`muse insights list`)")
    return "\n".join(lines)
