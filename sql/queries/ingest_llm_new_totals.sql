-- LLM calls one ingest run added, per (model, operation): the llm.* metrics (FINAL: a
-- repeated input line must not count twice before a merge).
SELECT
    model,
    operation,
    count() AS calls,
    sum(tokens_in) AS tokens_in,
    sum(tokens_out) AS tokens_out,
    toFloat64(sum(cost_usd)) AS cost_usd,
    quantileExact(0.95)(latency_ms) AS latency_p95_ms
FROM llm_events FINAL
WHERE source = {source:String}
  AND ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
  AND ingested_at = {ingested_at:DateTime64(3, 'UTC')}
GROUP BY model, operation
ORDER BY model, operation
