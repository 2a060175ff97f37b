-- What one run scored, in one read of its temporary tables: the buckets (re)computed and their
-- rows, those below the minimum baseline (insufficient_baseline), the buckets and rows tested,
-- and the extreme calls per metric (|z| > 3 outlier, |z| > 5 extreme, z > 3 the slow or
-- costly side the outlier insights test). `groups` and `join_keys`: the distinct group keys and
-- score join keys (analytics_llm_score), equal unless two groups' join keys collide.
SELECT *
FROM (
    SELECT count() AS buckets, uniqExact(key) AS groups,
           uniqExact(bitXor(bitXor(cityHash64(source), cityHash64(operation) * 3), cityHash64(model) * 7)) AS join_keys,
           sum(bucket_rows) AS total, sumIf(bucket_rows, n < {min_n:UInt32}) AS insufficient,
           countIf(n >= {min_n:UInt32}) AS tested_buckets, sumIf(bucket_rows, n >= {min_n:UInt32}) AS scored
    FROM _an_base
) AS b
CROSS JOIN (
    SELECT countIf(abs(cost_z) > 3) AS cost_o, countIf(abs(latency_z) > 3) AS latency_o,
           countIf(abs(tokens_z) > 3) AS tokens_o, countIf(abs(cost_z) > 5) AS cost_x,
           countIf(abs(latency_z) > 5) AS latency_x, countIf(abs(tokens_z) > 5) AS tokens_x,
           countIf(cost_z > 3) AS cost_up, countIf(latency_z > 3) AS latency_up
    FROM _an_out
) AS o
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
