-- Council: daily banterhearts figures over the episode window.
SELECT
    toString(toDate(ts)) AS day,
    avg(latency_p95_ms) AS avg_p95_ms,
    avg(toFloat64(cost_per_1k)) AS avg_cost_per_1k,
    avg(tokens_per_sec) AS avg_tokens_per_sec,
    count() AS result_rows,
    arraySort(groupUniqArray(toString(run_id))) AS run_ids,
    arraySort(groupUniqArray(commit_sha)) AS commits
FROM bench_runs FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
GROUP BY day
ORDER BY day
