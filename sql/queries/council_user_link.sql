-- Council: banterpacks users' LLM call latencies per (model, operation), before and after a
-- change point, over equal spans [before_since, at) and [at, after_until). Successful calls
-- only (an error's latency measures the failure, not the model). Sorted, so a seeded
-- bootstrap over them is reproducible.
SELECT
    model, operation,
    if(ts < {at:DateTime64(3, 'UTC')}, 'before', 'after') AS side,
    count() AS calls,
    arraySort(groupArray(toFloat64(latency_ms))) AS latencies
FROM llm_events FINAL
WHERE source = 'banterpacks' AND status = 'ok'
  AND ts >= {before_since:DateTime64(3, 'UTC')} AND ts < {after_until:DateTime64(3, 'UTC')}
GROUP BY model, operation, side
ORDER BY model, operation, side
