-- The exact baselines of the new bench rows (one per level and window end).
INSERT INTO analytics_baselines (
    kind, level, key, baseline_at, source, operation, model, input_category, quant, dataset,
    estimator, window_days, n, cost_center, cost_scale, latency_center, latency_scale,
    tokens_center, tokens_scale, analytics_run_id)
SELECT
    'bench', l.level, l.key, l.ts, 'banterhearts', '',
    if(l.level = 'global', '', b.model), '', if(l.level = 'genus', b.quant, ''), b.dataset,
    'median_mad', {window_days:UInt16}, l.n,
    ifNotFinite(l.cost_center, 0), l.cost_scale, ifNotFinite(l.latency_center, 0), l.latency_scale,
    ifNotFinite(l.tokens_center, 0), l.tokens_scale, {run_id:UUID}
FROM _an_bench_long AS l
INNER JOIN (SELECT row_key, model, quant, dataset FROM _an_bench WHERE is_cand) AS b ON b.row_key = l.row_key
LIMIT 1 BY l.level, l.key, l.ts
-- Keys are unique within this insert by construction; dedup-on-insert only costs time.
SETTINGS optimize_on_insert = 0
