-- The buckets being (re)computed at all three levels, each with its labels, its rows'
-- plain sums and the winsorized sums of its own level.
CREATE TEMPORARY TABLE _an_bnew ENGINE = Memory AS
SELECT 'genus' AS level, b.genus_key AS key, b.hour AS hour, b.source AS source, b.operation AS operation,
       b.model AS model, b.category AS category, b.bucket_rows AS bucket_rows,
       b.cs1 AS cs1, b.cs2 AS cs2, b.ls1 AS ls1, b.ls2 AS ls2, b.ts1 AS ts1, b.ts2 AS ts2,
       c.g_cs1 AS k_cs1, c.g_cs2 AS k_cs2, c.g_ls1 AS k_ls1, c.g_ls2 AS k_ls2, c.g_ts1 AS k_ts1, c.g_ts2 AS k_ts2
FROM _an_graw AS b
INNER JOIN _an_gclip AS c ON c.genus_key = b.genus_key AND c.hour = b.hour
UNION ALL
SELECT 'cluster', b.cluster_key, b.hour, any(b.source), any(b.operation), any(b.model), any(b.category),
       sum(b.bucket_rows), sum(b.cs1), sum(b.cs2), sum(b.ls1), sum(b.ls2), sum(b.ts1), sum(b.ts2),
       sum(c.c_cs1), sum(c.c_cs2), sum(c.c_ls1), sum(c.c_ls2), sum(c.c_ts1), sum(c.c_ts2)
FROM _an_graw AS b
INNER JOIN _an_gclip AS c ON c.genus_key = b.genus_key AND c.hour = b.hour
GROUP BY b.cluster_key, b.hour
UNION ALL
SELECT 'global', b.global_key, b.hour, any(b.source), any(b.operation), '', '',
       sum(b.bucket_rows), sum(b.cs1), sum(b.cs2), sum(b.ls1), sum(b.ls2), sum(b.ts1), sum(b.ts2),
       sum(c.l_cs1), sum(c.l_cs2), sum(c.l_ls1), sum(c.l_ls2), sum(c.l_ts1), sum(c.l_ts2)
FROM _an_graw AS b
INNER JOIN _an_gclip AS c ON c.genus_key = b.genus_key AND c.hour = b.hour
GROUP BY b.global_key, b.hour
