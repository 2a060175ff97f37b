-- The z-scores of the llm_events rows in [lo, hi), computed on read with the same arithmetic as
-- the run_analytics view, but with the time range applied to both sides of the join (the
-- baselines of those hours only): the documented query for reading a time range fast
-- (docs/analytics.md). Rows of hours not analysed yet are absent, as in the view.
SELECT
    e.source AS source, e.event_id AS row_key, e.ts AS ts, e.model AS model, e.operation AS operation,
    e.tokens_in AS tokens_in, e.tokens_out AS tokens_out, toFloat64(e.latency_ms) AS latency_ms,
    toFloat64(e.cost_usd) AS cost, b.n AS baseline_n, b.n >= b.min_n AS scored,
    if(scored, 'ok', 'insufficient_baseline') AS baseline_state,
    if(scored, toFloat32((log(toFloat64(e.cost_usd) + 1e-6) - b.cost_center
                          - b.cost_slope * log(1 + e.tokens_in + e.tokens_out)) / b.cost_scale), NULL) AS cost_z,
    if(scored, toFloat32((log(greatest(toFloat64(e.latency_ms), 1)) - b.latency_center
                          - b.latency_slope * log(1 + e.tokens_out)
                          - b.latency_curve * pow(log(1 + e.tokens_out), 2)) / b.latency_scale), NULL) AS latency_z,
    if(scored, toFloat32((log(1 + e.tokens_in + e.tokens_out) - b.tokens_center) / b.tokens_scale), NULL) AS tokens_z
FROM (
    SELECT source, event_id, ts, model, operation, tokens_in, tokens_out, latency_ms, cost_usd
    FROM llm_events FINAL
    WHERE ts >= {lo:DateTime64(3)} AND ts < {hi:DateTime64(3)}
) AS e
INNER JOIN (
    SELECT key, baseline_at, n, min_n, cost_center, cost_slope, cost_scale, latency_center, latency_slope,
           latency_curve, latency_scale, tokens_center, tokens_scale
    FROM analytics_baselines FINAL
    WHERE kind = 'llm' AND baseline_at >= toStartOfHour({lo:DateTime64(3)}) AND baseline_at < {hi:DateTime64(3)}
) AS b ON b.key = cityHash64(e.source, e.operation, e.model) AND b.baseline_at = toStartOfHour(e.ts)
