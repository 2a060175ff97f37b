-- Narrator: what the council's LLM calls have spent since a time (the start of today, UTC),
-- for the daily budget.
SELECT
    count() AS calls,
    sum(tokens_in) + sum(tokens_out) AS tokens,
    sum(toFloat64(cost_usd)) AS cost_usd
FROM llm_events FINAL
WHERE source = {source:String} AND ts >= {since:DateTime64(3, 'UTC')}
