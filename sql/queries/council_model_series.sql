-- Council: each (model, quant, dataset) series in the window, first vs latest result.
SELECT
    model, quant, dataset,
    count() AS results,
    argMin(latency_p95_ms, ts) AS first_p95_ms,
    argMax(latency_p95_ms, ts) AS last_p95_ms,
    argMin(tokens_per_sec, ts) AS first_tokens_per_sec,
    argMax(tokens_per_sec, ts) AS last_tokens_per_sec,
    argMax(toFloat64(cost_per_1k), ts) AS last_cost_per_1k,
    toString(argMin(run_id, ts)) AS first_run_id,
    toString(argMax(run_id, ts)) AS last_run_id,
    argMax(commit_sha, ts) AS last_commit
FROM bench_runs FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
GROUP BY model, quant, dataset
ORDER BY model, quant, dataset
