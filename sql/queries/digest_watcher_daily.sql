-- Digest: watcher checks per day (UTC) and status.
SELECT
    toString(toDate(ts)) AS day,
    toString(status) AS status,
    count() AS checks
FROM watcher_runs FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')}
GROUP BY day, status
ORDER BY day, status
