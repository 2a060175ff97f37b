-- 003: the watcher's per-commit counts must not grow with bench_runs and ui_events.
-- ui_events needs nothing: it is sorted by (commit_sha, ts, event_id) (001), so counting a
-- commit's events reads one primary-key range.
-- bench_runs is sorted by (model, quant, dataset, run_id), so one commit's rows are spread
-- over the table: a bloom filter on commit_sha lets the count skip every granule that cannot
-- hold the commit (bloom rather than set: the number of commits per granule is unbounded).
ALTER TABLE bench_runs {on_cluster} ADD INDEX IF NOT EXISTS idx_bench_runs_commit_sha commit_sha TYPE bloom_filter(0.001) GRANULARITY 1;

-- Build the index for parts written before this migration (new parts get it on insert);
-- synchronous so the first check after `muse db migrate` already uses it.
ALTER TABLE bench_runs {on_cluster} MATERIALIZE INDEX idx_bench_runs_commit_sha SETTINGS mutations_sync = 2;

-- Which checks paged (PagerDuty): a later valid check resolves the page with the same key.
ALTER TABLE watcher_runs {on_cluster} ADD COLUMN IF NOT EXISTS paged Bool DEFAULT false AFTER alert_sent;
