-- Winsorized sums for pass 2: each value is clipped to within clip_k standard deviations of
-- the pass-1 baseline of its own bucket, per level (when that baseline has min_n rows), so
-- a single extreme value enters later baselines as at most a clip_k-sigma value.
CREATE TEMPORARY TABLE _an_gclip ENGINE = Memory AS
SELECT
    genus_key, hour,
    sum(g_c) AS g_cs1, sum(g_c * g_c) AS g_cs2, sum(g_l) AS g_ls1, sum(g_l * g_l) AS g_ls2,
    sum(g_t) AS g_ts1, sum(g_t * g_t) AS g_ts2,
    sum(c_c) AS c_cs1, sum(c_c * c_c) AS c_cs2, sum(c_l) AS c_ls1, sum(c_l * c_l) AS c_ls2,
    sum(c_t) AS c_ts1, sum(c_t * c_t) AS c_ts2,
    sum(l_c) AS l_cs1, sum(l_c * l_c) AS l_cs2, sum(l_l) AS l_ls1, sum(l_l * l_l) AS l_ls2,
    sum(l_t) AS l_ts1, sum(l_t * l_t) AS l_ts2
FROM (
    SELECT
        r.genus_key AS genus_key, r.hour AS hour,
        {clip_k:Float64} AS k, {min_n:UInt32} AS min_n,
        if(p.g_n >= min_n, least(greatest(r.cost, p.g_cm - k * p.g_cs), p.g_cm + k * p.g_cs), r.cost) AS g_c,
        if(p.g_n >= min_n, least(greatest(r.latency, p.g_lm - k * p.g_ls), p.g_lm + k * p.g_ls), r.latency) AS g_l,
        if(p.g_n >= min_n, least(greatest(r.tokens, p.g_tm - k * p.g_ts), p.g_tm + k * p.g_ts), r.tokens) AS g_t,
        if(p.c_n >= min_n, least(greatest(r.cost, p.c_cm - k * p.c_cs), p.c_cm + k * p.c_cs), r.cost) AS c_c,
        if(p.c_n >= min_n, least(greatest(r.latency, p.c_lm - k * p.c_ls), p.c_lm + k * p.c_ls), r.latency) AS c_l,
        if(p.c_n >= min_n, least(greatest(r.tokens, p.c_tm - k * p.c_ts), p.c_tm + k * p.c_ts), r.tokens) AS c_t,
        if(p.l_n >= min_n, least(greatest(r.cost, p.l_cm - k * p.l_cs), p.l_cm + k * p.l_cs), r.cost) AS l_c,
        if(p.l_n >= min_n, least(greatest(r.latency, p.l_lm - k * p.l_ls), p.l_lm + k * p.l_ls), r.latency) AS l_l,
        if(p.l_n >= min_n, least(greatest(r.tokens, p.l_tm - k * p.l_ts), p.l_tm + k * p.l_ts), r.tokens) AS l_t
    FROM _an_rows AS r
    INNER JOIN _an_gb1 AS p ON p.genus_key = r.genus_key AND p.hour = r.hour
)
GROUP BY genus_key, hour
