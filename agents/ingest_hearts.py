"""Banterhearts ingestor: benchmark reports into bench_runs and llm_events.

Entry point: :func:`run`. The CLI (`muse ingest hearts`), cron and the tests call it through
``muse.runs.run_agent(settings, "ingest-hearts", run, ...)``.

A report is ``reports/benchmarks/{run_id}.json`` in the banterhearts checkout (format:
config/schemas/benchmark_report.schema.json). Each one is validated on its own; a bad one
is rejected with one line naming the file, the record and the field, quarantined and
recorded, and the others go on. Good reports are written in batches:

* bench_runs, one row per result, and llm_events (source ``banterhearts``), one row per LLM
  call with ``event_id`` derived from (report run_id, call index): both replacing tables
  keyed on those identities, and every batch carries an insert deduplication token, so the
  same report ingested twice, or a batch retried after a crash half way, leaves one copy;
* then the ``ingest_reports`` ledger, last: a crash before it only means the next
  ``--pending`` run writes the batch again, which the two guards above make harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from muse import quarantine, schemas
from muse.errors import ConfigError, InputError, StoreUnavailableError, UsageError
from muse.hours import utc
from muse.runs import AgentResult, ItemOutcome, RunContext, ts_str, utcnow

log = logging.getLogger(__name__)

AGENT = "ingest-hearts"
SOURCE = "banterhearts"
SUPPORTED_SCHEMA_VERSIONS = (1,)
REPORTS_DIR = Path("reports") / "benchmarks"
BATCH = 200  # reports per insert batch


@dataclass
class Report:
    path: Path
    rel: str
    run_id: str
    sha256: str
    doc: dict[str, Any] = field(default_factory=dict)
    ts: datetime | None = None
    problem: str = ""

    @property
    def commit_sha(self) -> str:
        sha = self.doc.get("commit_sha") if isinstance(self.doc, dict) else None
        return sha if isinstance(sha, str) else ""


def parse_run_id(text: str) -> str:
    """The canonical form of a run id; anything that is not a UUID is a usage error.

    Checked before the run id becomes part of a path, so ``../../etc/passwd`` never reaches
    the file system.
    """
    try:
        value = uuid.UUID(text.strip())
    except (ValueError, AttributeError, TypeError):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise UsageError(f"--run-id must be a UUID such as 123e4567-e89b-42d3-a456-426614174000, got {shown!r}") \
            from None
    return str(value)


def event_id(run_id: str, index: int) -> int:
    """llm_events.event_id of call ``index`` of report ``run_id``: stable across re-ingests."""
    digest = hashlib.blake2b(f"{run_id}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def run(ctx: RunContext, *, run_id: str | None = None, pending: bool = False,
        repo: str | Path | None = None) -> AgentResult:
    """Ingest one report (``run_id``) or every report not ingested yet (``pending``).

    ``repo`` overrides ``repos.banterhearts.path``. A report counts as ingested when the
    ledger holds it with the same content hash; an edited report is ingested again.
    """
    if bool(run_id) == bool(pending):
        raise UsageError("pass exactly one of --run-id UUID or --pending")
    canonical = parse_run_id(run_id) if run_id else None
    root = Path(repo).expanduser() if repo else ctx.settings.path_of("repos.banterhearts.path")
    if root is None:
        raise ConfigError("repos.banterhearts.path is not set",
                          hint="point it at the banterhearts checkout in the config, or MUSE_REPOS_BANTERHEARTS_PATH")
    reports_dir = root / REPORTS_DIR
    if not reports_dir.is_dir():
        raise ConfigError(f"{reports_dir} does not exist (is {root} a banterhearts checkout?)")
    items: list[ItemOutcome] = []
    if canonical:
        path = reports_dir / f"{canonical}.json"
        if not path.is_file():
            raise InputError(f"report {REPORTS_DIR / path.name} not found in {root}")
        candidates = [path]
        known: dict[str, tuple[str, str]] = {}
    else:
        known = {r["run_id"]: (r["content_sha256"], r["status"]) for r in ctx.store.named("ingest_hearts_ledger").dicts()}
        candidates = []
        for path in sorted(reports_dir.glob("*.json")):
            try:
                uuid.UUID(path.stem)
            except ValueError:
                items.append(ItemOutcome(str(REPORTS_DIR / path.name), "skipped", "name is not {run_id}.json"))
                continue
            candidates.append(path)
    reports = []
    for path in candidates:
        report = _read(path, reports_dir.resolve(), skip_if=None if canonical else known)
        if report is not None:
            reports.append(report)
    good = [r for r in reports if not r.problem]
    bad = [r for r in reports if r.problem]
    rows_written = 0
    try:
        for start in range(0, len(good), BATCH):
            rows_written += _write_batch(ctx, good[start:start + BATCH])
    except StoreUnavailableError:
        for r in good:
            ctx.telemetry.count("ingest.banterhearts", 1, commit_sha=r.commit_sha or "unknown", status="failed")
        raise
    if bad:
        rows_written += _reject(ctx, bad)
    for r in good:
        ctx.telemetry.count("ingest.banterhearts", 1, commit_sha=r.commit_sha, status="ok")
        items.append(ItemOutcome(r.rel, "ok", f"commit {r.commit_sha[:12]}, {len(r.doc['results'])} result(s), "
                                              f"{len(r.doc['llm_calls'])} llm call(s)",
                                 rows=len(r.doc["results"]) + len(r.doc["llm_calls"])))
    for r in bad:
        ctx.telemetry.count("ingest.banterhearts", 1, commit_sha=r.commit_sha or "unknown", status="rejected")
        items.append(ItemOutcome(r.rel, "failed", r.problem))
    newest = max((r.ts for r in good if r.ts), default=None) or _newest_ingested(ctx)
    if newest is not None:  # every run, from the newest ingested report (docs/alerts.md)
        ctx.telemetry.gauge("ingest.lag_seconds", max(0.0, (utcnow() - newest).total_seconds()), repo=SOURCE)
    _llm_metrics(ctx, good)
    skipped = len(candidates) - len(reports)
    parts = [f"{len(good)} report(s) ingested"]
    if bad:
        parts.append(f"{len(bad)} rejected")
    if pending:
        parts.append(f"{skipped} already ingested")
    return AgentResult(
        status="failed" if bad else "ok",
        message=", ".join(parts) + (f" (first: {bad[0].rel}: {bad[0].problem})" if bad else ""),
        rows_written=rows_written,
        items=items,
        details={"ingested": [r.run_id for r in good], "rejected": {r.rel: r.problem for r in bad},
                 "already_ingested": skipped,
                 "commits": sorted({r.commit_sha for r in good})},
    )


def _read(path: Path, reports_dir: Path, *, skip_if: dict[str, tuple[str, str]] | None = None) -> Report | None:
    """Read and validate one report; None when ``skip_if`` (the ledger) has this exact version."""
    rel = str(REPORTS_DIR / path.name)
    report = Report(path=path, rel=rel, run_id=str(uuid.UUID(path.stem)), sha256="")
    try:
        resolved = path.resolve()
        if resolved.parent != reports_dir:
            # A symlink out of the reports folder is not a report of this repo.
            report.problem = "is a link outside reports/benchmarks"
            report.sha256 = hashlib.sha256(str(resolved).encode()).hexdigest()
            if skip_if is not None and skip_if.get(report.run_id, ("", ""))[0] == report.sha256:
                return None
            return report
        data = path.read_bytes()
    except OSError as exc:
        report.problem = f"cannot read: {exc.strerror}"
        report.sha256 = "0" * 64
        return report
    report.sha256 = hashlib.sha256(data).hexdigest()
    if skip_if is not None and skip_if.get(report.run_id, ("", ""))[0] == report.sha256:
        return None  # already ingested (or already rejected) in this exact version
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        report.problem = f"invalid JSON: {exc}"[:300]
        return report
    report.doc = doc if isinstance(doc, dict) else {}
    report.problem = validate(doc, expected_run_id=report.run_id)
    if not report.problem:
        report.ts = _parse_ts(doc["ts"])
    return report


def validate(doc: Any, *, expected_run_id: str | None = None) -> str:
    """'' for a good report, else its first problem as 'field: what is wrong'."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    version = doc.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        return f"schema_version: {json.dumps(version)} is not supported (supported: {supported})"
    problems = list(schemas.errors(schemas.REPORT_SCHEMA, doc))
    if problems:
        return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    if expected_run_id is not None and str(uuid.UUID(doc["run_id"])) != expected_run_id:
        return f"run_id: {doc['run_id']} does not match the file name {expected_run_id}.json"
    if _parse_ts(doc["ts"]) is None:
        return f"ts: {json.dumps(doc['ts'])[:60]} is not ISO 8601 with a zone (e.g. 2026-05-01T13:40:00Z)"
    seen: dict[tuple[str, str, str], int] = {}
    for i, res in enumerate(doc["results"]):
        p50, p95, p99 = res["latency_p50_ms"], res["latency_p95_ms"], res["latency_p99_ms"]
        if not p50 <= p95 <= p99:
            return (f"results[{i}]: latencies must satisfy p50 <= p95 <= p99, got {p50:g} / {p95:g} / {p99:g}")
        key = (res["model"], res["quant"], res["dataset"])
        if key in seen:
            return f"results[{i}]: duplicate of results[{seen[key]}] ({', '.join(key)})"
        seen[key] = i
        for name in ("tokens_per_sec",):
            if not math.isfinite(res[name]):
                return f"results[{i}].{name}: not a finite number"
    return ""


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.year < 2000:
        return None
    return utc(parsed)


def _write_batch(ctx: RunContext, batch: list[Report]) -> int:
    """Write a batch of good reports: data first, ledger last (see the module docstring)."""
    bench: list[dict[str, Any]] = []
    llm: list[dict[str, Any]] = []
    for r in batch:
        ts = ts_str(r.ts) if r.ts else None
        for res in r.doc["results"]:
            bench.append({
                "ts": ts, "run_id": r.run_id, "commit_sha": r.commit_sha, "model": res["model"],
                "quant": res["quant"], "dataset": res["dataset"],
                "latency_p50_ms": round(res["latency_p50_ms"]), "latency_p95_ms": round(res["latency_p95_ms"]),
                "latency_p99_ms": round(res["latency_p99_ms"]), "tokens_per_sec": res["tokens_per_sec"],
                "cost_per_1k": round(float(res["cost_per_1k"]), 6), "memory_peak_mb": round(res["memory_peak_mb"]),
                "schema_version": r.doc["schema_version"]})
        for i, call in enumerate(r.doc["llm_calls"]):
            llm.append({
                "ts": ts, "event_id": event_id(r.run_id, i), "run_id": r.run_id, "source": SOURCE,
                "commit_sha": r.commit_sha, "model": call["model"], "operation": call["operation"],
                "tokens_in": call["tokens_in"], "tokens_out": call["tokens_out"],
                "latency_ms": round(call["latency_ms"]), "cost_usd": round(float(call["cost_usd"]), 6),
                "status": call["status"], "error_msg": call.get("error_msg") or "",
                "schema_version": r.doc["schema_version"]})
    # The token names exactly this content: a retry of the same batch is dropped at insert.
    token = hashlib.sha256("\n".join(f"{r.run_id}:{r.sha256}" for r in batch).encode()).hexdigest()[:40]
    written = ctx.store.insert("bench_runs", bench, dedup_token=f"hearts-bench-{token}")
    written += ctx.store.insert("llm_events", llm, dedup_token=f"hearts-llm-{token}")
    now = ts_str(utcnow())
    written += ctx.store.insert("ingest_reports", [{
        "run_id": r.run_id, "path": r.rel, "content_sha256": r.sha256, "commit_sha": r.commit_sha,
        "report_ts": ts_str(r.ts) if r.ts else None, "status": "ok", "message": "",
        "results": len(r.doc["results"]), "llm_calls": len(r.doc["llm_calls"]), "agent_run_id": ctx.run_id,
        "ingested_at": now} for r in batch])
    return written


def _reject(ctx: RunContext, bad: list[Report]) -> int:
    for r in bad:
        log.warning("ingest hearts: rejected %s: %s", r.rel, r.problem)
    quarantine.record(ctx.store, ctx.settings.state_dir, source="hearts", table_source=SOURCE,
                      agent_run_id=ctx.run_id,
                      records=[quarantine.Record(file=r.rel, line=0, reason=r.problem,
                                                 raw_hash=int(r.sha256[:16], 16)) for r in bad])
    now = ts_str(utcnow())
    return ctx.store.insert("ingest_reports", [{
        "run_id": r.run_id, "path": r.rel, "content_sha256": r.sha256, "commit_sha": r.commit_sha[:40],
        "report_ts": None, "status": "rejected", "message": r.problem[:2000], "results": 0, "llm_calls": 0,
        "agent_run_id": ctx.run_id, "ingested_at": now} for r in bad]) + len(bad)


def _newest_ingested(ctx: RunContext) -> datetime | None:
    row = ctx.store.named("ingest_hearts_newest_report").first()
    if not row or not int(row["n"]):
        return None
    from muse.hours import utc

    return utc(datetime.fromisoformat(row["newest"]))


def _llm_metrics(ctx: RunContext, good: list[Report]) -> None:
    # Per model and report time: a backfilled report's cost is not stamped now (muse.telemetry).
    sums: dict[tuple[str, float | None], list[float]] = {}
    for r in good:
        at = r.ts.timestamp() if r.ts else None
        for call in r.doc["llm_calls"]:
            s = sums.setdefault((call["model"], at), [0, 0, 0.0])
            s[0] += call["tokens_in"]
            s[1] += call["tokens_out"]
            s[2] += float(call["cost_usd"])
    for (model, at), (tin, tout, cost) in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        ctx.telemetry.count("llm.tokens_in", tin, timestamp=at, source=SOURCE, model=model)
        ctx.telemetry.count("llm.tokens_out", tout, timestamp=at, source=SOURCE, model=model)
        ctx.telemetry.count("llm.cost_usd", cost, timestamp=at, source=SOURCE, model=model)
