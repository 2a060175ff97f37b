"""The watcher's per-commit counts read a small, fixed slice of the tables (migration 003).

Sizes are small enough for the suite; benchmarks/watcher_check.py measures 10M/1M rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from muse import migrations
from muse.resources import resource_path
from muse.store import open_store

GRANULE = 8192
REPORTS = 100_000  # bench_runs: one report per commit, 4 rows each (2 models x 2 quants)
COMMITS = 40  # ui_events: 10,000 events per commit


def sha(kind: str, i: int) -> str:
    import hashlib

    return hashlib.sha1(f"{kind}{i}".encode()).hexdigest()


def _fill(store: Any) -> None:
    store.execute(f"""
        INSERT INTO bench_runs (ts, run_id, commit_sha, model, quant, dataset, latency_p50_ms, latency_p95_ms,
                                latency_p99_ms, tokens_per_sec, cost_per_1k, memory_peak_mb)
        SELECT now64(3) - toIntervalSecond(({REPORTS} - intDiv(number, 4)) * 60), generateUUIDv4(intDiv(number, 4)),
               lower(hex(SHA1(concat('h', toString(intDiv(number, 4)))))), concat('m', toString(number % 2)),
               concat('q', toString(intDiv(number, 2) % 2)), 'chat', 100, 200, 300, 50, 0.01, 1000
        FROM numbers({REPORTS * 4})""")
    store.execute(f"""
        INSERT INTO ui_events (ts, event_id, session_id, commit_sha, event_type, latency_ms, user_agent, metadata)
        SELECT now64(3) - toIntervalSecond({COMMITS * 10_000} - number), number, generateUUIDv4(intDiv(number, 20)),
               lower(hex(SHA1(concat('p', toString(intDiv(number, 10000)))))), 'overlay_open', 100, 'UA', '{{}}'
        FROM numbers({COMMITS * 10_000})""")


def test_migration_003_indexes_existing_rows_and_counts_read_a_fixed_slice(settings) -> None:
    with open_store(settings) as store:
        # A store created before 003: only 001's tables, already holding data.
        first = (resource_path("sql") / "migrations" / "001_initial_schema.sql").read_text()
        for stmt in migrations.statements(migrations.render(first)):
            store.execute(stmt)
        _fill(store)
        before = store.named("watcher_hearts_rows", {"sha": sha("h", REPORTS - 1)})
        assert before.rows_read >= REPORTS * 4  # no index yet: the whole table (FINAL reads some twice)

        applied = [m.version for m in migrations.migrate(store)]
        assert 3 in applied
        idx = store.query("SELECT name, type FROM system.data_skipping_indices "
                          "WHERE database = currentDatabase() AND table = 'bench_runs'").rows
        assert idx == [("idx_bench_runs_commit_sha", "bloom_filter")]

        for report in (REPORTS - 1, REPORTS // 2, 7):
            r = store.named("watcher_hearts_rows", {"sha": sha("h", report)})
            assert r.first()["rows"] == 4
            assert r.rows_read <= 8 * GRANULE, r.rows_read  # 4 rows, at most a few granules each
        assert store.named("watcher_hearts_rows", {"sha": "0" * 40}).first()["rows"] == 0

        since = {"since": datetime.now(timezone.utc) - timedelta(days=30)}
        p = store.named("watcher_packs_rows", {"sha": sha("p", COMMITS - 1), **since})
        assert p.first()["rows"] == 10_000 and p.rows_read <= 3 * GRANULE  # one primary-key range
        # Deduplicated: a retried insert of the same events does not change the count.
        store.execute("INSERT INTO ui_events SELECT * FROM ui_events WHERE commit_sha = {s:FixedString(40)}",
                      {"s": sha("p", COMMITS - 1)})
        assert store.named("watcher_packs_rows", {"sha": sha("p", COMMITS - 1), **since}).first()["rows"] == 10_000

        # Re-running the migration's DDL is harmless (a half-applied 003 is finished by a re-run).
        m3 = next(m for m in migrations.available() if m.version == 3)
        for stmt in migrations.statements(migrations.render(m3.text)):
            store.execute(stmt)
