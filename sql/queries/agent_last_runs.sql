-- The latest run of each agent, for `muse health` and `muse digest`, with the last day's
-- runs that did not do their work: failed (exit 1), skipped for an overlap (exit 4), store
-- unavailable (exit 5), interrupted (exit 130/143).
SELECT
    agent,
    argMax(r.status, r.started) AS last_status,
    toString(max(r.started)) AS last_started,
    toString(argMax(r.finished, r.started)) AS last_finished,
    argMax(r.message, r.started) AS last_message,
    argMax(r.rows_written, r.started) AS last_rows_written,
    argMax(r.exit_code, r.started) AS last_exit_code,
    countIf(r.status = 'failed' AND r.started >= now64(3) - INTERVAL 1 DAY) AS failures_24h,
    countIf(r.status = 'skipped' AND r.started >= now64(3) - INTERVAL 1 DAY) AS skipped_24h,
    countIf(r.status = 'unavailable' AND r.started >= now64(3) - INTERVAL 1 DAY) AS unavailable_24h,
    countIf(r.status = 'interrupted' AND r.started >= now64(3) - INTERVAL 1 DAY) AS interrupted_24h
FROM agent_runs AS r FINAL
GROUP BY agent
ORDER BY agent
