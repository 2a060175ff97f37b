-- The newest source version (llm_events.ingested_at) already analysed; NULL before the first
-- run (or after migration 011, which makes the next run a full one).
SELECT maxOrNull(max_ingested) AS watermark, count() AS buckets
FROM analytics_baselines
WHERE kind = 'llm'
