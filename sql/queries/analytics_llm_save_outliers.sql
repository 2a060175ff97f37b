-- The extreme events of this run (a later version than the tombstones).
INSERT INTO analytics_outliers
SELECT hour, source, ts, event_id, operation, model, run_id, key, latency_ms, cost, tokens_in, tokens_out,
       latency_expected, cost_expected, latency_z, cost_z, tokens_z, 1, {version:UInt64}, {run_id:UUID}
FROM _an_out
SETTINGS optimize_on_insert = 0
