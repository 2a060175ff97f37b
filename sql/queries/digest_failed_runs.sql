-- Digest: agent runs that failed since a time, newest first.
-- A run's started never changes: FINAL may merge per partition and skip the other months.
SELECT
    toString(agent) AS agent,
    toString(run_id) AS run_id,
    toString(started) AS started_at,
    message,
    error
FROM agent_runs FINAL
WHERE status = 'failed' AND started >= {since:DateTime64(3, 'UTC')}
ORDER BY started DESC
LIMIT 50
SETTINGS do_not_merge_across_partitions_select_final = 1
