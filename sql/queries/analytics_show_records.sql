-- The analysed rows of one data run (an llm_events or bench_runs run_id, or its prefix).
SELECT
    kind, source, row_key, toString(ts) AS ts, toString(run_id) AS run_id, toString(commit_sha) AS commit_sha,
    model, operation, quant, dataset, input_category, input_complexity, input_fingerprint,
    cost, latency_ms, tokens, tokens_in, tokens_out, is_error,
    global_key, cluster_key, genus_key, toString(baseline_at) AS baseline_at,
    baseline_level, baseline_state, baseline_n, cost_z, latency_z, tokens_z,
    is_cost_outlier, is_latency_outlier, is_tokens_outlier, is_extreme,
    cost_per_message, cost_per_token, tokens_per_message, tokens_per_sec,
    hour_of_day, day_of_week, is_weekend,
    toString(analysed_at) AS analysed_at, toString(analytics_run_id) AS analytics_run_id
FROM run_analytics
WHERE startsWith(toString(run_id), {run_id:String})
ORDER BY ts, kind, row_key
LIMIT {limit:UInt32}
