-- Failed watcher checks since the last valid one (valid_pending checks neither count nor
-- reset the streak), and how many of them paged: decides paging and its resolve.
WITH (SELECT maxOrNull(ts) FROM watcher_runs FINAL WHERE status = 'valid') AS last_valid
SELECT
    toString(last_valid) AS last_valid_ts,
    countIf(status IN ('lag_exceeded', 'missing_packs', 'missing_hearts')) AS failures,
    countIf(paged) AS pages
FROM watcher_runs FINAL
WHERE last_valid IS NULL OR ts > last_valid
