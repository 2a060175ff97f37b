"""`build_digest` on a year of data against one aggregate scan of the biggest table.

Generates, in a temporary embedded store: N llm_events (default 1,000,000) over 365 days,
N/10 bench_runs, an hourly session_stats row per commit for the year, and a watcher check
every 15 minutes. Measures the whole 7-day digest against the one query a hand-written report
would at least run: LLM cost by source and model over the same 7 days. The digest runs 12
queries (every one on FINAL, over seven tables); the target ratio <= 12 says that on average
none of them costs more than that one scan: the fixed cost of a query (~4 ms in chDB) is
most of it, and the FINAL reads are kept to the days asked for.

Usage: python benchmarks/digest_speed.py [--events 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import interleaved, report  # noqa: E402

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)


def populate(store, events: int) -> None:  # noqa: ANN001
    start = int((NOW - timedelta(days=365)).timestamp())
    span = 365 * 86400
    store.execute(f"""
        INSERT INTO llm_events (ts, event_id, run_id, source, model, operation, tokens_in, tokens_out,
                                latency_ms, cost_usd, status)
        SELECT toDateTime64({start} + intDiv(number * {span}, {events}), 3, 'UTC'), number, generateUUIDv4(),
               ['banterhearts', 'banterpacks', 'council'][number % 3 + 1],
               ['gpt-4o', 'haiku', 'llama3'][intDiv(number, 3) % 3 + 1], 'chat', 100 + number % 900,
               50 + number % 400, 200 + number % 3000, toDecimal64((number % 1000) / 100000, 6), 'ok'
        FROM numbers({events})""")
    bench = max(events // 10, 1)
    store.execute(f"""
        INSERT INTO bench_runs (ts, run_id, commit_sha, model, quant, dataset, latency_p50_ms, latency_p95_ms,
                                latency_p99_ms, tokens_per_sec, cost_per_1k, memory_peak_mb)
        SELECT toDateTime64({start} + intDiv(number * {span}, {bench}), 3, 'UTC'), generateUUIDv4(),
               leftPad(hex(intDiv(number, 20)), 40, '0'), ['llama3', 'mistral'][number % 2 + 1], 'q4',
               concat('d', toString(number % 10)), 50, 100 + number % 400, 600, 40, 0.002, 900
        FROM numbers({bench})""")
    store.execute(f"""
        INSERT INTO session_stats (hour, commit_sha, total_sessions, total_events, avg_latency_ms, p95_latency_ms,
                                   error_rate, abandonment_rate)
        SELECT toDateTime({start} + intDiv(number, 10) * 3600, 'UTC'), leftPad(hex(number % 10), 40, '0'),
               10 + number % 50, 100 + number % 500, 200 + number % 300, 800, (number % 10) / 100, 0.1
        FROM numbers({365 * 24 * 10})""")
    store.execute(f"""
        INSERT INTO watcher_runs (ts, run_id, hearts_commit, packs_commit, hearts_rows_found, packs_rows_found,
                                  lag_seconds, status)
        SELECT toDateTime64({start} + number * 900, 3, 'UTC'), generateUUIDv4(), repeat('a', 40), repeat('b', 40),
               1, 1, 60, if(number % 50 = 0, 'missing_packs', 'valid')
        FROM numbers({365 * 96})""")


def main(events: int = 1_000_000, repeats: int = 5) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MUSE_STATE_DIR"] = tmp
        from muse import migrations
        from muse.config import load_settings
        from muse.ops.digest import build_digest
        from muse.hours import ts_str
        from muse.store import open_store

        with open_store(load_settings()) as store:
            migrations.migrate(store)
            t0 = time.perf_counter()
            populate(store, events)
            print(f"generated {events:,} llm_events and the rest in {time.perf_counter() - t0:.1f}s")
            since = ts_str((NOW - timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0))

            def digest() -> float:
                t = time.perf_counter()
                build_digest(store, days=7, now=NOW)
                return time.perf_counter() - t

            def baseline() -> float:
                t = time.perf_counter()
                store.query("SELECT source, model, count(), sum(cost_usd) FROM llm_events FINAL "
                            "WHERE ts >= {since:DateTime64(3, 'UTC')} GROUP BY source, model", {"since": since})
                return time.perf_counter() - t

            digest(), baseline()  # warm caches
            t = time.perf_counter()
            build_digest(store, days=365, now=NOW)
            print(f"a 365-day digest of the same store: {time.perf_counter() - t:.3f}s")
            measured, base = interleaved(digest, baseline, repeats)
            return report(f"digest (7 days of {events:,} llm_events) vs one cost scan", measured, base, 12.0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sys.exit(0 if main(args.events, args.repeats)["pass"] else 1)
