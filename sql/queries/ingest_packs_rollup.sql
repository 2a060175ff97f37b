-- Hourly rollup per (hour, commit_sha) from the exact event set (FINAL), for every hour of
-- the window; session_stats is a replacing table, so a re-run replaces the hour's rows.
-- Definitions (docs/readme-ingest.md): a session counts in an hour when it has an event in
-- that hour for that commit.
--   total_sessions   distinct session_id
--   total_events     events
--   avg/p95 latency  over query_submit events (submit -> answer shown); p95 is the exact
--                    nearest-rank 95th percentile; 0 when the hour has no query_submit
--   error_rate       sessions with >= 1 error event / total_sessions
--   abandonment_rate sessions with an overlay_open and no query_submit / total_sessions
INSERT INTO session_stats (hour, commit_sha, total_sessions, total_events, avg_latency_ms, p95_latency_ms,
                           error_rate, abandonment_rate, schema_version, computed_at)
SELECT
    hour,
    commit_sha,
    count() AS total_sessions,
    sum(events) AS total_events,
    ifNotFinite(sumArray(latencies) / sum(length(latencies)), 0) AS avg_latency_ms,
    if(sum(length(latencies)) = 0, 0, quantileExactArray(0.95)(latencies)) AS p95_latency_ms,
    countIf(errors > 0) / count() AS error_rate,
    countIf(opened AND NOT submitted) / count() AS abandonment_rate,
    1,
    {computed_at:DateTime64(3, 'UTC')}
FROM
(
    SELECT
        toStartOfHour(ts) AS hour,
        commit_sha,
        session_id,
        count() AS events,
        groupArrayIf(latency_ms, event_type = 'query_submit') AS latencies,
        countIf(event_type = 'error') AS errors,
        countIf(event_type = 'overlay_open') > 0 AS opened,
        countIf(event_type = 'query_submit') > 0 AS submitted
    FROM ui_events FINAL
    WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
    GROUP BY hour, commit_sha, session_id
)
GROUP BY hour, commit_sha
