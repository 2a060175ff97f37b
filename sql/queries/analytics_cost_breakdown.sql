-- Where the money went in one hour, by source and model (evidence for a cost anomaly).
SELECT source, model, count() AS events, sum(toFloat64(cost_usd)) AS cost
FROM llm_events FINAL
WHERE ts >= {hour:DateTime64(3)} AND ts < {hour:DateTime64(3)} + INTERVAL 1 HOUR
GROUP BY source, model
ORDER BY cost DESC
LIMIT 10
