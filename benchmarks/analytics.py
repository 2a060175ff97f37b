"""Analytics worker speed on generated llm_events (default 1,000,000 rows).

Measured in one process against one embedded store, interleaved with the baseline:

* full analysis (empty analytics tables) vs one aggregate scan of the same table,
  ``SELECT source, model, count(), avg(cost_usd), avg(latency_ms) FROM llm_events GROUP BY
  source, model`` (target ratio <= 5);
* an incremental re-run with no new rows vs the full analysis (target ratio <= 0.2);
* reading the z-scores of one hour of events through the ``run_analytics`` view, and through
  the documented query ``analytics_llm_zscores``, vs reading the same events' values from
  ``llm_events`` (FINAL, as both do) (target ratio <= 2);
* the store size (bytes on disk) of the analytics tables vs ``llm_events`` (target <= 0.1).

The events are generated with INSERT ... SELECT FROM numbers(): 30 days, three sources with
their own operations and models, log-normal-ish token counts, latency that grows with output
tokens, cost from per-model prices, and ingestion up to 10 minutes after each event.

Usage: python benchmarks/analytics.py [--rows 1000000] [--repeats 3] [--keep DIR] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import report  # noqa: E402

AGG = "SELECT source, model, count(), avg(cost_usd), avg(latency_ms) FROM llm_events GROUP BY source, model"

GENERATE = """
INSERT INTO llm_events (ts, event_id, run_id, source, commit_sha, model, operation, tokens_in, tokens_out,
                        latency_ms, cost_usd, status, ingested_at)
SELECT
    toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(intDiv(number * 2592000000, {n:UInt64})) AS ts,
    number AS event_id,
    reinterpretAsUUID(reverse(unhex(hex(cityHash64(intDiv(number, 40))) || hex(cityHash64(intDiv(number, 40), 7))))) AS run_id,
    ['banterhearts', 'banterpacks', 'banterpacks', 'council'][1 + number % 4] AS source,
    lower(hex(cityHash64(intDiv(number, 20000)))) || lower(hex(cityHash64(intDiv(number, 20000), 1))) || '00000000' AS commit_sha,
    multiIf(source = 'banterhearts', ['llama3-8b', 'qwen2-7b', 'mistral-7b'][1 + cityHash64(number, 1) % 3],
            source = 'banterpacks', ['gpt-4o-mini', 'claude-haiku'][1 + cityHash64(number, 1) % 2],
            ['gpt-4o', 'claude-sonnet'][1 + cityHash64(number, 1) % 2]) AS model,
    multiIf(source = 'banterhearts', 'generate',
            source = 'banterpacks', ['chat', 'summarize', 'classify'][1 + cityHash64(number, 2) % 3],
            ['draft', 'judge'][1 + cityHash64(number, 2) % 2]) AS operation,
    toUInt32(exp(multiIf(operation = 'summarize', 7.0, operation = 'classify', 5.0, operation = 'draft', 7.5, 6.0)
                 + 0.6 * (((cityHash64(number, 3) % 10000) / 10000.) + ((cityHash64(number, 4) % 10000) / 10000.) - 1))) AS tokens_in,
    toUInt32(exp(multiIf(operation = 'classify', 2.5, operation = 'judge', 4.0, 5.5)
                 + 0.5 * (((cityHash64(number, 5) % 10000) / 10000.) + ((cityHash64(number, 6) % 10000) / 10000.) - 1))) AS tokens_out,
    toUInt32(150 + tokens_out * 18 * (0.8 + (cityHash64(number, 7) % 4000) / 10000.)) AS latency_ms,
    toDecimal64((tokens_in * 0.0000005 + tokens_out * 0.0000015) * if(model IN ('gpt-4o', 'claude-sonnet'), 10, 1), 6) AS cost_usd,
    if(cityHash64(number, 8) % 200 = 0, 'error', 'ok') AS status,
    ts + toIntervalSecond(cityHash64(number, 9) % 600) AS ingested_at
FROM numbers({n:UInt64})
"""

# One pass over the rows grouped the way the worker's baselines are (source, operation, model
# and hour), with the sums a log-scale regression needs. Both floor passes run without LLVM JIT,
# like the worker's statements (a run sees each statement once; the JIT compiles an expression
# the third time a process sees it, so in a benchmark that repeats them it would cost one run
# a compilation and the others nothing).
BUCKET_PASS = """
SELECT source, operation, model, toStartOfHour(ts) AS hour, count(),
       sum(log(1 + tokens_out)), sum(log(latency_ms)), sum(log(1 + tokens_out) * log(latency_ms)),
       sum(log(1 + tokens_out) * log(1 + tokens_out)), sum(log(latency_ms) * log(latency_ms))
FROM llm_events GROUP BY source, operation, model, hour FORMAT Null
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
"""

SCORE_PASS = """
SELECT count() FROM llm_events AS e
INNER JOIN (SELECT key, baseline_at, latency_center AS lc, latency_slope AS lb, latency_curve AS lq, latency_scale AS ls,
                   cost_center AS cc, cost_slope AS cb, cost_scale AS cs FROM analytics_baselines WHERE kind = 'llm') AS b
    ON b.key = cityHash64(e.source, e.operation, e.model) AND b.baseline_at = toStartOfHour(e.ts)
WHERE greatest(abs((log(e.latency_ms) - lc - lb * log(1 + e.tokens_out) - lq * pow(log(1 + e.tokens_out), 2)) / ls),
               abs((log(toFloat64(e.cost_usd) + 1e-6) - cc - cb * log(1 + e.tokens_in + e.tokens_out)) / cs)) > 3
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
"""

TRUNCATE = ("TRUNCATE TABLE analytics_baselines", "TRUNCATE TABLE analytics_outliers", "TRUNCATE TABLE insights",
            "TRUNCATE TABLE agent_runs")
ANALYTICS_TABLES = ("analytics_baselines", "analytics_outliers", "insights")
HOUR_WHERE = "ts >= {lo:DateTime64(3)} AND ts < {hi:DateTime64(3)}"
# The z-scores of the hour's events through the view, and the values they are computed from
# read from llm_events (FINAL, as the view reads it).
VIEW_HOUR = ("SELECT source, row_key, ts, model, baseline_state, cost_z, latency_z, tokens_z FROM run_analytics "
             f"WHERE kind = 'llm' AND {HOUR_WHERE} FORMAT Null")
RAW_HOUR = ("SELECT source, event_id, ts, model, cost_usd, latency_ms, tokens_in, tokens_out FROM llm_events FINAL "
            f"WHERE {HOUR_WHERE} FORMAT Null")
# The floors of any z-on-read design, same hour: the events' z arithmetic against constant
# baselines (no lookup at all), and reading the hour's baselines from analytics_baselines (a
# second table any stored-baseline design reads).
FLOOR_Z = ("SELECT source, event_id, ts, model, "
           "toFloat32((log(toFloat64(cost_usd) + 1e-6) + 12.7 - 0.8 * log(1 + tokens_in + tokens_out)) / 0.08) AS cost_z, "
           "toFloat32((log(greatest(toFloat64(latency_ms), 1)) - 3.5 - 0.8 * log(1 + tokens_out) "
           "- 0.015 * pow(log(1 + tokens_out), 2)) / 0.11) AS latency_z, "
           "toFloat32((log(1 + tokens_in + tokens_out) - 6.5) / 0.17) AS tokens_z "
           f"FROM llm_events FINAL WHERE {HOUR_WHERE} FORMAT Null")
BASE_HOUR = ("SELECT key, baseline_at, n, min_n, cost_center, cost_slope, cost_scale, latency_center, latency_slope, "
             "latency_curve, latency_scale, tokens_center, tokens_scale FROM analytics_baselines FINAL "
             "WHERE kind = 'llm' AND baseline_at >= toStartOfHour({lo:DateTime64(3)}) AND baseline_at < {hi:DateTime64(3)} "
             "FORMAT Null")
# Every column of the view (ClickHouse's planning of its expressions dominates one hour).
VIEW_ALL = f"SELECT * FROM run_analytics WHERE kind = 'llm' AND {HOUR_WHERE} FORMAT Null"
RAW_ALL = f"SELECT * FROM llm_events FINAL WHERE {HOUR_WHERE} FORMAT Null"


def profile_full_run(store, settings, telemetry, scan_s: float) -> None:
    """One more full run with each statement's wall and CPU time (this process's CPU: chDB runs
    in it) printed as a multiple of the aggregate scan."""
    from muse.agents import analytics
    from muse.runs import run_agent
    from muse.store import EmbeddedStore

    log: list[tuple[str, float, float]] = []
    raw = EmbeddedStore._raw_query

    def timed(self, sql, params):
        t, c = time.perf_counter(), time.process_time()
        try:
            return raw(self, sql, params)
        finally:
            text = " ".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
            log.append((" ".join(text.split())[:90], time.perf_counter() - t, time.process_time() - c))

    for stmt in TRUNCATE:
        store.execute(stmt)
    EmbeddedStore._raw_query = timed
    t, c = time.perf_counter(), time.process_time()
    try:
        run_agent(settings, "analytics", analytics.run, store=store, telemetry=telemetry)
    finally:
        EmbeddedStore._raw_query = raw
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"profile of one full run ({len(log)} statements): wall {wall / scan_s:.1f}x, CPU {cpu:.3f}s; "
          "per statement (wall x the scan's median wall, CPU s):")
    for text, w, cp in log:
        print(f"  {w / scan_s:6.2f}x {cp:7.3f}s  {text}")
    print(f"  statements {sum(w for _, w, _ in log) / scan_s:.1f}x; the rest (Python) "
          f"{(wall - sum(w for _, w, _ in log)) / scan_s:.1f}x")


def main(rows: int = 1_000_000, repeats: int = 3, keep: str | None = None, profile: bool = False) -> list[dict]:
    from muse import migrations
    from muse.agents import analytics
    from muse.config import load_settings
    from muse.runs import run_agent
    from muse.store import open_store
    from muse.telemetry import Telemetry

    tmp = tempfile.TemporaryDirectory(prefix="muse-bench-analytics-")
    state = Path(keep) if keep else Path(tmp.name)
    settings = load_settings(env={"MUSE_STATE_DIR": str(state), "HOME": str(state)})
    telemetry = Telemetry(state_dir=None)
    results = []
    with open_store(settings) as store:
        migrations.migrate(store)
        for stmt in ("TRUNCATE TABLE llm_events",) + TRUNCATE:
            store.execute(stmt)
        t0 = time.perf_counter()
        store.execute(GENERATE, {"n": rows})
        store.execute("OPTIMIZE TABLE llm_events FINAL")
        print(f"generated {rows:,} llm_events in {time.perf_counter() - t0:.1f}s")

        # CPU seconds of this process (chDB runs in it) per measured statement, beside the wall
        # times: on a shared host the CPU ratios move much less than the wall ones.
        cpu: dict[str, list[float]] = {}

        def cpu_of(name: str, c0: float) -> None:
            cpu.setdefault(name, []).append(time.process_time() - c0)

        def scan() -> float:
            t, c = time.perf_counter(), time.process_time()
            store.query(AGG)
            cpu_of("scan", c)
            return time.perf_counter() - t

        def full() -> float:
            for stmt in TRUNCATE:
                store.execute(stmt)
            t, c = time.perf_counter(), time.process_time()
            out = run_agent(settings, "analytics", analytics.run, store=store, telemetry=telemetry)
            elapsed = time.perf_counter() - t
            cpu_of("full", c)
            assert out.status == "ok", out.result.message
            assert out.result.details["llm_rows"] == rows, out.result.details
            return elapsed

        def incremental() -> float:
            t = time.perf_counter()
            out = run_agent(settings, "analytics", analytics.run, store=store, telemetry=telemetry)
            elapsed = time.perf_counter() - t
            assert out.status == "ok" and out.result.details["llm_rows"] == 0, out.result.message
            return elapsed

        scan()  # warm caches
        scans, fulls, incs = [], [], []
        for _ in range(repeats):
            scans.append(scan())
            fulls.append(full())
            scans.append(scan())
            incs.append(incremental())
        scan_med = statistics.median(scans)
        # The floor of this design: one pass grouping the rows by (group, hour) with the sums
        # a baseline needs (the second pass, scoring to find the extreme calls, costs about
        # as much again).
        # ... and the second pass any design that materialises only the extreme calls needs:
        # every row joined to its bucket's baseline, scored, filtered. Interleaved with scans.
        passes, scores, floor_scans = [], [], []
        for _ in range(max(3, repeats)):
            floor_scans.append(scan())
            t, c = time.perf_counter(), time.process_time()
            store.query(BUCKET_PASS)
            passes.append(time.perf_counter() - t)
            cpu_of("bucket", c)
            t, c = time.perf_counter(), time.process_time()
            store.query(SCORE_PASS)
            scores.append(time.perf_counter() - t)
            cpu_of("score", c)
        bp, sp = statistics.median(passes), statistics.median(scores)
        scan_med = statistics.median(scans + floor_scans)
        print(f"floor: one (group, hour) bucket pass {bp:.3f}s = {bp / scan_med:.1f}x the scan; one scoring pass "
              f"{sp:.3f}s = {sp / scan_med:.1f}x; together {(bp + sp) / scan_med:.1f}x before any write, "
              f"insight or cost check (target 5x)")
        # Reading one hour (a busy one in the middle) through the view vs from llm_events.
        from datetime import datetime, timedelta, timezone
        lo = datetime(2026, 1, 16, 14, tzinfo=timezone.utc)
        hour = {"lo": lo, "hi": lo + timedelta(hours=1)}
        n_view = store.query("SELECT count() FROM run_analytics WHERE kind = 'llm' AND ts >= {lo:DateTime64(3)} "
                             "AND ts < {hi:DateTime64(3)}", hour).scalar()
        n_raw = store.query("SELECT count() FROM llm_events FINAL WHERE ts >= {lo:DateTime64(3)} "
                            "AND ts < {hi:DateTime64(3)}", hour).scalar()
        assert n_view == n_raw, (n_view, n_raw)
        views, raws = [], []
        for _ in range(max(5, repeats * 3)):
            t, c = time.perf_counter(), time.process_time()
            store.query(RAW_HOUR, hour)
            raws.append(time.perf_counter() - t)
            cpu_of("raw_hour", c)
            t, c = time.perf_counter(), time.process_time()
            store.query(VIEW_HOUR, hour)
            views.append(time.perf_counter() - t)
            cpu_of("view_hour", c)
        from muse.store import load_query

        documented = load_query("analytics_llm_zscores") + " FORMAT Null"
        docs_q, floor_z, base_h, raws2 = [], [], [], []
        for _ in range(max(5, repeats * 3)):
            t, c = time.perf_counter(), time.process_time()
            store.query(RAW_HOUR, hour)
            raws2.append(time.perf_counter() - t)
            cpu_of("raw_hour", c)
            t, c = time.perf_counter(), time.process_time()
            store.query(documented, hour)
            docs_q.append(time.perf_counter() - t)
            cpu_of("documented_hour", c)
            t, c = time.perf_counter(), time.process_time()
            store.query(FLOOR_Z, hour)
            floor_z.append(time.perf_counter() - t)
            cpu_of("floor_z", c)
            t, c = time.perf_counter(), time.process_time()
            store.query(BASE_HOUR, hour)
            base_h.append(time.perf_counter() - t)
            cpu_of("base_hour", c)
        raws += raws2
        fz, bh = statistics.median(floor_z), statistics.median(base_h)
        print(f"read floor: the hour's z arithmetic on constant baselines {fz / statistics.median(raws):.2f}x the raw "
              f"read; plus reading the hour's baselines {bh / statistics.median(raws):.2f}x: together "
              f"{(fz + bh) / statistics.median(raws):.2f}x for any design that stores baselines in a second table")
        alls, raw_alls, plans = [], [], []
        for _ in range(max(5, repeats * 3)):
            t = time.perf_counter()
            store.query(RAW_ALL, hour)
            raw_alls.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.query(VIEW_ALL, hour)
            alls.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.query("EXPLAIN " + VIEW_ALL.replace(" FORMAT Null", ""), hour)
            plans.append(time.perf_counter() - t)
        ra = statistics.median(raw_alls)
        print(f"one hour = {n_raw:,} events; every column of the view: {statistics.median(alls) / ra:.1f}x "
              f"SELECT * from llm_events, of which planning alone (EXPLAIN) {statistics.median(plans) / ra:.1f}x")
        med = {k: statistics.median(v) for k, v in cpu.items()}
        print(f"CPU time ratios (medians, same run): full analysis {med['full'] / med['scan']:.1f}x the scan; floor "
              f"(bucket + scoring pass) {(med['bucket'] + med['score']) / med['scan']:.1f}x; one hour's z-scores "
              f"through the view {med['view_hour'] / med['raw_hour']:.2f}x the raw read, through the documented "
              f"query {med['documented_hour'] / med['raw_hour']:.2f}x, read floor "
              f"{(med['floor_z'] + med['base_hour']) / med['raw_hour']:.2f}x")
        if profile:
            profile_full_run(store, settings, telemetry, statistics.median(scans))
        store.execute("OPTIMIZE TABLE analytics_baselines FINAL")
        store.execute("OPTIMIZE TABLE analytics_outliers FINAL")
        sizes = {r[0]: r[1] for r in store.query(
            "SELECT table, sum(bytes_on_disk) FROM system.parts WHERE active AND database = currentDatabase() "
            "GROUP BY table").rows}
        analytics_bytes = sum(sizes.get(t, 0) for t in ANALYTICS_TABLES)
        print(f"bytes on disk: llm_events {sizes.get('llm_events', 0):,}; " + ", ".join(
            f"{t} {sizes.get(t, 0):,}" for t in ANALYTICS_TABLES))
        outliers = store.query("SELECT count() FROM analytics_outliers FINAL WHERE is_outlier").scalar()
        buckets = store.query("SELECT count() FROM analytics_baselines FINAL").scalar()
        print(f"outlier rows: {outliers:,}; baseline buckets: {buckets:,}; "
              f"full runs {[round(x, 3) for x in fulls]}; scans {[round(x, 4) for x in scans]}; "
              f"incremental {[round(x, 4) for x in incs]}")
    results.append(report(f"full analysis of {rows:,} llm_events vs one aggregate scan", fulls, scans, 5.0))
    results.append(report("  floor: one (group, hour) bucket pass + one scoring pass vs the same scans",
                          [bp + sp], scans + floor_scans, 5.0))
    results.append(report("incremental re-run with no new rows vs full analysis", incs,
                          [statistics.median(fulls)] * len(incs), 0.2))
    results.append(report("z-scores of one hour through the run_analytics view vs the same events from llm_events",
                          views, raws, 2.0))
    results.append(report("z-scores of one hour through the documented query (sql/queries/analytics_llm_zscores.sql) "
                          "vs the same events from llm_events", docs_q, raws, 2.0))
    results.append(report("  floor: z arithmetic on constant baselines + reading the hour's baselines vs the same "
                          "events from llm_events", [fz + bh], raws, 2.0))
    results.append(report("analytics tables' bytes on disk vs llm_events", [float(analytics_bytes)],
                          [float(sizes.get("llm_events", 0))], 0.1, unit="B"))
    tmp.cleanup()
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", help="state dir to use and keep (default: a temporary one)")
    ap.add_argument("--profile", action="store_true", help="print each statement's time in one more full run")
    args = ap.parse_args()
    sys.exit(0 if all(r["pass"] for r in main(args.rows, args.repeats, args.keep, args.profile)) else 1)
