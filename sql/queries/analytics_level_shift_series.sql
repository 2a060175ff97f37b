-- Hourly sums of the (source, operation, model) groups analysed in this run over the level
-- shift window, from the stored buckets: the worker turns them into hourly levels (mean log
-- latency at the group's mean answer size, mean log cost at its mean total tokens).
SELECT key, source, operation, model, toString(baseline_at) AS hour, bucket_rows AS n,
       sx, sy, sxx, sxy, su, sv, suu, suv
FROM analytics_baselines FINAL
WHERE kind = 'llm' AND baseline_at >= {lo:DateTime64(3)} AND baseline_at < {hi:DateTime64(3)}
  AND key IN (SELECT key FROM _an_buckets)
ORDER BY key, baseline_at
