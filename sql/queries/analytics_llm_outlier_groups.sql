-- Per (source, operation, model, hour) and metric: how many of the bucket's calls scored
-- z > 3 (the slow or expensive side) against their baseline, out of how many scored. The
-- worker tests each count against the metric's false-alarm rate and keeps those that pass
-- Benjamini-Hochberg over every (bucket, metric) it scored; an incident hits many calls of
-- an hour, the tail of a skewed distribution a few.
SELECT
    x.source AS source, x.operation AS operation, x.model AS model, x.hour AS hour, t.bucket_rows AS rows,
    m.1 AS metric, m.2 AS extreme_rows, m.3 AS max_z, m.4 AS worst_value, m.5 AS worst_center,
    m.6 AS worst_event_id, toString(m.7) AS worst_run_id, arrayMap(r -> toString(r), m.8) AS run_ids
FROM (
    SELECT
        source, operation, model, hour, any(key) AS key,
        countIf(cost_z > 3) AS cost_x, countIf(latency_z > 3) AS latency_x,
        arrayJoin([
            ('cost', cost_x, max(cost_z), argMax(cost, cost_z), argMax(cost_expected, cost_z),
             argMax(event_id, cost_z), argMax(run_id, cost_z), groupUniqArrayIf(5)(run_id, cost_z > 3)),
            ('latency', latency_x, max(latency_z), argMax(latency_ms, latency_z), argMax(latency_expected, latency_z),
             argMax(event_id, latency_z), argMax(run_id, latency_z), groupUniqArrayIf(5)(run_id, latency_z > 3))
        ]) AS m
    FROM _an_out
    WHERE cost_z > 3 OR latency_z > 3
    GROUP BY source, operation, model, hour
) AS x
INNER JOIN _an_base AS t ON t.key = x.key AND t.hour = x.hour
WHERE m.2 > 0
ORDER BY hour, source, operation, model, metric
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
