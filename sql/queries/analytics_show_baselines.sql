-- The baselines (every level) behind a set of records.
SELECT kind, level, key, toString(baseline_at) AS at, estimator, window_days, n,
       cost_center, cost_scale, latency_center, latency_scale, tokens_center, tokens_scale
FROM analytics_baselines FINAL
WHERE kind = {kind:String} AND key IN {keys:Array(UInt64)} AND baseline_at IN {ats:Array(DateTime64(3))}
