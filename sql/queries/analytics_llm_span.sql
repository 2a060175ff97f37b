-- The rows and the hours of the buckets being (re)computed (_an_buckets), in one read.
SELECT sum(bucket_rows) AS n, arraySort(groupUniqArray(hour)) AS hours
FROM _an_buckets
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
