-- Ingestion gaps recorded by the ingest worker (one row per hour and kind).
SELECT toString(hour) AS hour, kind, events, baseline, toString(detected_at) AS detected_at,
       toString(run_id) AS run_id
FROM ingest_gaps FINAL
ORDER BY hour, kind
