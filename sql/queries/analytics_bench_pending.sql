-- bench_runs rows (latest versions) without a record at that version. bench_runs is small:
-- one row per report x model x quant x dataset.
SELECT count() AS pending
FROM bench_runs FINAL
WHERE (CAST(cityHash64(run_id, model, quant, dataset) AS UInt64), ingested_at) NOT IN (
    SELECT row_key, source_ingested_at FROM run_analytics WHERE kind = 'bench')
