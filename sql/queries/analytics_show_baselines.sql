-- The baselines (one per group and hour for llm, per run for bench) behind a set of records.
SELECT kind, key, toString(baseline_at) AS at, estimator, window_days, min_n, n,
       cost_center, cost_slope, cost_scale, latency_center, latency_slope, latency_curve, latency_scale, tokens_center, tokens_scale
FROM analytics_baselines FINAL
WHERE kind = {kind:String} AND key IN {keys:Array(UInt64)} AND baseline_at IN {ats:Array(DateTime64(3))}
