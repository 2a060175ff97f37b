"""Banterhearts ingestor: benchmark reports into bench_runs and llm_events.

Entry point: :func:`run`. The CLI (`muse ingest hearts`), cron and the tests call it through
``muse.runs.run_agent(settings, "ingest-hearts", run, ...)``.

A report is ``reports/benchmarks/{run_id}.json`` in the banterhearts checkout (format:
config/schemas/benchmark_report.schema.json). Each one is validated on its own; a bad one
is rejected with one line naming the file, the record and the field, quarantined and
recorded, and the others go on (NaN, Infinity, ``1.0`` for an integer and a ``ts`` beyond
the clock-skew tolerance included). A run id in any spelling is one report: a second file
with other content is a conflict, quarantined once and never written. Each report is
converted on its own; a batch the store refuses is split until the refused report is found.
Good reports are written in batches:

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
import os
import stat
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from muse import quarantine, schemas
from muse.errors import ConfigError, InputError, StoreError, StoreUnavailableError, UsageError
from muse.hours import utc
from muse.hours import ts_str, utcnow
from muse.runs import AgentResult, ItemOutcome, RunContext

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
    # Set aside without a ledger row: a second file for a run id already taken ("conflict"),
    # or a file that is not a regular file ("skip").
    kind: str = ""
    bench: list[dict[str, Any]] = field(default_factory=list)
    llm: list[dict[str, Any]] = field(default_factory=list)

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
        raise UsageError(
            f"--run-id must be a UUID such as 123e4567-e89b-42d3-a456-426614174000, got {shown!r}"
        ) from None
    return str(value)


def event_id(run_id: str, index: int) -> int:
    """llm_events.event_id of call ``index`` of report ``run_id``: stable across re-ingests."""
    digest = hashlib.blake2b(f"{run_id}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def run(
    ctx: RunContext,
    *,
    run_id: str | None = None,
    pending: bool = False,
    repo: str | Path | None = None,
    now: datetime | None = None,
) -> AgentResult:
    """Ingest one report (``run_id``) or every report not ingested yet (``pending``).

    ``repo`` overrides ``repos.banterhearts.path``. A report counts as ingested when the
    ledger holds it with the same content hash; an edited report is ingested again. A run id
    belongs to the first file ingested for it (however its name spells the UUID): another
    file with the same run id and other content is a conflict, quarantined and reported once,
    never written over the first. ``now`` fixes the clock (tests).
    """
    if bool(run_id) == bool(pending):
        raise UsageError("pass exactly one of --run-id UUID or --pending")
    now = now or utcnow()
    tolerance = float(ctx.settings.ingest.clock_skew_tolerance_seconds)
    canonical = parse_run_id(run_id) if run_id else None
    root, reports_dir = _reports_dir(ctx, repo)
    items: list[ItemOutcome] = []
    ledger = {
        r["run_id"]: (r["content_sha256"], r["status"], r["path"])
        for r in ctx.store.named("ingest_hearts_ledger").dicts()
    }
    candidates = _candidates(root, reports_dir, canonical, items)
    reports, duplicates = _read_all(ctx, candidates, ledger, canonical, reports_dir, now, tolerance, items)
    for r in reports:
        if r.kind == "skip":
            log.warning("ingest hearts: skipped %s: %s", r.rel, r.problem)
            items.append(ItemOutcome(r.rel, "skipped", r.problem))
    good = [r for r in reports if not r.problem]
    for r in good:
        _convert(r)  # each report on its own: one that cannot be stored names its field
    good = [r for r in good if not r.problem]
    try:
        rows_written = _write_all(ctx, good)
    except StoreUnavailableError:
        for r in good:
            ctx.telemetry.count("ingest.banterhearts", 1, commit_sha=r.commit_sha or "unknown", status="failed")
        # The reports this run could not write still wait: the lag says for how long.
        _emit_lag(ctx, [r.path for r in good] + _waiting_elsewhere(candidates, ledger, canonical, reports_dir))
        raise
    _forget_refused(ctx, good)
    good = [r for r in good if not r.problem]
    bad = [r for r in reports if r.problem and r.kind != "skip"]
    if bad:
        rows_written += _reject(ctx, bad)
    _report_items(ctx, good, bad, items)
    # Every run: how long the oldest report not ingested yet has been waiting, 0 when none
    # (docs/ingest.md). A --pending run leaves none behind; --run-id leaves the others.
    _emit_lag(ctx, _waiting_elsewhere(candidates, ledger, canonical, reports_dir))
    _llm_metrics(ctx, good)
    skipped = len(candidates) - len(reports) - duplicates
    return _result(good, bad, skipped, pending, rows_written, items)


def _reports_dir(ctx: RunContext, repo: str | Path | None) -> tuple[Path, Path]:
    """The banterhearts checkout (the argument, else the setting) and its reports folder."""
    root = Path(repo).expanduser() if repo else ctx.settings.path_of("repos.banterhearts.path")
    if root is None:
        raise ConfigError(
            "repos.banterhearts.path is not set",
            hint="point it at the banterhearts checkout in the config, or MUSE_REPOS_BANTERHEARTS_PATH",
        )
    reports_dir = root / REPORTS_DIR
    if not reports_dir.is_dir():
        raise ConfigError(f"{reports_dir} does not exist (is {root} a banterhearts checkout?)")
    return root, reports_dir


def _candidates(root: Path, reports_dir: Path, canonical: str | None, items: list[ItemOutcome]) -> list[Path]:
    """The report files to look at: the one of ``canonical``, else every ``{uuid}.json`` (a
    file with another name is reported as skipped)."""
    if canonical:
        path = reports_dir / f"{canonical}.json"
        if not path.is_file():
            raise InputError(f"report {REPORTS_DIR / path.name} not found in {root}")
        return [path]
    candidates = []
    for path in sorted(reports_dir.glob("*.json")):
        try:
            uuid.UUID(path.stem)
        except ValueError:
            items.append(ItemOutcome(str(REPORTS_DIR / path.name), "skipped", "name is not {run_id}.json"))
            continue
        candidates.append(path)
    return candidates


def _read_all(
    ctx: RunContext,
    candidates: list[Path],
    ledger: dict[str, tuple[str, str, str]],
    canonical: str | None,
    reports_dir: Path,
    now: datetime,
    tolerance: float,
    items: list[ItemOutcome],
) -> tuple[list[Report], int]:
    """Read the candidates, grouped by run id: the file that owns a run id is validated (and
    skipped when the ledger has this version, unless ``canonical``); another file with the
    same content is a duplicate, one with other content a conflict (reported once). Returns
    the reports and the number of duplicates."""
    known_conflicts = _known_conflicts(ctx)
    versions = {k: v[:2] for k, v in ledger.items()}
    resolved_dir = reports_dir.resolve()
    reports: list[Report] = []
    duplicates = 0
    by_id: dict[str, list[Path]] = {}
    for path in candidates:
        by_id.setdefault(str(uuid.UUID(path.stem)), []).append(path)
    for rid, paths in by_id.items():
        owner = ledger.get(rid)
        owner_rel, owner_sha = (owner[2], owner[0]) if owner else (None, None)
        # The ledger's file first, then the canonical spelling, then the others by name.
        paths.sort(key=lambda p: (str(REPORTS_DIR / p.name) != owner_rel, p.stem != rid, p.name))
        for path in paths:
            rel = str(REPORTS_DIR / path.name)
            if owner_rel is None or rel == owner_rel:
                report = _read(
                    path, resolved_dir, skip_if=None if canonical else versions, now=now, tolerance=tolerance
                )
                if report is not None and report.kind != "skip":
                    owner_rel, owner_sha = rel, report.sha256
                elif report is None:
                    owner_rel = rel
            else:
                report = _read(path, resolved_dir, now=now, tolerance=tolerance, validate_doc=False)
                if report is not None and report.kind != "skip":
                    if report.sha256 == owner_sha:
                        duplicates += 1  # the same report under another spelling: nothing to do
                        items.append(ItemOutcome(rel, "skipped", f"same content as {owner_rel}"))
                        continue
                    if (rel, _raw_hash(report.sha256)) in known_conflicts:
                        duplicates += 1
                        continue  # reported before; still not written
                    report.kind = "conflict"
                    report.problem = (
                        f"run_id: {rid} is already taken by {owner_rel}, with other content; "
                        "not ingested (rename or remove one of the two)"
                    )
            if report is not None:
                reports.append(report)
    return reports, duplicates


def _write_all(ctx: RunContext, good: list[Report]) -> int:
    """Write the good reports in batches of BATCH; a report the store refused is marked."""
    rows_written = 0
    for start in range(0, len(good), BATCH):
        rows_written += _write(ctx, good[start : start + BATCH])
    return rows_written


def _forget_refused(ctx: RunContext, good: list[Report]) -> None:
    """Remove the rows a larger batch wrote before the store refused one of its reports."""
    refused = [r.run_id for r in good if r.problem]
    if refused:
        ctx.store.named("ingest_hearts_forget_bench", {"run_ids": refused})
        ctx.store.named("ingest_hearts_forget_llm", {"run_ids": refused, "source": SOURCE})


def _report_items(ctx: RunContext, good: list[Report], bad: list[Report], items: list[ItemOutcome]) -> None:
    """One item and one ingest.banterhearts count per report written or rejected."""
    for r in good:
        ctx.telemetry.count("ingest.banterhearts", 1, commit_sha=r.commit_sha, status="ok")
        items.append(
            ItemOutcome(
                r.rel,
                "ok",
                f"commit {r.commit_sha[:12]}, {len(r.doc['results'])} result(s), {len(r.doc['llm_calls'])} llm call(s)",
                rows=len(r.doc["results"]) + len(r.doc["llm_calls"]),
            )
        )
    for r in bad:
        ctx.telemetry.count("ingest.banterhearts", 1, commit_sha=r.commit_sha or "unknown", status="rejected")
        items.append(ItemOutcome(r.rel, "failed", r.problem))


def _result(
    good: list[Report], bad: list[Report], skipped: int, pending: bool, rows_written: int, items: list[ItemOutcome]
) -> AgentResult:
    """The run's outcome: one message line, the rows written and the details."""
    conflicts = [r for r in bad if r.kind == "conflict"]
    parts = [f"{len(good)} report(s) ingested"]
    if bad:
        parts.append(f"{len(bad) - len(conflicts)} rejected")
    if conflicts:
        parts.append(f"{len(conflicts)} run id conflict(s)")
    if pending:
        parts.append(f"{skipped} already ingested")
    return AgentResult(
        status="failed" if bad else "ok",
        message=", ".join(parts) + (f" (first: {bad[0].rel}: {bad[0].problem})" if bad else ""),
        rows_written=rows_written,
        items=items,
        details={
            "ingested": [r.run_id for r in good],
            "rejected": {r.rel: r.problem for r in bad},
            "conflicts": [r.rel for r in conflicts],
            "already_ingested": skipped,
            "commits": sorted({r.commit_sha for r in good}),
        },
    )


def _raw_hash(sha256: str) -> int:
    return int(sha256[:16], 16)


def _known_conflicts(ctx: RunContext) -> set[tuple[str, int]]:
    """(file, content hash) of conflicts already quarantined: reported once, not every run."""
    return {
        (r["file"], int(r["raw_hash"]))
        for r in ctx.store.named("ingest_quarantine_whole_files", {"source": SOURCE}).dicts()
        if r["reason"].startswith("run_id: ")
    }


def _read(
    path: Path,
    reports_dir: Path,
    *,
    skip_if: dict[str, tuple[str, str]] | None = None,
    now: datetime | None = None,
    tolerance: float = 3600.0,
    validate_doc: bool = True,
) -> Report | None:
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
        if not stat.S_ISREG(os.stat(resolved).st_mode):
            # A FIFO would block the read forever (holding the store lock): never opened.
            report.problem, report.kind = "not a regular file (FIFO, socket or device); skipped", "skip"
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
    if not validate_doc:
        return report
    report.problem = validate(doc, expected_run_id=report.run_id, now=now, tolerance=tolerance)
    if not report.problem:
        report.ts = _parse_ts(doc["ts"])
    return report


def validate(
    doc: Any, *, expected_run_id: str | None = None, now: datetime | None = None, tolerance: float = 3600.0
) -> str:
    """'' for a good report, else its first problem as 'field: what is wrong'.

    Besides the schema: no NaN or Infinity anywhere (Python's json reads them), integers
    only where the schema says integer (``1.0`` and ``1e3`` are not), and a ``ts`` at most
    ``tolerance`` seconds after ``now`` (clock skew).
    """
    if not isinstance(doc, dict):
        return "not a JSON object"
    version = doc.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        shown = json.dumps(version) if not isinstance(version, float) or math.isfinite(version) else repr(version)
        return f"schema_version: {shown} is not supported (supported: {supported})"
    infinite = schemas.non_finite(doc)
    if infinite:
        return infinite
    problems = list(schemas.errors(schemas.REPORT_SCHEMA, doc, strict_integers=True))
    if problems:
        return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    if expected_run_id is not None and str(uuid.UUID(doc["run_id"])) != expected_run_id:
        return f"run_id: {doc['run_id']} does not match the file name {expected_run_id}.json"
    when = _parse_ts(doc["ts"])
    if when is None:
        return f"ts: {json.dumps(doc['ts'])[:60]} is not ISO 8601 with a zone (e.g. 2026-05-01T13:40:00Z)"
    if now is not None and (when - now).total_seconds() > tolerance:
        return (
            f"ts: {doc['ts'][:40]} is in the future, beyond the clock-skew tolerance of {tolerance:g} s "
            f"(ingest.clock_skew_tolerance_seconds)"
        )
    seen: dict[tuple[str, str, str], int] = {}
    for i, res in enumerate(doc["results"]):
        p50, p95, p99 = res["latency_p50_ms"], res["latency_p95_ms"], res["latency_p99_ms"]
        if not p50 <= p95 <= p99:
            return f"results[{i}]: latencies must satisfy p50 <= p95 <= p99, got {p50:g} / {p95:g} / {p99:g}"
        key = (res["model"], res["quant"], res["dataset"])
        if key in seen:
            return f"results[{i}]: duplicate of results[{seen[key]}] ({', '.join(key)})"
        seen[key] = i
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


def _convert(r: Report) -> None:
    """The rows of one report, field by field; a value that cannot be stored (which validation
    should have caught) marks this report bad, naming the field, and no other."""
    ts = ts_str(r.ts) if r.ts else None
    where = ""
    try:
        bench = []
        for i, res in enumerate(r.doc["results"]):
            row: dict[str, Any] = {
                "ts": ts,
                "run_id": r.run_id,
                "commit_sha": r.commit_sha,
                "model": res["model"],
                "quant": res["quant"],
                "dataset": res["dataset"],
                "schema_version": int(r.doc["schema_version"]),
            }
            for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "memory_peak_mb"):
                where = f"results[{i}].{name}"
                row[name] = int(round(res[name]))
            where = f"results[{i}].tokens_per_sec"
            row["tokens_per_sec"] = float(res["tokens_per_sec"])
            where = f"results[{i}].cost_per_1k"
            row["cost_per_1k"] = _decimal(res["cost_per_1k"])
            bench.append(row)
        llm = []
        for i, call in enumerate(r.doc["llm_calls"]):
            where = f"llm_calls[{i}].latency_ms"
            latency = int(round(call["latency_ms"]))
            where = f"llm_calls[{i}].cost_usd"
            cost = _decimal(call["cost_usd"])
            llm.append(
                {
                    "ts": ts,
                    "event_id": event_id(r.run_id, i),
                    "run_id": r.run_id,
                    "source": SOURCE,
                    "commit_sha": r.commit_sha,
                    "model": call["model"],
                    "operation": call["operation"],
                    "tokens_in": int(call["tokens_in"]),
                    "tokens_out": int(call["tokens_out"]),
                    "latency_ms": latency,
                    "cost_usd": cost,
                    "status": call["status"],
                    "error_msg": call.get("error_msg") or "",
                    "schema_version": int(r.doc["schema_version"]),
                }
            )
    except (ValueError, TypeError, OverflowError, KeyError, ArithmeticError) as exc:
        r.problem = f"{where or 'report'}: cannot be stored: {exc}"[:300]
        return
    r.bench, r.llm = bench, llm


def _decimal(value: Any) -> Decimal:
    """A cost as the exact decimal its JSON text said (``0.000251``, not the float nearest to
    it), rounded half away from zero to the 6 places stored. Python's json hands over a
    float, whose repr is the shortest text that reads back to it: the text in the report."""
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(
        Decimal("0.000001"), rounding=ROUND_HALF_UP
    )


def _write(ctx: RunContext, batch: list[Report], done: frozenset[str] = frozenset()) -> int:
    """Write a batch; when the store refuses it, split it so only the report it refuses is
    set aside (marked with the store's error) and every other one is written. ``done``: the
    tables the failed larger batch already wrote (one insert is one block, all or nothing),
    so the halves do not write those rows again. When every report of the batch is refused
    on its own, the store is failing, not the reports: the error is raised and nothing is
    ledgered, so the next run tries them all again."""
    written: set[str] = set(done)
    try:
        return _write_batch(ctx, batch, written)
    except StoreUnavailableError:
        raise
    except StoreError as exc:
        if len(batch) == 1:
            batch[0].problem = f"the store refused it: {exc.message}"[:300]
            return 0
        log.warning(
            "ingest hearts: a batch of %d report(s) failed (%s); writing them in halves", len(batch), exc.message
        )
        first_error = exc
    half = len(batch) // 2
    n = _write(ctx, batch[:half], frozenset(written)) + _write(ctx, batch[half:], frozenset(written))
    if all(r.problem for r in batch) and len(batch) > 1:
        for r in batch:
            r.problem = ""
        raise first_error
    return n


def _write_batch(ctx: RunContext, batch: list[Report], written: set[str]) -> int:
    """Write a batch of good reports: data first, ledger last (see the module docstring).
    ``written``: tables already holding this batch's rows (skipped), updated as it goes."""
    bench = [row for r in batch for row in r.bench]
    llm = [row for r in batch for row in r.llm]
    # The token names exactly this content: a retry of the same batch is dropped at insert.
    token = hashlib.sha256("\n".join(f"{r.run_id}:{r.sha256}" for r in batch).encode()).hexdigest()[:40]
    n = 0
    if "bench_runs" not in written:
        n += ctx.store.insert("bench_runs", bench, dedup_token=f"hearts-bench-{token}")
        written.add("bench_runs")
    if "llm_events" not in written:
        n += ctx.store.insert("llm_events", llm, dedup_token=f"hearts-llm-{token}")
        written.add("llm_events")
    now = ts_str(utcnow())
    n += ctx.store.insert(
        "ingest_reports",
        [
            {
                "run_id": r.run_id,
                "path": r.rel,
                "content_sha256": r.sha256,
                "commit_sha": r.commit_sha,
                "report_ts": ts_str(r.ts) if r.ts else None,
                "status": "ok",
                "message": "",
                "results": len(r.doc["results"]),
                "llm_calls": len(r.doc["llm_calls"]),
                "agent_run_id": ctx.run_id,
                "ingested_at": now,
            }
            for r in batch
        ],
    )
    written.add("ingest_reports")
    return n


def _reject(ctx: RunContext, bad: list[Report]) -> int:
    for r in bad:
        log.warning("ingest hearts: rejected %s: %s", r.rel, r.problem)
    quarantine.record(
        ctx.store,
        ctx.settings.state_dir,
        source="hearts",
        table_source=SOURCE,
        agent_run_id=ctx.run_id,
        records=[quarantine.Record(file=r.rel, line=0, reason=r.problem, raw_hash=int(r.sha256[:16], 16)) for r in bad],
    )
    now = ts_str(utcnow())
    # A conflict is not ledgered: the ledger row of its run id belongs to the first file.
    return ctx.store.insert(
        "ingest_reports",
        [
            {
                "run_id": r.run_id,
                "path": r.rel,
                "content_sha256": r.sha256,
                "commit_sha": r.commit_sha[:40],
                "report_ts": None,
                "status": "rejected",
                "message": r.problem[:2000],
                "results": 0,
                "llm_calls": 0,
                "agent_run_id": ctx.run_id,
                "ingested_at": now,
            }
            for r in bad
            if r.kind != "conflict"
        ],
    ) + len(bad)


def _waiting_elsewhere(
    candidates: list[Path], ledger: dict[str, Any], canonical: str | None, reports_dir: Path
) -> list[Path]:
    """Reports a ``--run-id`` run leaves waiting: the other ``{uuid}.json`` files of the folder
    whose run id the ledger does not know (ingested or rejected). A ``--pending`` run read
    every one of them itself, so none."""
    if not canonical:
        return []
    out = []
    for path in reports_dir.glob("*.json"):
        try:
            rid = str(uuid.UUID(path.stem))
        except ValueError:
            continue
        if rid != canonical and rid not in ledger and path not in candidates:
            out.append(path)
    return out


def _emit_lag(ctx: RunContext, waiting: list[Path]) -> None:
    """ingest.lag_seconds{repo:banterhearts}: seconds since the oldest waiting report's file
    was written (its modification time), 0 when no report waits. A repo without a new
    benchmark for a day is not late; a report the ingestor has not taken for 10 minutes is."""
    times = []
    for path in waiting:
        try:
            if stat.S_ISREG(os.stat(path).st_mode):  # a FIFO is skipped, never waited for
                times.append(os.stat(path).st_mtime)
        except OSError:
            continue
    lag = max(0.0, utcnow().timestamp() - min(times)) if times else 0.0
    ctx.telemetry.gauge("ingest.lag_seconds", lag, repo=SOURCE)


def _llm_metrics(ctx: RunContext, good: list[Report]) -> None:
    # Per model and report time: a backfilled report's cost is not stamped now (muse.telemetry).
    sums: dict[tuple[str, float | None], list[float]] = {}
    for r in good:
        at = r.ts.timestamp() if r.ts else None
        for call in r.doc["llm_calls"]:
            s = sums.setdefault((call["model"], at), [0, 0, 0.0])
            s[0] += call["tokens_in"]
            s[1] += call["tokens_out"]
            s[2] += float(_decimal(call["cost_usd"]))
    for (model, at), (tin, tout, cost) in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        ctx.telemetry.count("llm.tokens_in", tin, timestamp=at, source=SOURCE, model=model)
        ctx.telemetry.count("llm.tokens_out", tout, timestamp=at, source=SOURCE, model=model)
        ctx.telemetry.count("llm.cost_usd", cost, timestamp=at, source=SOURCE, model=model)
