-- Digest: benchmark results per day (UTC) since a time: how many, p95 latency, throughput.
-- A report's rows keep their ts, so every version of a row sits in one partition: FINAL may
-- merge per partition, which lets the ts filter skip the other months (10x on a year of data).
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
SETTINGS do_not_merge_across_partitions_select_final = 1
