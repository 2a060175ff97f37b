-- Pass 1: plain mean and standard deviation of the trailing window before each new bucket
-- (the group's hours in [hour - window, hour)), from the new buckets' sums and the stored
-- sums of earlier buckets. Only used to winsorize values for pass 2. Sum windows are
-- incremental in ClickHouse: one pass over the buckets sorted by key and hour.
CREATE TEMPORARY TABLE _an_b1 ENGINE = Memory AS
SELECT
    key, hour, n,
    if(n > 0, cs1 / n, 0) AS cost_mean,
    if(n > 0, ls1 / n, 0) AS latency_mean,
    if(n > 0, ts1 / n, 0) AS tokens_mean,
    greatest(if(n > 1, sqrt(greatest(0, (cs2 - cs1 * cs1 / n) / (n - 1))), 0),
             {floor_ratio:Float64} * abs(cost_mean), {floor_cost:Float64}) AS cost_scale,
    greatest(if(n > 1, sqrt(greatest(0, (ls2 - ls1 * ls1 / n) / (n - 1))), 0),
             {floor_ratio:Float64} * abs(latency_mean), {floor_latency:Float64}) AS latency_scale,
    greatest(if(n > 1, sqrt(greatest(0, (ts2 - ts1 * ts1 / n) / (n - 1))), 0),
             {floor_ratio:Float64} * abs(tokens_mean), {floor_tokens:Float64}) AS tokens_scale
FROM (
    SELECT key, hour, is_new,
        sum(bucket_rows) OVER w AS n,
        sum(s_cs1) OVER w AS cs1, sum(s_cs2) OVER w AS cs2,
        sum(s_ls1) OVER w AS ls1, sum(s_ls2) OVER w AS ls2,
        sum(s_ts1) OVER w AS ts1, sum(s_ts2) OVER w AS ts2
    FROM (
        SELECT key, hour, 1 AS is_new, bucket_rows,
               cs1 AS s_cs1, cs2 AS s_cs2, ls1 AS s_ls1, ls2 AS s_ls2, ts1 AS s_ts1, ts2 AS s_ts2
        FROM _an_braw
        UNION ALL
        SELECT key, toDateTime(baseline_at, 'UTC') AS hour, 0 AS is_new, bucket_rows,
               raw_cost_s1, raw_cost_s2, raw_latency_s1, raw_latency_s2, raw_tokens_s1, raw_tokens_s2
        FROM analytics_baselines FINAL
        WHERE {full:UInt8} = 0 AND kind = 'llm'
          AND baseline_at >= {hist_lo:DateTime64(3)} AND baseline_at < {hist_hi:DateTime64(3)}
          AND key IN (SELECT key FROM _an_braw)
          AND (key, toDateTime(baseline_at, 'UTC')) NOT IN (SELECT key, hour FROM _an_braw)
    )
    WINDOW w AS (PARTITION BY key ORDER BY toRelativeHourNum(hour)
                 RANGE BETWEEN {win_h:UInt32} PRECEDING AND 1 PRECEDING)
)
WHERE is_new = 1
