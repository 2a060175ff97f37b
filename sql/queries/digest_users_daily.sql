-- Digest: user figures per day (UTC) from the hourly rollup. Hours are combined by weight,
-- not by a plain average of averages: latency by the hour's events, error rate by its sessions.
SELECT
    toString(toDate(hour)) AS day,
    sum(total_sessions) AS sessions,
    sum(total_events) AS events,
    if(sum(total_events) > 0, sum(avg_latency_ms * total_events) / sum(total_events), NULL) AS avg_latency_ms,
    if(sum(total_sessions) > 0, sum(error_rate * total_sessions) / sum(total_sessions), NULL) AS error_rate
FROM session_stats FINAL
WHERE hour >= {since:DateTime64(3, 'UTC')}
GROUP BY day
ORDER BY day
