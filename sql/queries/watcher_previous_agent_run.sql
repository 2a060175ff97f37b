-- Status of the watcher's previous agent run (not this one): a crash pages through the
-- run lifecycle, and the next valid check resolves that page too.
SELECT argMax(status, started) AS status
FROM agent_runs FINAL
WHERE agent = 'watcher' AND run_id != {run_id:UUID}
HAVING count() > 0
