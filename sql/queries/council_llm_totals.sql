-- Council: LLM tokens and cost in the window, by source and model.
SELECT
    source, model,
    count() AS calls,
    sum(tokens_in) + sum(tokens_out) AS tokens,
    sum(toFloat64(cost_usd)) AS cost_usd
FROM llm_events FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
GROUP BY source, model
ORDER BY cost_usd DESC
