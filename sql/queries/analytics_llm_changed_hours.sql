-- The hours to (re)analyse incrementally: those of rows ingested after {lo} (the watermark
-- less an overlap, for inserts that committed late) whose (source, operation, model) bucket
-- differs from the stored one: a new bucket, another row count, or another digest (the sum
-- of hashes of (event_id, ingested_at) of its latest row versions, so a re-ingested row with
-- a new version changes it). Only the touched hours are read with FINAL.
CREATE TEMPORARY TABLE _an_hours ENGINE = Memory AS
SELECT DISTINCT c.hour AS hour
FROM (
    SELECT cityHash64(source, operation, model) AS key, toDateTime(toStartOfHour(ts), 'UTC') AS hour,
           count() AS rows, sum(cityHash64(event_id, ingested_at)) AS digest
    FROM llm_events FINAL
    WHERE toStartOfHour(ts) IN (
        SELECT DISTINCT toStartOfHour(ts) FROM llm_events WHERE ingested_at > {lo:DateTime64(3)})
    GROUP BY key, hour
) AS c
LEFT JOIN (
    SELECT key, toDateTime(baseline_at, 'UTC') AS hour, bucket_rows, digest
    FROM analytics_baselines FINAL
    WHERE kind = 'llm' AND baseline_at IN (
        SELECT DISTINCT toStartOfHour(ts) FROM llm_events WHERE ingested_at > {lo:DateTime64(3)})
) AS s ON s.key = c.key AND s.hour = c.hour
WHERE s.bucket_rows != c.rows OR s.digest != c.digest
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
