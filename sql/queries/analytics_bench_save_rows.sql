-- The records of the new bench rows, written after the regression insights (like llm rows,
-- the records are what marks a row analysed).
INSERT INTO run_analytics (
    kind, source, row_key, ts, run_id, commit_sha, model, operation, quant, dataset,
    input_category, input_complexity, cost, latency_ms, tokens, tokens_in, tokens_out, is_error,
    baseline_level, baseline_n, z_cost, z_latency, z_tokens, source_ingested_at, analytics_run_id)
SELECT
    'bench', 'banterhearts', row_key, ts, run_id, commit_sha, model, '', quant, dataset,
    '', 0, cost, latency, tput, 0, 0, 0,
    lvl, n, ifNull(cost_z, 0), ifNull(latency_z, 0), ifNull(tokens_z, 0), ingested_at, {run_id:UUID}
FROM _an_bench
WHERE is_cand
-- Keys are unique within this insert by construction; dedup-on-insert only costs time.
SETTINGS optimize_on_insert = 0
