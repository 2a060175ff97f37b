-- Digest: LLM cost per day (UTC) since a time, for the sparkline.
SELECT
    toString(toDate(ts)) AS day,
    count() AS calls,
    toFloat64(sum(cost_usd)) AS cost_usd
FROM llm_events FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')}
GROUP BY day
ORDER BY day
