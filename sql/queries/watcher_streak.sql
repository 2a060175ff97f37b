-- Failed watcher checks since the last valid one (valid_pending checks neither count nor
-- reset the streak), how many of them paged, and the status of the watcher's previous
-- agent run other than {run_id} (a crashed run pages through the run lifecycle with the
-- same dedup key). Decides paging and its resolve in one round trip.
WITH
    (SELECT maxOrNull(ts) FROM watcher_runs FINAL WHERE status = 'valid') AS last_valid,
    (
        SELECT argMax(status, started)
        FROM agent_runs FINAL
        WHERE agent = 'watcher' AND run_id != {run_id:UUID}
    ) AS previous_status
SELECT
    last_valid AS last_valid_ts,
    countIf(status IN ('lag_exceeded', 'missing_packs', 'missing_hearts')) AS failures,
    countIf(paged) AS pages,
    previous_status AS previous_agent_status
FROM watcher_runs FINAL
WHERE last_valid IS NULL OR ts > last_valid
