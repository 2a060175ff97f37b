-- Plain sums (x, x^2) of each genus group per hour; cluster and global sums add these up.
CREATE TEMPORARY TABLE _an_graw ENGINE = Memory AS
SELECT
    genus_key, hour,
    any(cluster_key) AS cluster_key, any(global_key) AS global_key,
    any(source) AS source, any(operation) AS operation, any(model) AS model, any(category) AS category,
    count() AS bucket_rows,
    sum(cost) AS cs1, sum(cost * cost) AS cs2,
    sum(latency) AS ls1, sum(latency * latency) AS ls2,
    sum(tokens) AS ts1, sum(tokens * tokens) AS ts2
FROM _an_rows
GROUP BY genus_key, hour
