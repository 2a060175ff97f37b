-- Hourly levels of the (source, operation, model) groups analysed in this run over the level
-- shift window, one row per group with its hours in order: this run's buckets (_an_buckets)
-- and the stored ones it read for its windows (_an_hist, analytics_llm_history: the same rows
-- analytics_baselines holds once the run is committed), hours with at least {min_calls} calls.
-- An hour's latency level is its mean log latency at the group's mean answer size: the hour
-- mean less the within-hour least squares slope of the whole series (hour means removed)
-- times the hour's distance from the series' mean x = ln(1 + tokens_out); the cost level is
-- the same for log cost at the mean u = ln(1 + total tokens). The worker searches each series
-- for one change point.
SELECT
    key, source, operation, model,
    arrayMap(r -> toString(toDateTime64(r.1, 3, 'UTC')), points) AS hours,
    arrayMap(r -> r.2 - latency_slope * (r.3 - xbar), points) AS latency,
    arrayMap(r -> r.4 - cost_slope * (r.5 - ubar), points) AS cost
FROM (
    SELECT
        key, any(source) AS source, any(operation) AS operation, any(model) AS model,
        sum(sxx - sx * sx / n) AS x_den, sum(suu - su * su / n) AS u_den,
        if(x_den > 1e-9, sum(sxy - sx * sy / n) / x_den, 0) AS latency_slope,
        if(u_den > 1e-9, sum(suv - su * sv / n) / u_den, 0) AS cost_slope,
        sum(sx) / sum(n) AS xbar, sum(su) / sum(n) AS ubar,
        arraySort(groupArray((h, sy / n, sx / n, sv / n, su / n))) AS points
    FROM (
        SELECT key, source, operation, model, hour AS h, bucket_rows AS n, sx, sy, sxx, sxy, su, sv, suu, suv
        FROM _an_buckets
        UNION ALL
        SELECT key, source, operation, model, hour, bucket_rows, sx, sy, sxx, sxy, su, sv, suu, suv FROM _an_hist
    )
    WHERE h >= {lo:DateTime64(3)} AND h < {hi:DateTime64(3)} AND n >= {min_calls:UInt32}
    GROUP BY key
)
ORDER BY key
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
