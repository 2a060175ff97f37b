-- What this run added, per commit: the metric ingest.banterpacks{commit_sha,status:ok}.
SELECT
    commit_sha,
    count() AS events,
    toString(max(ts)) AS newest
FROM ui_events
WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
  AND ingested_at = {ingested_at:DateTime64(3, 'UTC')}
GROUP BY commit_sha
ORDER BY commit_sha
