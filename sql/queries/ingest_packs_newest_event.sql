-- The newest stored UI event at or after a bound: ingest.lag_seconds{repo:banterpacks}.
SELECT max(ts) AS newest, count() AS n
FROM ui_events
WHERE ts >= {since:DateTime64(3, 'UTC')}
