-- Reports the store refused on their own, after a larger batch had written their results:
-- a rejected report leaves no rows (lightweight delete; raw count() no longer sees them).
DELETE FROM bench_runs WHERE run_id IN {run_ids:Array(UUID)}
