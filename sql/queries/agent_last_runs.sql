-- The latest run of each agent, for `muse health` and `muse digest`.
SELECT
    agent,
    argMax(r.status, r.started) AS last_status,
    toString(max(r.started)) AS last_started,
    toString(argMax(r.finished, r.started)) AS last_finished,
    argMax(r.message, r.started) AS last_message,
    argMax(r.rows_written, r.started) AS last_rows_written,
    countIf(r.status = 'failed' AND r.started >= now64(3) - INTERVAL 1 DAY) AS failures_24h
FROM agent_runs AS r FINAL
GROUP BY agent
ORDER BY agent
