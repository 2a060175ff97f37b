-- Failed watcher checks after a given time, and the latest of them (a later failure
-- closes the gate even if its status file was somehow left behind).
SELECT
    count() AS failures,
    toString(argMax(w.run_id, w.ts)) AS run_id,
    toString(max(w.ts)) AS ts,
    argMax(w.status, w.ts) AS status
FROM watcher_runs AS w FINAL
WHERE w.ts > {after:DateTime64(3, 'UTC')} AND w.status IN ('lag_exceeded', 'missing_packs', 'missing_hearts')
