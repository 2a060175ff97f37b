-- Pass 2: the baselines that score rows. Mean and standard deviation of the winsorized
-- values of the trailing window before each new bucket; the standard deviation is floored
-- at floor_ratio x |mean| and at one unit of the metric so that a flat series does not turn
-- rounding noise into huge z-scores. Each new bucket keeps its labels and sums for storage.
CREATE TEMPORARY TABLE _an_b2 ENGINE = Memory AS
SELECT
    level, key, hour, source, operation, model, category, bucket_rows,
    cs1, cs2, ls1, ls2, ts1, ts2, k_cs1, k_cs2, k_ls1, k_ls2, k_ts1, k_ts2, n,
    if(n > 0, w_cs1 / n, 0) AS cost_center,
    if(n > 0, w_ls1 / n, 0) AS latency_center,
    if(n > 0, w_ts1 / n, 0) AS tokens_center,
    greatest(if(n > 1, sqrt(greatest(0, (w_cs2 - w_cs1 * w_cs1 / n) / (n - 1))), 0),
             {floor_ratio:Float64} * abs(cost_center), {floor_cost:Float64}) AS cost_scale,
    greatest(if(n > 1, sqrt(greatest(0, (w_ls2 - w_ls1 * w_ls1 / n) / (n - 1))), 0),
             {floor_ratio:Float64} * abs(latency_center), {floor_latency:Float64}) AS latency_scale,
    greatest(if(n > 1, sqrt(greatest(0, (w_ts2 - w_ts1 * w_ts1 / n) / (n - 1))), 0),
             {floor_ratio:Float64} * abs(tokens_center), {floor_tokens:Float64}) AS tokens_scale
FROM (
    SELECT *,
        sum(bucket_rows) OVER w AS n,
        sum(k_cs1) OVER w AS w_cs1, sum(k_cs2) OVER w AS w_cs2,
        sum(k_ls1) OVER w AS w_ls1, sum(k_ls2) OVER w AS w_ls2,
        sum(k_ts1) OVER w AS w_ts1, sum(k_ts2) OVER w AS w_ts2
    FROM (
        SELECT 1 AS is_new, * FROM _an_bnew
        UNION ALL
        SELECT 0, level, key, toDateTime(baseline_at, 'UTC'), source, operation, model, input_category,
               bucket_rows, 0, 0, 0, 0, 0, 0,
               clip_cost_s1, clip_cost_s2, clip_latency_s1, clip_latency_s2, clip_tokens_s1, clip_tokens_s2
        FROM analytics_baselines FINAL
        WHERE {full:UInt8} = 0 AND kind = 'llm'
          AND baseline_at >= {hist_lo:DateTime64(3)} AND baseline_at < {hist_hi:DateTime64(3)}
          AND key IN (SELECT key FROM _an_bnew)
          AND (key, toDateTime(baseline_at, 'UTC')) NOT IN (SELECT key, hour FROM _an_bnew)
    )
    WINDOW w AS (PARTITION BY key ORDER BY toRelativeHourNum(hour)
                 RANGE BETWEEN {win_h:UInt32} PRECEDING AND 1 PRECEDING)
)
WHERE is_new = 1
