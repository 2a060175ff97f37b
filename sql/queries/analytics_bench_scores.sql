-- Every bench_runs row with its three baselines side by side and its z-scores against the
-- most specific one with at least min_n earlier rows. cost = cost_per_1k,
-- latency = latency_p95_ms, tokens = tokens_per_sec.
CREATE TEMPORARY TABLE _an_bench ENGINE = Memory AS
SELECT
    b.*, p.*,
    multiIf(p.g_n >= {min_n:UInt32}, 'genus', p.c_n >= {min_n:UInt32}, 'cluster',
            p.l_n >= {min_n:UInt32}, 'global', '') AS lvl,
    multiIf(lvl = 'genus', p.g_n, lvl = 'cluster', p.c_n, p.l_n) AS n,
    multiIf(lvl = 'genus', p.g_cc, lvl = 'cluster', p.c_cc, lvl = 'global', p.l_cc, 0) AS cc,
    multiIf(lvl = 'genus', p.g_cs, lvl = 'cluster', p.c_cs, lvl = 'global', p.l_cs, 0) AS cs,
    multiIf(lvl = 'genus', p.g_lc, lvl = 'cluster', p.c_lc, lvl = 'global', p.l_lc, 0) AS lc,
    multiIf(lvl = 'genus', p.g_ls, lvl = 'cluster', p.c_ls, lvl = 'global', p.l_ls, 0) AS ls,
    multiIf(lvl = 'genus', p.g_tc, lvl = 'cluster', p.c_tc, lvl = 'global', p.l_tc, 0) AS tc,
    multiIf(lvl = 'genus', p.g_ts, lvl = 'cluster', p.c_ts, lvl = 'global', p.l_ts, 0) AS tsc,
    if(lvl = '', NULL, toFloat32((b.cost - cc) / cs)) AS cost_z,
    if(lvl = '', NULL, toFloat32((b.latency - lc) / ls)) AS latency_z,
    if(lvl = '', NULL, toFloat32((b.tput - tc) / tsc)) AS tokens_z
FROM (
    SELECT
        CAST(cityHash64(run_id, model, quant, dataset) AS UInt64) AS row_key, ts, run_id, toStringCutToZero(commit_sha) AS commit_sha,
        model, quant, dataset, ingested_at,
        toFloat64(cost_per_1k) AS cost, toFloat64(latency_p95_ms) AS latency, toFloat64(tokens_per_sec) AS tput,
        CAST(cityHash64('bench-global', dataset) AS UInt64) AS global_key,
        CAST(cityHash64('bench-cluster', dataset, model) AS UInt64) AS cluster_key,
        CAST(cityHash64('bench-genus', model, quant, dataset) AS UInt64) AS genus_key,
        {full:UInt8} = 1 OR (row_key, ingested_at) NOT IN (
            SELECT row_key, source_ingested_at FROM run_analytics WHERE kind = 'bench') AS is_cand
    FROM bench_runs FINAL
) AS b
INNER JOIN (
    SELECT row_key,
        anyIf(n, level = 'genus') AS g_n, anyIf(commits, level = 'genus') AS g_commits,
        anyIf(cost_center, level = 'genus') AS g_cc, anyIf(cost_scale, level = 'genus') AS g_cs,
        anyIf(latency_center, level = 'genus') AS g_lc, anyIf(latency_scale, level = 'genus') AS g_ls,
        anyIf(tokens_center, level = 'genus') AS g_tc, anyIf(tokens_scale, level = 'genus') AS g_ts,
        anyIf(n, level = 'cluster') AS c_n,
        anyIf(cost_center, level = 'cluster') AS c_cc, anyIf(cost_scale, level = 'cluster') AS c_cs,
        anyIf(latency_center, level = 'cluster') AS c_lc, anyIf(latency_scale, level = 'cluster') AS c_ls,
        anyIf(tokens_center, level = 'cluster') AS c_tc, anyIf(tokens_scale, level = 'cluster') AS c_ts,
        anyIf(n, level = 'global') AS l_n,
        anyIf(cost_center, level = 'global') AS l_cc, anyIf(cost_scale, level = 'global') AS l_cs,
        anyIf(latency_center, level = 'global') AS l_lc, anyIf(latency_scale, level = 'global') AS l_ls,
        anyIf(tokens_center, level = 'global') AS l_tc, anyIf(tokens_scale, level = 'global') AS l_ts
    FROM _an_bench_long
    GROUP BY row_key
) AS p ON p.row_key = b.row_key
