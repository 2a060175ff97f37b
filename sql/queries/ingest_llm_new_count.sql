-- Whether one ingest run added any LLM call (raw rows, no FINAL): when none, the run skips
-- the FINAL read of ingest_llm_new_totals (a third of a no-new-data re-run over 1M events).
SELECT count() AS n
FROM llm_events
WHERE source = {source:String}
  AND ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
  AND ingested_at = {ingested_at:DateTime64(3, 'UTC')}
