-- Store the (re)computed buckets: the baseline they give their rows and their own sums, which
-- the next run's windows add up. Written last: a bucket stored is an hour analysed, so a run
-- that fails before this statement is redone by the next one (every earlier write is idempotent).
INSERT INTO analytics_baselines (
    kind, key, baseline_at, source, operation, model, quant, dataset, estimator, window_days, min_n, n,
    cost_center, cost_slope, cost_scale, latency_center, latency_slope, latency_curve, latency_scale, tokens_center,
    tokens_scale, bucket_rows, digest, max_ingested, sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv,
    analytics_run_id)
SELECT
    'llm', key, hour, source, operation, model, '', '', 'log_least_squares', {window_days:UInt16}, {min_n:UInt32}, n,
    cost_center, cost_slope, cost_scale, latency_center, latency_slope, latency_curve, latency_scale, tokens_center,
    tokens_scale, bucket_rows, digest, max_ingested, sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv,
    {run_id:UUID}
FROM _an_base
-- Keys are unique within this insert by construction; dedup-on-insert only costs time.
SETTINGS optimize_on_insert = 0
