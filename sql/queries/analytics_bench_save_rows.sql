-- The records of the new bench rows. Written after the regression insights, like llm rows.
INSERT INTO run_analytics (
    kind, source, row_key, ts, run_id, commit_sha, model, operation, quant, dataset,
    input_category, input_complexity, input_fingerprint,
    cost, latency_ms, tokens, tokens_in, tokens_out, is_error,
    global_key, cluster_key, genus_key, baseline_at,
    baseline_level, baseline_state, baseline_n,
    cost_center, cost_scale, latency_center, latency_scale, tokens_center, tokens_scale,
    cost_z, latency_z, tokens_z, source_ingested_at, analytics_run_id)
SELECT
    'bench', 'banterhearts', row_key, ts, run_id, commit_sha, model, '', quant, dataset,
    '', 0, lower(hex(genus_key)),
    cost, latency, tput, 0, 0, 0,
    global_key, cluster_key, genus_key, ts,
    lvl, if(lvl = '', 'insufficient_baseline', 'ok'), n,
    ifNotFinite(cc, 0), cs, ifNotFinite(lc, 0), ls, ifNotFinite(tc, 0), tsc,
    cost_z, latency_z, tokens_z, ingested_at, {run_id:UUID}
FROM _an_bench
WHERE is_cand
-- Keys are unique within this insert by construction; dedup-on-insert only costs time.
SETTINGS optimize_on_insert = 0
