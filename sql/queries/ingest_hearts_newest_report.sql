-- The newest report ingested: ingest.lag_seconds{repo:banterhearts} on a run with nothing new.
SELECT toString(max(report_ts)) AS newest, count() AS n
FROM ingest_reports FINAL
WHERE status = 'ok' AND report_ts IS NOT NULL
