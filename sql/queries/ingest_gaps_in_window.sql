-- Gaps already recorded for the hours of a window.
SELECT
    hour,
    kind,
    events,
    baseline
FROM ingest_gaps FINAL
WHERE hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
ORDER BY hour, kind
