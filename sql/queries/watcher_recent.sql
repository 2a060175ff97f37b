-- The latest watcher checks, newest first, for `muse watcher status`.
SELECT
    toString(w.run_id) AS run_id,
    toString(w.ts) AS ts,
    status,
    hearts_commit,
    packs_commit,
    hearts_rows_found,
    packs_rows_found,
    hearts_status,
    packs_status,
    hearts_lag_seconds,
    packs_lag_seconds,
    lag_seconds,
    message,
    alert_sent,
    paged
FROM watcher_runs AS w FINAL
ORDER BY w.ts DESC
LIMIT {limit:UInt32}
