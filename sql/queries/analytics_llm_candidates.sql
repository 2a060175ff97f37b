-- llm_events rows to analyse: the latest version of every row ingested after {lo} (the
-- watermark less an overlap, for inserts that committed late) that has no record at that
-- version yet. Grouping by the row key instead of FINAL reads only the recent rows.
CREATE TEMPORARY TABLE _an_cand ENGINE = Memory AS
SELECT source, ts, event_id, max(ingested_at) AS version
FROM llm_events
WHERE ingested_at > {lo:DateTime64(3)}
GROUP BY source, ts, event_id
HAVING (source, ts, event_id, version) NOT IN (
    SELECT source, ts, row_key, source_ingested_at
    FROM run_analytics
    WHERE kind = 'llm' AND source_ingested_at > {lo:DateTime64(3)}
)
