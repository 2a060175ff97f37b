-- Council: the newest data of each source, for the recency component of confidence.
SELECT
    (SELECT toString(max(ts)) FROM bench_runs FINAL WHERE ts < {until:DateTime64(3, 'UTC')}) AS hearts_newest,
    (SELECT toString(max(hour) + INTERVAL 1 HOUR) FROM session_stats FINAL
        WHERE hour < {until:DateTime64(3, 'UTC')}) AS packs_newest,
    (SELECT count() FROM bench_runs FINAL WHERE ts < {until:DateTime64(3, 'UTC')}) AS hearts_rows_total,
    (SELECT count() FROM session_stats FINAL WHERE hour < {until:DateTime64(3, 'UTC')}) AS packs_rows_total
