-- What this run added, per commit and day: the metric ingest.banterpacks{commit_sha,status:ok}
-- and the per-item row counts. uniqExact(event_id), not count(): the load does not merge equal
-- keys at insert (optimize_on_insert = 0), so a repeated input line is two raw rows until a
-- merge; event_id hashes the whole key, and it costs a tenth of a FINAL read (measured).
SELECT
    commit_sha,
    toString(toDate(ts)) AS day,
    uniqExact(event_id) AS events
FROM ui_events
WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
  AND ingested_at = {ingested_at:DateTime64(3, 'UTC')}
GROUP BY commit_sha, day
ORDER BY commit_sha, day
