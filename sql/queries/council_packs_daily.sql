-- Council: daily banterpacks figures from the hourly rollup. Hourly averages are weighted
-- by the events (latency) and sessions (rates) behind them, so busy hours count more.
SELECT
    toString(toDate(hour)) AS day,
    sum(avg_latency_ms * total_events) / nullIf(sum(total_events), 0) AS user_latency_ms,
    sum(error_rate * total_sessions) / nullIf(sum(total_sessions), 0) AS error_rate,
    sum(abandonment_rate * total_sessions) / nullIf(sum(total_sessions), 0) AS abandonment_rate,
    sum(total_sessions) AS sessions,
    sum(total_events) AS events,
    uniqExact(hour) AS hours,
    arraySort(groupUniqArray(toString(hour))) AS hour_keys,
    arraySort(groupUniqArray(commit_sha)) AS commits
FROM session_stats FINAL
WHERE hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
GROUP BY day
ORDER BY day
