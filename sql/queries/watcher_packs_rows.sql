-- Events of one banterpacks commit in ui_events, deduplicated (FINAL), for `muse watcher check`.
-- ui_events is sorted by (commit_sha, ts, event_id): this reads one primary-key range,
-- whatever the size of the table.
SELECT
    count() AS rows,
    toString(maxOrNull(ts)) AS newest,
    toString(minOrNull(ingested_at)) AS first_ingested
FROM ui_events FINAL
WHERE commit_sha = {sha:FixedString(40)}
