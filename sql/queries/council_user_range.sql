-- Council: the span banterpacks LLM calls cover, to clip the before/after spans to the data.
SELECT toString(min(ts)) AS oldest, toString(max(ts)) AS newest, count() AS calls
FROM llm_events FINAL
WHERE source = 'banterpacks' AND ts < {until:DateTime64(3, 'UTC')}
