-- Council: every benchmark result per (model, quant, dataset) from a lookback before the
-- window to its end, oldest first; the council splits each series at its change point.
SELECT
    model, quant, dataset,
    toString(ts) AS run_ts,
    toFloat64(latency_p95_ms) AS p95_ms,
    toFloat64(tokens_per_sec) AS tokens_per_sec,
    toString(run_id) AS run_id,
    commit_sha
FROM bench_runs FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
ORDER BY model, quant, dataset, run_ts, run_id
