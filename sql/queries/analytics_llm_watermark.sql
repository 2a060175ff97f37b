-- The newest source version (llm_events.ingested_at) already analysed; NULL before the first run.
SELECT maxOrNull(source_ingested_at) AS watermark, count() AS analysed
FROM run_analytics
WHERE kind = 'llm'
