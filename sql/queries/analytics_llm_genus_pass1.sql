-- The pass-1 parameters of the three levels of each genus bucket side by side, so that rows need one join (on their genus bucket) instead of three.
CREATE TEMPORARY TABLE _an_gb1 ENGINE = Memory AS
SELECT
    b.genus_key AS genus_key, b.hour AS hour,
    g.n AS g_n, g.cost_mean AS g_cm, g.cost_scale AS g_cs, g.latency_mean AS g_lm, g.latency_scale AS g_ls,
    g.tokens_mean AS g_tm, g.tokens_scale AS g_ts,
    c.n AS c_n, c.cost_mean AS c_cm, c.cost_scale AS c_cs, c.latency_mean AS c_lm, c.latency_scale AS c_ls,
    c.tokens_mean AS c_tm, c.tokens_scale AS c_ts,
    l.n AS l_n, l.cost_mean AS l_cm, l.cost_scale AS l_cs, l.latency_mean AS l_lm, l.latency_scale AS l_ls,
    l.tokens_mean AS l_tm, l.tokens_scale AS l_ts
FROM _an_graw AS b
LEFT JOIN _an_b1 AS g ON g.key = b.genus_key AND g.hour = b.hour
LEFT JOIN _an_b1 AS c ON c.key = b.cluster_key AND c.hour = b.hour
LEFT JOIN _an_b1 AS l ON l.key = b.global_key AND l.hour = b.hour
