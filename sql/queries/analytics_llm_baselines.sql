-- The baseline of each bucket being (re)computed: its group's rows in the trailing window
-- [hour - window, hour) (no look-ahead), from the new buckets' sums and the stored sums of the
-- group's other buckets (_an_hist, analytics_llm_history). Window sums are incremental in ClickHouse: one pass over the buckets
-- sorted by key and hour. On the log scale:
--   latency: least squares ln(latency) = center + slope * x + curve * x^2, x = ln(1 + tokens_out);
--            scale = the residual standard deviation (latency is compared at the call's own
--            answer size; a fixed overhead plus a time per token is curved on the log scale);
--   cost:    the same on ln(1 + total tokens);
--   tokens:  mean and standard deviation of ln(1 + total tokens).
-- Scales are floored at {floor:Float64} (log units: 0.01 = 1%), so that a flat series does not
-- turn rounding noise into huge z-scores. Into the table analytics_llm_baselines_table declares
-- (an INSERT is analysed once; CREATE ... AS SELECT analyses the statement twice).
INSERT INTO _an_base (
    key, hour, source, operation, model, bucket_rows, digest, max_ingested,
    sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv, n,
    latency_slope, latency_curve, latency_center, latency_scale, cost_slope, cost_center, cost_scale,
    tokens_center, tokens_scale)
SELECT
    key, hour, source, operation, model, bucket_rows, digest, max_ingested,
    sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv, n,
    latency_slope, latency_curve, latency_center, latency_scale, cost_slope, cost_center, cost_scale,
    tokens_center, tokens_scale
FROM (
SELECT
    key, hour, source, operation, model, bucket_rows, digest, max_ingested,
    sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv, n,
    wxx - wx * wx / greatest(n, 1) AS cxx, wxy - wx * wy / greatest(n, 1) AS cxy,
    wx3 - wx * wxx / greatest(n, 1) AS cxq, wx4 - wxx * wxx / greatest(n, 1) AS cqq,
    wxxy - wxx * wy / greatest(n, 1) AS cqy, cxx * cqq - cxq * cxq AS det,
    wuu - wu * wu / greatest(n, 1) AS cuu, wuv - wu * wv / greatest(n, 1) AS cuv,
    -- The curve term only when x varies enough to pin it down; else a line; else a constant.
    n > 3 AND det > 1e-9 * greatest(cxx * cqq, 1e-12) AND cxx > 1e-9 * n AS quad,
    multiIf(quad, (cqq * cxy - cxq * cqy) / det, n > 2 AND cxx > 1e-9 * n, cxy / cxx, 0) AS latency_slope,
    if(quad, (cxx * cqy - cxq * cxy) / det, 0) AS latency_curve,
    if(n > 0, (wy - latency_slope * wx - latency_curve * wxx) / n, 0) AS latency_center,
    greatest(if(n > 3, sqrt(greatest(0, (wyy - wy * wy / n) - latency_slope * cxy - latency_curve * cqy) / (n - 3)), 0),
             {floor:Float64}) AS latency_scale,
    if(n > 2 AND cuu > 1e-9 * n, cuv / cuu, 0) AS cost_slope,
    if(n > 0, (wv - cost_slope * wu) / n, 0) AS cost_center,
    greatest(if(n > 2, sqrt(greatest(0, (wvv - wv * wv / n) - cost_slope * cuv) / (n - 2)), 0),
             {floor:Float64}) AS cost_scale,
    if(n > 0, wu / n, 0) AS tokens_center,
    greatest(if(n > 1, sqrt(greatest(0, cuu) / (n - 1)), 0), {floor:Float64}) AS tokens_scale
FROM (
    SELECT *,
        sum(bucket_rows) OVER w AS n,
        sum(sx) OVER w AS wx, sum(sy) OVER w AS wy, sum(sxx) OVER w AS wxx, sum(sxy) OVER w AS wxy,
        sum(syy) OVER w AS wyy, sum(su) OVER w AS wu, sum(sv) OVER w AS wv, sum(suu) OVER w AS wuu,
        sum(suv) OVER w AS wuv, sum(svv) OVER w AS wvv,
        sum(sx3) OVER w AS wx3, sum(sx4) OVER w AS wx4, sum(sxxy) OVER w AS wxxy
    FROM (
        SELECT 1 AS is_new, key, hour, source, operation, model, bucket_rows, digest, max_ingested,
               sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv
        FROM _an_buckets
        UNION ALL
        SELECT 0, key, hour, source, operation, model, bucket_rows, digest, max_ingested,
               sx, sy, sxx, sxy, syy, sx3, sx4, sxxy, su, sv, suu, suv, svv
        FROM _an_hist
    )
    WINDOW w AS (PARTITION BY key ORDER BY toRelativeHourNum(hour)
                 RANGE BETWEEN {win_h:UInt32} PRECEDING AND 1 PRECEDING)
)
WHERE is_new = 1
)
-- No JIT: a run executes this once; LLVM compiles an expression the third time a process sees
-- it, at a cost a single run never earns back.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0
