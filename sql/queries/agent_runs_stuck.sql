-- Runs still `running` that started before a bound (the caller filters per agent by its
-- timeout): killed with SIGKILL, or the machine went down. The last week is enough.
SELECT toString(agent) AS agent, toString(run_id) AS run_id, toString(started) AS started_at
FROM agent_runs FINAL
WHERE status = 'running'
  AND started < {before:DateTime64(3, 'UTC')}
  AND started >= {before:DateTime64(3, 'UTC')} - INTERVAL 7 DAY
ORDER BY started
SETTINGS do_not_merge_across_partitions_select_final = 1
