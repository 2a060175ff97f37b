-- Digest: benchmark results per day (UTC) since a time: how many, p95 latency, throughput.
SELECT
    toString(toDate(ts)) AS day,
    count() AS results,
    uniqExact(commit_sha) AS commits,
    avg(latency_p95_ms) AS avg_p95_ms,
    max(latency_p95_ms) AS max_p95_ms,
    avg(tokens_per_sec) AS avg_tokens_per_sec
FROM bench_runs FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')}
GROUP BY day
ORDER BY day
