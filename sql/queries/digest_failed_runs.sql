-- Digest: agent runs that did not do their work since a time, newest first: failed,
-- store unavailable (exit 5) and interrupted (exit 130/143). Skipped runs (exit 4) are
-- counted separately (digest_run_exits): an overlap is by design, not a failure.
-- A run's started never changes: FINAL may merge per partition and skip the other months.
SELECT
    toString(agent) AS agent,
    toString(run_id) AS run_id,
    toString(started) AS started_at,
    toString(status) AS status,
    exit_code,
    message,
    error
FROM agent_runs FINAL
WHERE status IN ('failed', 'unavailable', 'interrupted') AND started >= {since:DateTime64(3, 'UTC')}
ORDER BY started DESC
LIMIT 50
SETTINGS do_not_merge_across_partitions_select_final = 1
