-- Council: daily median latency of banterpacks users' successful LLM calls for one model,
-- for the before/after chart around a commit.
SELECT toString(toDate(ts)) AS day, quantileExact(0.5)(toFloat64(latency_ms)) AS median_ms, count() AS calls
FROM llm_events FINAL
WHERE source = 'banterpacks' AND status = 'ok' AND model = {model:String}
  AND ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
GROUP BY day
ORDER BY day
