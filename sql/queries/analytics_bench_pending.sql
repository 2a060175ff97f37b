-- bench_runs rows (latest versions) without a stored baseline at that version. bench_runs is
-- small: one row per report x model x quant x dataset.
SELECT count() AS pending
FROM bench_runs FINAL
WHERE (CAST(cityHash64('bench', model, quant, dataset) AS UInt64), ts,
       CAST(cityHash64(run_id, model, quant, dataset) AS UInt64), ingested_at) NOT IN (
    SELECT key, baseline_at, digest, max_ingested FROM analytics_baselines WHERE kind = 'bench')
