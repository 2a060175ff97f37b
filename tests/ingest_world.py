"""Builders for ingest tests: real report files, real telemetry files, a store that fails on cue."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

SHA = "a" * 40
SHA2 = "b" * 40
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)  # a Monday


def report(run_id: str | None = None, *, commit_sha: str = SHA, ts: str = "2026-05-04T10:05:00Z",
           results: list[dict[str, Any]] | None = None, calls: int = 3, **top: Any) -> dict[str, Any]:
    """A valid benchmark report; override any part."""
    run_id = run_id or str(uuid.uuid4())
    if results is None:
        results = [result(model=m, quant=q, dataset=d)
                   for m in ("llama3-8b", "mistral-7b") for q in ("q4_k_m",) for d in ("chat-short", "rag-long")]
    doc = {"schema_version": 1, "run_id": run_id, "commit_sha": commit_sha, "ts": ts, "results": results,
           "llm_calls": [llm_call(tokens_in=100 * (i + 1)) for i in range(calls)]}
    doc.update(top)
    return doc


def result(**kw: Any) -> dict[str, Any]:
    base = {"model": "llama3-8b", "quant": "q4_k_m", "dataset": "chat-short", "latency_p50_ms": 180,
            "latency_p95_ms": 290, "latency_p99_ms": 390, "tokens_per_sec": 95.5, "cost_per_1k": 0.0004,
            "memory_peak_mb": 5200}
    base.update(kw)
    return base


def llm_call(**kw: Any) -> dict[str, Any]:
    base = {"model": "llama3-8b", "operation": "generate", "tokens_in": 100, "tokens_out": 50, "latency_ms": 420,
            "cost_usd": 0.00005, "status": "ok", "error_msg": ""}
    base.update(kw)
    return base


def write_report(repo: Path, doc: dict[str, Any] | str, *, name: str | None = None) -> Path:
    folder = repo / "reports" / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    if name is None:
        name = f"{doc['run_id']}.json" if isinstance(doc, dict) else f"{uuid.uuid4()}.json"
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=1), encoding="utf-8")
    return path


def event(when: datetime, kind: str = "query_submit", *, session: str | None = None, sha: str = SHA,
          latency: Any = 100, **extra: Any) -> dict[str, Any]:
    """A valid UI event; ``extra`` overrides or adds any field (ts, metadata, ...)."""
    doc = {"ts": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
           "session_id": session or str(uuid.uuid4()), "commit_sha": sha, "event_type": kind, "latency_ms": latency,
           "user_agent": "Mozilla/5.0 test", "metadata": {"route": "/"}}
    if kind == "llm_call":
        doc.update({"model": "mistral-7b", "operation": "chat", "tokens_in": 900, "tokens_out": 120,
                    "cost_usd": 0.00027, "status": "ok", "error_msg": ""})
    doc.update(extra)
    return doc


def session(start: datetime, *, sha: str = SHA, queries: int = 1, error: bool = False,
            latencies: Iterable[float] = ()) -> list[dict[str, Any]]:
    """A realistic session: open, then queries (each an llm_call and a query_submit), then end."""
    sid = str(uuid.uuid4())
    lat = list(latencies) or [500.0] * queries
    out = [event(start, "overlay_open", session=sid, sha=sha, latency=80)]
    t = start
    for i in range(queries):
        t += timedelta(seconds=5)
        out.append(event(t, "llm_call", session=sid, sha=sha, latency=lat[i] - 50))
        out.append(event(t + timedelta(milliseconds=10), "query_submit", session=sid, sha=sha, latency=lat[i]))
    if error:
        t += timedelta(seconds=1)
        out.append(event(t, "error", session=sid, sha=sha, latency=0))
    out.append(event(t + timedelta(seconds=2), "session_end", session=sid, sha=sha, latency=0))
    return out


def write_jsonl(path: Path, lines: Iterable[dict[str, Any] | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def hour_file(root: Path, hour: datetime) -> Path:
    return root / hour.strftime("%Y-%m-%d") / (hour.strftime("%Y-%m-%dT%H") + ".jsonl")


class FaultyStore:
    """The real store, with faults on cue: ``fail(match, times, exc)`` makes the next ``times``
    inserts into a table (or queries containing a text) raise ``exc``."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._faults: list[list[Any]] = []
        self.calls: list[str] = []

    def fail(self, match: str, *, times: int = 1, exc: Callable[[], BaseException] | None = None) -> None:
        self._faults.append([match, times, exc or (lambda: RuntimeError(f"injected fault on {match}"))])

    def _check(self, what: str) -> None:
        self.calls.append(what)
        for fault in self._faults:
            if fault[1] > 0 and fault[0] in what:
                fault[1] -= 1
                raise fault[2]()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    # Faults go below the retry loop, where a real failure would happen.
    def install(self) -> "FaultyStore":
        real_query, real_insert = self._store._raw_query, self._store._raw_insert

        def raw_query(sql: str, params: Any) -> Any:
            self._check(sql)
            return real_query(sql, params)

        def raw_insert(table: str, columns: Any, rows: Any, dedup_token: Any = None) -> Any:
            self._check(f"INSERT INTO {table}")
            return real_insert(table, columns, rows, dedup_token)

        self._store._raw_query = raw_query
        self._store._raw_insert = raw_insert
        return self


def ingest(settings: Any, store: Any, tdir: Path, since: datetime = T0, until: datetime | None = None, *,
           now: datetime = T0 + timedelta(days=1), telemetry: Any = None, **opts: Any) -> Any:
    """One ingest packs run over [since, until) (an hour by default), as cron would run it."""
    from muse.agents import ingest_packs
    from muse.runs import run_agent
    from muse.telemetry import Telemetry

    return run_agent(settings, ingest_packs.AGENT, ingest_packs.run, store=store,
                     telemetry=telemetry or Telemetry(state_dir=settings.state_dir), telemetry_dir=str(tdir),
                     since=since, until=until or since + timedelta(hours=1), now=now, **opts)


def quarantined(settings: Any) -> list[dict[str, Any]]:
    """Every line ingest packs set aside, from the quarantine files of the state dir."""
    out = []
    for path in sorted((settings.state_dir / "quarantine").glob("packs-*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out
