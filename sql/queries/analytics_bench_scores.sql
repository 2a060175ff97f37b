-- Every bench_runs row with its series baseline and z-scores (NULL below min_n earlier runs).
-- cost = cost_per_1k, latency = latency_p95_ms, tokens = tokens_per_sec. is_cand: the row has
-- no stored baseline at its current version yet.
CREATE TEMPORARY TABLE _an_bench ENGINE = Memory AS
SELECT
    b.*, p.n AS n, p.commits AS commits, p.ca AS ca, p.la AS la, p.ta AS ta,
    p.cost_center AS cc, p.cost_scale AS cs, p.latency_center AS lc, p.latency_scale AS ls,
    p.tokens_center AS tc, p.tokens_scale AS tsc,
    if(p.n >= {min_n:UInt32}, 'series', '') AS lvl,
    if(lvl = '', NULL, toFloat32((b.cost - cc) / cs)) AS cost_z,
    if(lvl = '', NULL, toFloat32((b.latency - lc) / ls)) AS latency_z,
    if(lvl = '', NULL, toFloat32((b.tput - tc) / tsc)) AS tokens_z
FROM (
    SELECT
        CAST(cityHash64(run_id, model, quant, dataset) AS UInt64) AS row_key, ts, run_id,
        toStringCutToZero(commit_sha) AS commit_sha, model, quant, dataset, ingested_at,
        toFloat64(cost_per_1k) AS cost, toFloat64(latency_p95_ms) AS latency, toFloat64(tokens_per_sec) AS tput,
        CAST(cityHash64('bench', model, quant, dataset) AS UInt64) AS key,
        {full:UInt8} = 1 OR (key, ts, row_key, ingested_at) NOT IN (
            SELECT key, baseline_at, digest, max_ingested FROM analytics_baselines WHERE kind = 'bench') AS is_cand
    FROM bench_runs FINAL
) AS b
INNER JOIN _an_bench_long AS p ON p.row_key = b.row_key
