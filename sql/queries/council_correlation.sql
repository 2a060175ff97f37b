-- Council: one row per full UTC day with both a benchmark mean p95 (over that day's results)
-- and an event-weighted user latency (hourly rollup); the council computes r, its Fisher z
-- interval and a permutation p-value from these rows. Callers pass full-day bounds.
WITH
    hearts AS (
        SELECT toDate(ts) AS day, avg(latency_p95_ms) AS bench_p95_ms, count() AS results
        FROM bench_runs FINAL
        WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
        GROUP BY day
    ),
    packs AS (
        SELECT toDate(hour) AS day,
               sum(avg_latency_ms * total_events) / nullIf(sum(total_events), 0) AS user_latency_ms,
               sum(total_events) AS events
        FROM session_stats FINAL
        WHERE hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
        GROUP BY day
    )
SELECT toString(h.day) AS day, h.bench_p95_ms AS bench_p95_ms, toFloat64(p.user_latency_ms) AS user_latency_ms,
       h.results AS results, p.events AS events
FROM hearts AS h
INNER JOIN packs AS p ON h.day = p.day
WHERE p.user_latency_ms IS NOT NULL
ORDER BY day
