-- A full run's _an_hist (analytics_llm_history): empty, as every bucket is recomputed, with the
-- columns the windows and the level-shift series read; made without reading any table.
CREATE TEMPORARY TABLE _an_hist ENGINE = Memory AS
SELECT key, hour, source, operation, model, bucket_rows, digest, max_ingested,
       sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv
FROM _an_buckets
WHERE 0
