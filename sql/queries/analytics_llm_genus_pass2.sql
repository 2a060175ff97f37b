-- Pass-2 baselines of all three levels side by side for each genus bucket.
CREATE TEMPORARY TABLE _an_gb2 ENGINE = Memory AS
SELECT
    b.genus_key AS genus_key, b.hour AS hour,
    g.n AS g_n, g.cost_center AS g_cc, g.cost_scale AS g_cs, g.latency_center AS g_lc, g.latency_scale AS g_ls,
    g.tokens_center AS g_tc, g.tokens_scale AS g_ts,
    c.n AS c_n, c.cost_center AS c_cc, c.cost_scale AS c_cs, c.latency_center AS c_lc, c.latency_scale AS c_ls,
    c.tokens_center AS c_tc, c.tokens_scale AS c_ts,
    l.n AS l_n, l.cost_center AS l_cc, l.cost_scale AS l_cs, l.latency_center AS l_lc, l.latency_scale AS l_ls,
    l.tokens_center AS l_tc, l.tokens_scale AS l_ts
FROM _an_graw AS b
LEFT JOIN _an_b2 AS g ON g.key = b.genus_key AND g.hour = b.hour
LEFT JOIN _an_b2 AS c ON c.key = b.cluster_key AND c.hour = b.hour
LEFT JOIN _an_b2 AS l ON l.key = b.global_key AND l.hour = b.hour
