-- Digest: watcher checks per day (UTC) and status.
-- A check's ts never changes: FINAL may merge per partition and skip the other months.
SELECT
    toString(toDate(ts)) AS day,
    toString(status) AS status,
    count() AS checks
FROM watcher_runs FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')}
GROUP BY day, status
ORDER BY day, status
SETTINGS do_not_merge_across_partitions_select_final = 1
