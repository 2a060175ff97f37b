-- Digest: agent runs since a time by how they ended (status, exit code).
SELECT toString(status) AS status, exit_code, count() AS runs
FROM agent_runs FINAL
WHERE started >= {since:DateTime64(3, 'UTC')} AND status != 'running'
GROUP BY status, exit_code
ORDER BY status, exit_code
SETTINGS do_not_merge_across_partitions_select_final = 1
