-- The watcher run a status file names (the council's gate checks it exists and is valid).
SELECT
    toString(w.run_id) AS run_id,
    toString(w.ts) AS ts,
    w.status AS status,
    w.hearts_commit AS hearts_commit,
    w.packs_commit AS packs_commit,
    w.message AS message
FROM watcher_runs AS w FINAL
WHERE w.run_id = {run_id:UUID}
LIMIT 1
