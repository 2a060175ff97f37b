-- Exact robust baselines for every bench_runs row of its own series (model, quant, dataset;
-- never pooled across models or quants): the series' runs at least one second older within
-- the trailing window, median as the center and 1.4826 x MAD (median absolute deviation) as
-- the scale, floored at floor_ratio x |center| and one unit of the metric.
CREATE TEMPORARY TABLE _an_bench_long ENGINE = Memory AS
SELECT
    row_key, key, ts, length(ca) AS n, commits, ca, la, ta,
    arrayReduce('quantileExactInclusive(0.5)', ca) AS cost_center,
    arrayReduce('quantileExactInclusive(0.5)', la) AS latency_center,
    arrayReduce('quantileExactInclusive(0.5)', ta) AS tokens_center,
    greatest(1.4826 * arrayReduce('quantileExactInclusive(0.5)', arrayMap(x -> abs(x - cost_center), ca)),
             {floor_ratio:Float64} * abs(cost_center), {floor_cost:Float64}) AS cost_scale,
    greatest(1.4826 * arrayReduce('quantileExactInclusive(0.5)', arrayMap(x -> abs(x - latency_center), la)),
             {floor_ratio:Float64} * abs(latency_center), {floor_latency:Float64}) AS latency_scale,
    greatest(1.4826 * arrayReduce('quantileExactInclusive(0.5)', arrayMap(x -> abs(x - tokens_center), ta)),
             {floor_ratio:Float64} * abs(tokens_center), {floor_tokens:Float64}) AS tokens_scale
FROM (
    SELECT row_key, key, ts,
        groupArray(cost) OVER w AS ca,
        groupArray(latency) OVER w AS la,
        groupArray(tput) OVER w AS ta,
        groupArray(commit_sha) OVER w AS commits
    FROM (
        SELECT
            CAST(cityHash64(run_id, model, quant, dataset) AS UInt64) AS row_key, ts,
            toStringCutToZero(commit_sha) AS commit_sha,
            toFloat64(cost_per_1k) AS cost, toFloat64(latency_p95_ms) AS latency, toFloat64(tokens_per_sec) AS tput,
            CAST(cityHash64('bench', model, quant, dataset) AS UInt64) AS key
        FROM bench_runs FINAL
    )
    WINDOW w AS (PARTITION BY key ORDER BY toUnixTimestamp(ts)
                 RANGE BETWEEN {win_s:UInt32} PRECEDING AND 1 PRECEDING)
)
