-- Council: correlation of daily benchmark p95 latency with daily user latency, computed as
-- its own aggregate over the joined days (the source design selected h.day beside corr(),
-- which ClickHouse rejects with Code 215).
WITH
    hearts AS (
        SELECT toDate(ts) AS day, avg(latency_p95_ms) AS avg_p95_ms
        FROM bench_runs FINAL
        WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
        GROUP BY day
    ),
    packs AS (
        SELECT toDate(hour) AS day,
               sum(avg_latency_ms * total_events) / nullIf(sum(total_events), 0) AS user_latency_ms
        FROM session_stats FINAL
        WHERE hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
        GROUP BY day
    )
SELECT
    corr(h.avg_p95_ms, toFloat64(p.user_latency_ms)) AS r,
    count() AS n,
    arraySort(groupArray(toString(h.day))) AS days
FROM hearts AS h
INNER JOIN packs AS p ON h.day = p.day
WHERE p.user_latency_ms IS NOT NULL
