"""Quarantine: bad input set aside with where it came from and why.

Each record goes to ``<state dir>/quarantine/<source>-YYYYMMDD.jsonl`` (one JSON object a
line: ts, source, file, line, reason, raw; the date is the day of the run, UTC) and to the
``ingest_quarantine`` table, which remembers what was already reported so a bad line is
quarantined once however many runs read its file.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from muse.hours import ts_str, utcnow
from muse.store import Store

log = logging.getLogger(__name__)

# Raw text kept per record; enough to see what was wrong without copying huge lines.
RAW_LIMIT = 8192
# One warning line each for the first records of a run; the rest are in the file.
LOG_LIMIT = 20


@dataclass(frozen=True)
class Record:
    file: str
    line: int  # 1-based line number; 0 for a whole file (a rejected report)
    reason: str
    raw: str = ""
    raw_hash: int = 0


def quarantine_path(state_dir: Path, source: str, when: datetime | None = None) -> Path:
    when = when or utcnow()
    return state_dir / "quarantine" / f"{source}-{when.strftime('%Y%m%d')}.jsonl"


def record(
    store: Store, state_dir: Path, *, source: str, table_source: str, agent_run_id: str, records: Sequence[Record]
) -> Path | None:
    """Append records to the day's quarantine file and the ingest_quarantine table."""
    if not records:
        return None
    now = utcnow()
    path = quarantine_path(state_dir, source, now)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = [
        json.dumps(
            {
                "ts": stamp,
                "source": table_source,
                "file": r.file,
                "line": r.line,
                "reason": r.reason,
                "raw": r.raw[:RAW_LIMIT],
            },
            ensure_ascii=False,
        )
        for r in records
    ]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    rows: list[dict[str, Any]] = [
        {
            "source": table_source,
            "file": r.file,
            "line": r.line,
            "raw_hash": r.raw_hash,
            "reason": r.reason,
            "raw": r.raw[:RAW_LIMIT],
            "agent_run_id": agent_run_id,
            "quarantined_at": ts_str(now),
        }
        for r in records
    ]
    store.insert("ingest_quarantine", rows)
    for r in records[:LOG_LIMIT]:
        where = f"{r.file}:{r.line}" if r.line else r.file
        log.warning("quarantined %s: %s", where, r.reason)
    if len(records) > LOG_LIMIT:
        log.warning("quarantined %d more record(s); see %s", len(records) - LOG_LIMIT, path)
    return path
