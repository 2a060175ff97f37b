-- Plain sums of the hour buckets being (re)computed at all three levels, for pass 1.
CREATE TEMPORARY TABLE _an_braw ENGINE = Memory AS
SELECT genus_key AS key, hour, bucket_rows, cs1, cs2, ls1, ls2, ts1, ts2
FROM _an_graw
UNION ALL
SELECT cluster_key, hour, sum(bucket_rows), sum(cs1), sum(cs2), sum(ls1), sum(ls2), sum(ts1), sum(ts2)
FROM _an_graw
GROUP BY cluster_key, hour
UNION ALL
SELECT global_key, hour, sum(bucket_rows), sum(cs1), sum(cs2), sum(ls1), sum(ls2), sum(ts1), sum(ts2)
FROM _an_graw
GROUP BY global_key, hour
