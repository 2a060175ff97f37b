-- Digest: the watcher's latest check, whenever it was.
-- max(ts) without FINAL is the latest check's ts (FINAL only drops older versions of a run),
-- and a check's ts never changes, so FINAL may merge per partition: one partition is read.
SELECT
    toString(ts) AS at,
    toString(status) AS status,
    lag_seconds,
    message
FROM watcher_runs FINAL
WHERE ts = (SELECT max(ts) FROM watcher_runs)
ORDER BY ts DESC
LIMIT 1
SETTINGS do_not_merge_across_partitions_select_final = 1
