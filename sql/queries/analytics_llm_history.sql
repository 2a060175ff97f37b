-- The stored buckets of the groups being (re)computed that the run needs besides its own:
-- the trailing baseline window before the first new hour and the level-shift window, less
-- the hours being recomputed. Empty in a full run (every bucket is recomputed), so a full run
-- reads no stored baseline.
CREATE TEMPORARY TABLE _an_hist ENGINE = Memory AS
SELECT key, toDateTime(baseline_at, 'UTC') AS hour, source, operation, model, bucket_rows, digest, max_ingested,
       sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv
FROM analytics_baselines FINAL
WHERE {full:UInt8} = 0 AND kind = 'llm'
  AND baseline_at >= {hist_lo:DateTime64(3)} AND baseline_at < {hist_hi:DateTime64(3)}
  AND key IN (SELECT key FROM _an_buckets)
  AND (key, toDateTime(baseline_at, 'UTC')) NOT IN (SELECT key, hour FROM _an_buckets)
