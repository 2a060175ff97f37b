-- The baselines of the buckets being (re)computed (filled by analytics_llm_baselines): each
-- bucket's own sums, n (rows in the trailing window) and the baseline's coefficients.
CREATE TEMPORARY TABLE _an_base (
    key UInt64, hour DateTime('UTC'), source LowCardinality(String), operation LowCardinality(String),
    model LowCardinality(String), bucket_rows UInt64, digest UInt64, max_ingested DateTime64(3, 'UTC'),
    sx Float64, sy Float64, sxx Float64, sxy Float64, syy Float64, sx3 Float64, sx4 Float64, sxxy Float64,
    su Float64, sv Float64, suu Float64, suv Float64, svv Float64, n UInt64,
    latency_slope Float64, latency_curve Float64, latency_center Float64, latency_scale Float64,
    cost_slope Float64, cost_center Float64, cost_scale Float64, tokens_center Float64, tokens_scale Float64
) ENGINE = Memory
