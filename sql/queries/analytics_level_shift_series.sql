-- Hourly sums of the (source, operation, model) groups analysed in this run over the level
-- shift window: this run's buckets (_an_buckets) and the stored ones it read for its windows
-- (_an_hist, analytics_llm_history: the same rows analytics_baselines holds once the run is
-- committed). The worker turns them into hourly levels (mean log latency at the group's mean
-- answer size, mean log cost at its mean total tokens).
SELECT key, source, operation, model, toString(toDateTime64(h, 3, 'UTC')) AS hour, bucket_rows AS n,
       sx, sy, sxx, sxy, su, sv, suu, suv
FROM (
    SELECT key, source, operation, model, hour AS h, bucket_rows, sx, sy, sxx, sxy, su, sv, suu, suv FROM _an_buckets
    UNION ALL
    SELECT key, source, operation, model, hour, bucket_rows, sx, sy, sxx, sxy, su, sv, suu, suv FROM _an_hist
)
WHERE h >= {lo:DateTime64(3)} AND h < {hi:DateTime64(3)}
ORDER BY key, h
