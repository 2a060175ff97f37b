-- Store the (re)computed hour buckets: the baseline they give their rows, and their own
-- plain and winsorized sums, which the next run's windows add up.
INSERT INTO analytics_baselines (
    kind, level, key, baseline_at, source, operation, model, input_category, quant, dataset,
    estimator, window_days, n, cost_center, cost_scale, latency_center, latency_scale,
    tokens_center, tokens_scale, bucket_rows,
    raw_cost_s1, raw_cost_s2, raw_latency_s1, raw_latency_s2, raw_tokens_s1, raw_tokens_s2,
    clip_cost_s1, clip_cost_s2, clip_latency_s1, clip_latency_s2, clip_tokens_s1, clip_tokens_s2,
    analytics_run_id)
SELECT
    'llm', level, key, hour, source, operation, model, category, '', '',
    'winsorized_moments', {window_days:UInt16}, n, cost_center, cost_scale,
    latency_center, latency_scale, tokens_center, tokens_scale, bucket_rows,
    cs1, cs2, ls1, ls2, ts1, ts2, k_cs1, k_cs2, k_ls1, k_ls2, k_ts1, k_ts2,
    {run_id:UUID}
FROM _an_b2
-- Keys are unique within this insert by construction; dedup-on-insert only costs time.
SETTINGS optimize_on_insert = 0
