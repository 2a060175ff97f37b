-- Events of one banterpacks commit in ui_events, deduplicated (FINAL), for `muse watcher check`.
-- ui_events is sorted by (commit_sha, ts, event_id): this reads one primary-key range per
-- part. The lower bound on ts (the commit time minus a margin for client clocks) prunes the
-- partitions and parts from before the commit, so old months are not even opened.
SELECT
    count() AS rows,
    maxOrNull(ts) AS newest
FROM ui_events FINAL
WHERE commit_sha = {sha:FixedString(40)} AND ts >= {since:DateTime64(3, 'UTC')}
