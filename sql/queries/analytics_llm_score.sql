-- Score every row of the hours being analysed against the most specific baseline (genus,
-- then cluster, then global) that has at least min_n earlier rows. None has: the explicit
-- state insufficient_baseline and NULL z-scores, never a silent "normal".
CREATE TEMPORARY TABLE _an_scored ENGINE = Memory AS
SELECT
    source, event_id, ts, run_id, commit_sha, model, operation, category, complexity,
    cost, latency, tokens, tokens_in, tokens_out, is_error, global_key, cluster_key, genus_key,
    hour, ingested_at, is_cand, lvl, n,
    if(lvl = '', NULL, toFloat32((cost - cc) / cs)) AS cost_z,
    if(lvl = '', NULL, toFloat32((latency - lc) / ls)) AS latency_z,
    if(lvl = '', NULL, toFloat32((tokens - tc) / tsc)) AS tokens_z,
    cc, lc
FROM (
    SELECT
        r.source AS source, r.event_id AS event_id, r.ts AS ts, r.run_id AS run_id, r.commit_sha AS commit_sha,
        r.model AS model, r.operation AS operation, r.category AS category, r.complexity AS complexity,
        r.cost AS cost, r.latency AS latency, r.tokens AS tokens, r.tokens_in AS tokens_in,
        r.tokens_out AS tokens_out, r.is_error AS is_error, r.global_key AS global_key,
        r.cluster_key AS cluster_key, r.genus_key AS genus_key, r.hour AS hour,
        r.ingested_at AS ingested_at, r.is_cand AS is_cand,
        multiIf(p.g_n >= {min_n:UInt32}, 'genus', p.c_n >= {min_n:UInt32}, 'cluster',
                p.l_n >= {min_n:UInt32}, 'global', '') AS lvl,
        multiIf(lvl = 'genus', p.g_n, lvl = 'cluster', p.c_n, p.l_n) AS n,
        multiIf(lvl = 'genus', p.g_cc, lvl = 'cluster', p.c_cc, lvl = 'global', p.l_cc, 0) AS cc,
        multiIf(lvl = 'genus', p.g_cs, lvl = 'cluster', p.c_cs, lvl = 'global', p.l_cs, 0) AS cs,
        multiIf(lvl = 'genus', p.g_lc, lvl = 'cluster', p.c_lc, lvl = 'global', p.l_lc, 0) AS lc,
        multiIf(lvl = 'genus', p.g_ls, lvl = 'cluster', p.c_ls, lvl = 'global', p.l_ls, 0) AS ls,
        multiIf(lvl = 'genus', p.g_tc, lvl = 'cluster', p.c_tc, lvl = 'global', p.l_tc, 0) AS tc,
        multiIf(lvl = 'genus', p.g_ts, lvl = 'cluster', p.c_ts, lvl = 'global', p.l_ts, 0) AS tsc
    FROM _an_rows AS r
    INNER JOIN _an_gb2 AS p ON p.genus_key = r.genus_key AND p.hour = r.hour
)
