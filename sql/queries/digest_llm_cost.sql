-- Digest: LLM calls, tokens and cost by source and model since a time.
SELECT
    toString(source) AS source,
    toString(model) AS model,
    count() AS calls,
    sum(tokens_in) AS tokens_in,
    sum(tokens_out) AS tokens_out,
    toFloat64(sum(cost_usd)) AS cost_usd
FROM llm_events FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')}
GROUP BY source, model
ORDER BY cost_usd DESC, source, model
