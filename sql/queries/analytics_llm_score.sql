-- Score the rows of the buckets being (re)computed against their bucket's baseline (the same
-- arithmetic as the run_analytics view) and keep the extreme ones: |z| > {extreme_z:Float64}
-- on any metric, with a baseline of at least min_n rows. Everything else is never written.
CREATE TEMPORARY TABLE _an_out ENGINE = Memory AS
SELECT *
FROM (
    SELECT
        e.hour AS hour, e.source AS source, e.ts AS ts, e.event_id AS event_id, e.operation AS operation,
        e.model AS model, e.run_id AS run_id, b.key AS key, e.latency AS latency_ms, e.cost AS cost,
        e.tokens_in AS tokens_in, e.tokens_out AS tokens_out,
        exp(b.latency_center + b.latency_slope * e.x) AS latency_expected,
        exp(b.cost_center + b.cost_slope * e.u) - 1e-6 AS cost_expected,
        toFloat32((e.y - b.latency_center - b.latency_slope * e.x) / b.latency_scale) AS latency_z,
        toFloat32((e.v - b.cost_center - b.cost_slope * e.u) / b.cost_scale) AS cost_z,
        toFloat32((e.u - b.tokens_center) / b.tokens_scale) AS tokens_z
    FROM (
        SELECT source, ts, event_id, operation, model, run_id, tokens_in, tokens_out,
               toDateTime(toStartOfHour(ts), 'UTC') AS hour, cityHash64(source, operation, model) AS key,
               toFloat64(latency_ms) AS latency, toFloat64(cost_usd) AS cost,
               log(1 + tokens_out) AS x, log(greatest(toFloat64(latency_ms), 1)) AS y,
               log(1 + tokens_in + tokens_out) AS u, log(toFloat64(cost_usd) + 1e-6) AS v
        FROM llm_events FINAL
        WHERE {full:UInt8} = 1 OR toStartOfHour(ts) IN (SELECT hour FROM _an_hours)
    ) AS e
    INNER JOIN (SELECT * FROM _an_base WHERE n >= {min_n:UInt32}) AS b ON b.key = e.key AND b.hour = e.hour
)
WHERE greatest(abs(latency_z), abs(cost_z), abs(tokens_z)) > {extreme_z:Float64}
