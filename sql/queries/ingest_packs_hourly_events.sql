-- Events per hour (all commits), from the rollup, for gap detection and its baseline.
SELECT
    hour,
    sum(total_events) AS events
FROM session_stats FINAL
WHERE hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
GROUP BY hour
ORDER BY hour
