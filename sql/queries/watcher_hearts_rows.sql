-- Rows of one banterhearts commit in bench_runs, deduplicated (FINAL), for `muse watcher check`.
-- bench_runs is sorted by (model, quant, dataset, run_id), so the commit's rows are found
-- through the bloom filter index of migration 003 rather than a full scan. Exact mode is
-- off because it would expand the skip-index selection to every granule whose primary key
-- overlaps it (here: all of them); it only matters when a row's commit_sha changes between
-- versions, and a report's rows (same run_id) always carry the commit of that report.
SELECT
    count() AS rows,
    maxOrNull(ts) AS newest
FROM bench_runs FINAL
WHERE commit_sha = {sha:FixedString(40)}
SETTINGS use_skip_indexes = 1, use_skip_indexes_if_final = 1, use_skip_indexes_if_final_exact_mode = 0
