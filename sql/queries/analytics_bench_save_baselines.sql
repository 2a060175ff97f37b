-- The series baseline of each new bench row; written after the regression insights, as the
-- stored baseline is what marks a row analysed (digest = its row key, max_ingested = its version).
INSERT INTO analytics_baselines (
    kind, key, baseline_at, source, operation, model, quant, dataset, estimator, window_days, min_n, n,
    cost_center, cost_slope, cost_scale, latency_center, latency_slope, latency_scale, tokens_center, tokens_scale,
    bucket_rows, digest, max_ingested, analytics_run_id)
SELECT
    'bench', key, ts, 'banterhearts', '', model, quant, dataset, 'median_mad', {window_days:UInt16}, {min_n:UInt32}, n,
    ifNotFinite(cc, 0), 0, cs, ifNotFinite(lc, 0), 0, ls, ifNotFinite(tc, 0), tsc,
    1, row_key, ingested_at, {run_id:UUID}
FROM _an_bench
WHERE is_cand
SETTINGS optimize_on_insert = 0
