-- Digest: the watcher's latest check, whenever it was.
SELECT
    toString(ts) AS at,
    toString(status) AS status,
    lag_seconds,
    message
FROM watcher_runs FINAL
ORDER BY ts DESC
LIMIT 1
