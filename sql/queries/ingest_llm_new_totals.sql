-- LLM calls one ingest run added, per (model, operation, hour): the llm.* metrics, stamped
-- with their hour (FINAL: a repeated input line must not count twice before a merge).
SELECT
    model,
    operation,
    toUnixTimestamp(toStartOfHour(ts)) AS hour_epoch,
    count() AS calls,
    sum(tokens_in) AS tokens_in,
    sum(tokens_out) AS tokens_out,
    toFloat64(sum(cost_usd)) AS cost_usd,
    quantileExact(0.95)(latency_ms) AS latency_p95_ms
FROM llm_events FINAL
WHERE source = {source:String}
  AND ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
  AND ingested_at = {ingested_at:DateTime64(3, 'UTC')}
GROUP BY model, operation, hour_epoch
ORDER BY model, operation, hour_epoch
