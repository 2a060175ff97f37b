-- Score the rows of the buckets being (re)computed against their bucket's baseline (the same
-- arithmetic as the run_analytics view) and keep the extreme ones: |z| > {extreme_z:Float64}
-- on any metric, with a baseline of at least min_n rows. Everything else is never written;
-- the expected values are computed for the kept rows only.
-- The join key `jkey` hashes the group's three names one by one (each a LowCardinality
-- column: hashed once per distinct value), not as cityHash64(source, operation, model), which
-- hashes the three strings of every row; `key` (the stored group key) comes from the baseline.
-- analytics_llm_run_stats checks that jkey tells the run's groups apart as key does.
CREATE TEMPORARY TABLE _an_out ENGINE = Memory AS
SELECT
    hour, source, ts, event_id, operation, model, run_id, key, latency_ms, cost, tokens_in, tokens_out,
    exp(lc + lb * log(1 + tokens_out) + lq * pow(log(1 + tokens_out), 2)) AS latency_expected,
    exp(cc + cb * log(1 + tokens_in + tokens_out)) - 1e-6 AS cost_expected,
    toFloat32(zl) AS latency_z, toFloat32(zc) AS cost_z, toFloat32(zt) AS tokens_z
FROM (
    SELECT
        e.hour AS hour, e.source AS source, e.ts AS ts, e.event_id AS event_id, e.operation AS operation,
        e.model AS model, e.run_id AS run_id, b.key AS key, toFloat64(e.latency_ms) AS latency_ms,
        toFloat64(e.cost_usd) AS cost, e.tokens_in AS tokens_in, e.tokens_out AS tokens_out,
        b.latency_center AS lc, b.latency_slope AS lb, b.latency_curve AS lq, b.cost_center AS cc, b.cost_slope AS cb,
        log(1 + e.tokens_in + e.tokens_out) AS u,
        log(1 + e.tokens_out) AS x,
        (log(greatest(toFloat64(e.latency_ms), 1)) - lc - lb * x - lq * x * x) / b.latency_scale AS zl,
        (log(toFloat64(e.cost_usd) + 1e-6) - cc - cb * u) / b.cost_scale AS zc,
        (u - b.tokens_center) / b.tokens_scale AS zt
    FROM (
        SELECT source, ts, event_id, operation, model, run_id, tokens_in, tokens_out, latency_ms, cost_usd,
               toDateTime(toStartOfHour(ts), 'UTC') AS hour,
               bitXor(bitXor(cityHash64(source), cityHash64(operation) * 3), cityHash64(model) * 7) AS jkey
        FROM llm_events FINAL
        WHERE {full:UInt8} = 1 OR toStartOfHour(ts) IN (SELECT hour FROM _an_hours)
    ) AS e
    INNER JOIN (
        SELECT key, bitXor(bitXor(cityHash64(source), cityHash64(operation) * 3), cityHash64(model) * 7) AS jkey, hour,
               latency_center, latency_slope, latency_curve, latency_scale, cost_center, cost_slope, cost_scale,
               tokens_center, tokens_scale
        FROM _an_base WHERE n >= {min_n:UInt32}
    ) AS b ON b.jkey = e.jkey AND b.hour = e.hour
    WHERE greatest(abs(zl), abs(zc), abs(zt)) > {extreme_z:Float64}
)
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
