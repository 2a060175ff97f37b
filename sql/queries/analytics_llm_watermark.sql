-- The newest source version (llm_events.ingested_at) already analysed; NULL before the first
-- run (or after migration 011, which makes the next run a full one). `outliers`: whether any
-- outlier row was ever stored (any version): without one, re-scored hours need no tombstones.
SELECT maxOrNull(max_ingested) AS watermark, count() AS buckets,
       (SELECT count() > 0 FROM analytics_outliers WHERE is_outlier = 1) AS outliers
FROM analytics_baselines
WHERE kind = 'llm'
