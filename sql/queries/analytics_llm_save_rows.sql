-- The records of the new rows. Written last: a run that fails before this statement leaves
-- its rows unanalysed, and the next run redoes them (every earlier write is idempotent).
INSERT INTO run_analytics (
    kind, source, row_key, ts, run_id, commit_sha, model, operation, quant, dataset,
    input_category, input_complexity, cost, latency_ms, tokens, tokens_in, tokens_out, is_error,
    baseline_level, baseline_n, z_cost, z_latency, z_tokens, source_ingested_at, analytics_run_id)
SELECT
    'llm', source, event_id, ts, run_id, commit_sha, model, operation, '', '',
    category, complexity, cost, latency, tokens, tokens_in, tokens_out, is_error,
    lvl, n, ifNull(cost_z, 0), ifNull(latency_z, 0), ifNull(tokens_z, 0), ingested_at, {run_id:UUID}
FROM _an_scored
WHERE is_cand = 1
-- Keys are unique within this insert by construction; dedup-on-insert only costs time.
SETTINGS optimize_on_insert = 0
