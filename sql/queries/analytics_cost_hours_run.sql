-- The run's form of analytics_cost_hours (same result): the hours being analysed take their
-- cost and event count from this run's buckets (_an_buckets, complete hours), so a full run
-- does not read llm_events a third time; only the earlier hours of the baseline are read.
-- analytics_cost_hours is the standalone form an insight's evidence names.
-- Hourly LLM cost of the hours being checked against its baseline: the median cost of the
-- same hour of day on each of the `days` earlier days that have any LLM events (a day with
-- events but none in that hour counts as 0; a day without any is skipped, as muse was not
-- collecting then; nor does an hour before the first LLM event ever stored, so the first,
-- partial day of data is no string of zeros). The hours are zero-filled so an idle hour
-- counts as 0. `typical` is the median cost of every hour of those days: the scale a
-- spike's excess is measured on.
SELECT hour, cost, events, base_days, baseline, typical, arraySlice(base_costs, 1, 10) AS base_costs
FROM (
    SELECT
        hour, cost, events,
        groupArray(if(collecting, cost, NULL)) OVER w AS base_costs,
        length(base_costs) AS base_days,
        if(base_days > 0, arrayReduce('quantileExactInclusive(0.5)', base_costs), 0) AS baseline,
        groupArray(if(collecting, cost, NULL)) OVER w_all AS all_costs,
        if(length(all_costs) > 0, arrayReduce('quantileExactInclusive(0.5)', all_costs), 0) AS typical
    FROM (
        SELECT hour, cost, events,
               max(events > 0) OVER (PARTITION BY toDate(hour))
                   AND hour >= toDateTime(toStartOfHour((SELECT min(ts) FROM llm_events)), 'UTC') AS collecting
        FROM (
            SELECT hour, sum(cost) AS cost, toUInt64(sum(events)) AS events
            FROM (
                -- the hours this run analysed: their buckets already hold the spend
                SELECT hour, cost, bucket_rows AS events
                FROM _an_buckets
                WHERE hour >= {from:DateTime64(3)} AND hour < {to:DateTime64(3)}
                UNION ALL
                -- the earlier hours of the baseline (none in a full run: every hour is a bucket)
                SELECT toDateTime(toStartOfHour(ts), 'UTC'), toFloat64(cost_usd), 1
                FROM llm_events FINAL
                WHERE {full:UInt8} = 0 AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)}
                  AND toDateTime(toStartOfHour(ts), 'UTC') NOT IN (SELECT hour FROM _an_buckets)
            )
            GROUP BY hour
            ORDER BY hour WITH FILL FROM toDateTime({from:DateTime64(3)}, 'UTC') TO toDateTime({to:DateTime64(3)}, 'UTC')
                STEP INTERVAL 1 HOUR
        )
    )
    WINDOW w AS (PARTITION BY toHour(hour) ORDER BY toUnixTimestamp(hour)
                 RANGE BETWEEN {days_s:UInt32} PRECEDING AND 1 PRECEDING),
           w_all AS (ORDER BY toUnixTimestamp(hour) RANGE BETWEEN {days_s:UInt32} PRECEDING AND 1 PRECEDING)
)
WHERE hour IN {hours:Array(DateTime)}
ORDER BY hour
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
