-- Hours in which one (source, operation, model) had at least min_rows extreme rows (z > 3,
-- the expensive or slow side) on cost or on latency, making up at least min_share of its
-- calls that hour: an incident hits many calls, the tail of a skewed distribution a few.
-- Only extreme rows are aggregated; the hour's row count comes from the bucket sums.
SELECT
    x.source AS source, x.operation AS operation, x.model AS model, x.hour AS hour, t.rows AS rows,
    m.1 AS metric, m.2 AS extreme_rows, m.3 AS max_z, m.4 AS worst_value, m.5 AS worst_center,
    m.6 AS worst_event_id, toString(m.7) AS worst_run_id, arrayMap(r -> toString(r), m.8) AS run_ids
FROM (
    SELECT
        source, operation, model, hour,
        countIf(cost_z > 3) AS cost_x, countIf(latency_z > 3) AS latency_x,
        arrayJoin([
            ('cost', cost_x, max(cost_z), argMax(cost, cost_z), argMax(cc, cost_z), argMax(event_id, cost_z),
             argMax(run_id, cost_z), groupUniqArrayIf(5)(run_id, cost_z > 3)),
            ('latency', latency_x, max(latency_z), argMax(latency, latency_z), argMax(lc, latency_z),
             argMax(event_id, latency_z), argMax(run_id, latency_z), groupUniqArrayIf(5)(run_id, latency_z > 3))
        ]) AS m
    FROM _an_scored
    WHERE cost_z > 3 OR latency_z > 3
    GROUP BY source, operation, model, hour
    HAVING greatest(cost_x, latency_x) >= {min_rows:UInt32}
) AS x
INNER JOIN (
    SELECT source, operation, model, hour, sum(bucket_rows) AS rows
    FROM _an_graw
    GROUP BY source, operation, model, hour
) AS t ON t.source = x.source AND t.operation = x.operation AND t.model = x.model AND t.hour = x.hour
WHERE m.2 >= {min_rows:UInt32} AND m.2 >= {min_share:Float64} * t.rows
ORDER BY hour, source, operation, model, metric
