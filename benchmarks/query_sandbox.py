"""The `muse query` sandbox's overhead: parse + check + run against run alone.

A sandboxed query costs two extra engine calls before it runs (``formatQuery`` of the
text as a bound parameter, ``EXPLAIN AST`` of the canonical text) and a walk of the syntax
tree in Python. Measured in one embedded store with N ui_events (default 1,000,000), in
the same bounded read-only session, interleaved: ``store.sandboxed_query(sql)`` against
``store.query(sql)``, for a trivial statement (where the fixed cost shows most) and for the
README's queries over ui_events. The overhead is a fixed ~2 engine round trips, so the
ratio depends on how much the query itself does. Targets (ratio of medians): trivial
<= 4.0, the README's counts (a few ms on FINAL) <= 2.5, an aggregate over the table <= 1.5.
The median difference (sandboxed - plain, same run) is printed too.

Usage: python benchmarks/query_sandbox.py [--events 1000000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import interleaved, report  # noqa: E402

QUERIES = [
    ("trivial SELECT 1", "SELECT 1", 4.0),
    ("README: count ui_events FINAL", "SELECT count() FROM ui_events FINAL", 2.5),
    ("README: count by commit FINAL", "SELECT count() FROM ui_events FINAL WHERE commit_sha = {sha:String}", 2.5),
    ("latency by event type", "SELECT event_type, avg(latency_ms), quantile(0.95)(latency_ms) FROM ui_events FINAL "
                              "GROUP BY event_type ORDER BY event_type", 1.5),
]


def main(events: int = 1_000_000, repeats: int = 15) -> list[dict]:
    from muse import migrations
    from muse.config import load_settings
    from muse.store import open_store

    results = []
    with tempfile.TemporaryDirectory(prefix="muse-bench-sandbox-") as tmp:
        settings = load_settings(env={"HOME": tmp}, overrides={"state_dir": str(Path(tmp) / "state")})
        with open_store(settings) as store:
            migrations.migrate(store)
            t0 = time.perf_counter()
            store.execute(
                "INSERT INTO ui_events (ts, event_id, session_id, commit_sha, event_type, latency_ms, user_agent, "
                "metadata) SELECT now64(3) - toIntervalSecond(number % (14 * 86400)), number, generateUUIDv4(), "
                "lower(hex(MD5(toString(number % 50)))) || lower(substring(hex(MD5(toString(number % 50))), 1, 8)), "
                "['overlay_open', 'query_submit', 'session_end'][number % 3 + 1], number % 3000, 'bench', '{}' "
                "FROM numbers({n:UInt64})", {"n": events})
            sha = store.query("SELECT any(commit_sha) FROM ui_events").scalar()
        print(f"store: {events:,} ui_events ({time.perf_counter() - t0:.1f}s)")
        with open_store(settings, readonly=True, bounded=True) as store:
            params = {"sha": sha}
            for name, sql, target in QUERIES:
                def sandboxed() -> float:
                    t = time.perf_counter()
                    store.sandboxed_query(sql, params)
                    return time.perf_counter() - t

                def plain() -> float:
                    t = time.perf_counter()
                    store.query(sql, params)
                    return time.perf_counter() - t

                sandboxed(), plain()  # warm both paths
                measured, base = interleaved(sandboxed, plain, repeats)
                results.append(report(f"sandbox {name}: parse+check+run vs run", measured, base, target))
                diff = statistics.median(m - b for m, b in zip(measured, base))
                print(f"  overhead (median of paired differences): {diff * 1000:.2f} ms")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    out = main(events=args.events, repeats=args.repeats)
    sys.exit(0 if all(r["pass"] for r in out) else 1)
