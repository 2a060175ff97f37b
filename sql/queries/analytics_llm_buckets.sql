-- The (source, operation, model, hour) buckets being (re)computed (every hour with `full`),
-- with the sums their baselines need, on the log scale: x = ln(1 + tokens_out),
-- y = ln(latency_ms) (at least 1 ms), u = ln(1 + tokens_in + tokens_out), v = ln(cost_usd + 1e-6);
-- `cost` (USD) is the bucket's spend, which the cost anomaly check adds up per hour.
CREATE TEMPORARY TABLE _an_buckets ENGINE = Memory AS
SELECT
    cityHash64(source, operation, model) AS key, hour, source, operation, model,
    count() AS bucket_rows, sum(cityHash64(event_id, ingested_at)) AS digest, max(ingested_at) AS max_ingested,
    sum(toFloat64(cost_usd)) AS cost,
    sum(x) AS sx, sum(y) AS sy, sum(x * x) AS sxx, sum(x * y) AS sxy, sum(y * y) AS syy,
    sum(x * x * x) AS sx3, sum(x * x * x * x) AS sx4, sum(x * x * y) AS sxxy,
    sum(u) AS su, sum(v) AS sv, sum(u * u) AS suu, sum(u * v) AS suv, sum(v * v) AS svv
FROM (
    SELECT source, operation, model, event_id, ingested_at, cost_usd, toDateTime(toStartOfHour(ts), 'UTC') AS hour,
           log(1 + tokens_out) AS x, log(greatest(toFloat64(latency_ms), 1)) AS y,
           log(1 + tokens_in + tokens_out) AS u, log(toFloat64(cost_usd) + 1e-6) AS v
    FROM llm_events FINAL
    WHERE {full:UInt8} = 1 OR toStartOfHour(ts) IN (SELECT hour FROM _an_hours)
)
GROUP BY source, operation, model, hour
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
