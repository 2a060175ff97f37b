-- Before the outliers of re-scored hours are written: a tombstone (is_outlier = 0) over each
-- row stored for those hours, so an event that is no longer extreme drops out.
INSERT INTO analytics_outliers
SELECT hour, source, ts, event_id, operation, model, run_id, key, latency_ms, cost, tokens_in, tokens_out,
       latency_expected, cost_expected, latency_z, cost_z, tokens_z, 0, {version:UInt64}, {run_id:UUID}
FROM analytics_outliers FINAL
WHERE is_outlier = 1 AND ({full:UInt8} = 1 OR hour IN (SELECT hour FROM _an_hours))
