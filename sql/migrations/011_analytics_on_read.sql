-- 011: analytics stores baselines, not a second copy of every event; z-scores are computed on
-- read by the run_analytics view (docs/analytics.md). Insights (and their verdicts) are not
-- touched. The old per-row records and the old baselines are derived data in a shape that no
-- longer exists (they pooled models and were scored on the raw scale): they are dropped, and
-- the next `muse analytics run` finds no baseline watermark and recomputes everything from
-- llm_events and bench_runs (a full run). Insights it finds again keep their id, status and
-- verdict (muse/insights.py upsert).

-- DROP TABLE drops the view too, so a re-run of a half-applied 011 starts over cleanly.
DROP TABLE IF EXISTS run_analytics {on_cluster};

DROP TABLE IF EXISTS analytics_baselines {on_cluster};

-- One row per (kind, group key, baseline_at).
-- llm: one per (source, operation, model) and hour with events. n, centers and scales are
--   the baseline of the trailing window [hour - window_days, hour) (no look-ahead), on a log
--   scale: latency is ln(latency_ms) regressed on x = ln(1 + tokens_out) and x^2 (center =
--   intercept, slope and curve = the coefficients of x and x^2, scale = residual standard
--   deviation: a fixed overhead plus a cost per token is curved on this scale), cost is ln(cost_usd + 1e-6)
--   regressed on ln(1 + tokens_in + tokens_out), tokens is ln(1 + tokens_in + tokens_out)
--   (mean and standard deviation, slope 0). The bucket's own sums are kept so the next run
--   extends windows without re-reading events; bucket_rows and digest (a sum of hashes of
--   (event_id, ingested_at)) tell the next run whether the hour changed.
-- bench: one per bench_runs row (baseline_at = its ts, digest = its row key, max_ingested = its
--   version): median and 1.4826 x MAD of the series' earlier runs in the window, raw scale.
CREATE TABLE IF NOT EXISTS analytics_baselines {on_cluster} (
    kind LowCardinality(String),
    key UInt64,
    baseline_at DateTime64(3, 'UTC'),
    source LowCardinality(String),
    operation LowCardinality(String),
    model LowCardinality(String),
    quant LowCardinality(String),
    dataset LowCardinality(String),
    estimator LowCardinality(String),
    window_days UInt16,
    min_n UInt32,
    n UInt32,
    cost_center Float64,
    cost_slope Float64,
    cost_scale Float64,
    latency_center Float64,
    latency_slope Float64,
    latency_curve Float64,
    latency_scale Float64,
    tokens_center Float64,
    tokens_scale Float64,
    bucket_rows UInt32 DEFAULT 0,
    digest UInt64 DEFAULT 0,
    max_ingested DateTime64(3, 'UTC'),
    -- llm buckets: x = ln(1 + tokens_out), y = ln(latency), u = ln(1 + tokens), v = ln(cost)
    sx Float64 DEFAULT 0,
    sy Float64 DEFAULT 0,
    sxx Float64 DEFAULT 0,
    sxy Float64 DEFAULT 0,
    syy Float64 DEFAULT 0,
    sx3 Float64 DEFAULT 0,
    sx4 Float64 DEFAULT 0,
    sxxy Float64 DEFAULT 0,
    su Float64 DEFAULT 0,
    sv Float64 DEFAULT 0,
    suu Float64 DEFAULT 0,
    suv Float64 DEFAULT 0,
    svv Float64 DEFAULT 0,
    analytics_run_id UUID,
    computed_at DateTime64(3, 'UTC') DEFAULT now64(3),
    schema_version UInt8 DEFAULT 2
) ENGINE = {replacing}(computed_at)
PARTITION BY toYYYYMM(baseline_at)
ORDER BY (kind, baseline_at, key);

-- The events scored extreme (|z| > 3 on any metric), materialised for the outlier insights
-- and their evidence. A re-scored hour writes a tombstone (is_outlier = 0) over each of its
-- earlier rows before the new ones (a later version), so rows that stopped being outliers go.
CREATE TABLE IF NOT EXISTS analytics_outliers {on_cluster} (
    hour DateTime('UTC'),
    source LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id UInt64,
    operation LowCardinality(String),
    model LowCardinality(String),
    run_id UUID,
    key UInt64,
    latency_ms Float64,
    cost Float64,
    tokens_in UInt32,
    tokens_out UInt32,
    latency_expected Float64,
    cost_expected Float64,
    latency_z Float32,
    cost_z Float32,
    tokens_z Float32,
    is_outlier UInt8,
    version UInt64,
    analytics_run_id UUID
) ENGINE = {replacing}(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, source, ts, event_id);

-- Every analysed llm_events and bench_runs row with its baseline and z-scores, computed on
-- read (same columns as the table it replaces). An llm row appears once its hour has a
-- baseline row; baseline_state is insufficient_baseline (NULL z-scores, no flags) when the
-- window held fewer than min_n rows. input_category uses the default bands
-- (analytics.category_tokens 125,500,1500,5000): a view cannot read settings.
CREATE VIEW IF NOT EXISTS run_analytics {on_cluster} AS
SELECT
    kind, source, row_key, ts, run_id, commit_sha, model, operation, quant, dataset,
    input_category, input_complexity, cost, latency_ms, tokens, tokens_in, tokens_out, is_error,
    baseline_level, baseline_n, z_cost, z_latency, z_tokens, source_ingested_at, analytics_run_id,
    analysed_at, schema_version,
    if(scored, z_cost, NULL) AS cost_z,
    if(scored, z_latency, NULL) AS latency_z,
    if(scored, z_tokens, NULL) AS tokens_z,
    baseline_key AS global_key, baseline_key AS cluster_key, baseline_key AS genus_key,
    if(scored, 'ok', 'insufficient_baseline') AS baseline_state,
    baseline_at,
    lower(hex(baseline_key)) AS input_fingerprint,
    scored AND abs(z_cost) > 3 AS is_cost_outlier,
    scored AND abs(z_latency) > 3 AS is_latency_outlier,
    scored AND abs(z_tokens) > 3 AS is_tokens_outlier,
    scored AND greatest(abs(z_cost), abs(z_latency), abs(z_tokens)) > 5 AS is_extreme,
    if(kind = 'llm', cost, NULL) AS cost_per_message,
    if(kind = 'llm', if(tokens > 0, cost / tokens, NULL), cost / 1000) AS cost_per_token,
    if(kind = 'llm', tokens, NULL) AS tokens_per_message,
    if(kind = 'llm', if(latency_ms > 0, tokens_out * 1000 / latency_ms, NULL), tokens) AS tokens_per_sec,
    toHour(ts) AS hour_of_day,
    toDayOfWeek(ts) - 1 AS day_of_week,
    toDayOfWeek(ts) >= 6 AS is_weekend
FROM (
    SELECT
        'llm' AS kind, e.source AS source, e.event_id AS row_key, e.ts AS ts, e.run_id AS run_id,
        toStringCutToZero(e.commit_sha) AS commit_sha, e.model AS model, e.operation AS operation,
        '' AS quant, '' AS dataset,
        multiIf(e.tokens_in < 125, 'tiny', e.tokens_in < 500, 'small', e.tokens_in < 1500, 'medium',
                e.tokens_in < 5000, 'large', 'huge') AS input_category,
        toFloat32(least(1., log(1 + e.tokens_in) / log(1 + 4 * 5000))) AS input_complexity,
        toFloat64(e.cost_usd) AS cost, toFloat64(e.latency_ms) AS latency_ms,
        toFloat64(e.tokens_in + e.tokens_out) AS tokens, e.tokens_in AS tokens_in, e.tokens_out AS tokens_out,
        toUInt8(CAST(e.status AS String) NOT IN ('ok', 'success')) AS is_error,
        b.n >= b.min_n AS scored, if(scored, 'model', '') AS baseline_level, b.n AS baseline_n,
        toFloat32((log(toFloat64(e.cost_usd) + 1e-6) - b.cost_center
                   - b.cost_slope * log(1 + e.tokens_in + e.tokens_out)) / b.cost_scale) AS z_cost,
        toFloat32((log(greatest(toFloat64(e.latency_ms), 1)) - b.latency_center
                   - b.latency_slope * log(1 + e.tokens_out)
                   - b.latency_curve * pow(log(1 + e.tokens_out), 2)) / b.latency_scale) AS z_latency,
        toFloat32((log(1 + e.tokens_in + e.tokens_out) - b.tokens_center) / b.tokens_scale) AS z_tokens,
        e.ingested_at AS source_ingested_at, b.analytics_run_id AS analytics_run_id, b.computed_at AS analysed_at,
        toUInt8(2) AS schema_version, b.key AS baseline_key, b.baseline_at AS baseline_at
    FROM llm_events AS e FINAL
    INNER JOIN (SELECT * FROM analytics_baselines FINAL WHERE kind = 'llm') AS b
        ON b.key = cityHash64(e.source, e.operation, e.model) AND b.baseline_at = toStartOfHour(e.ts)
    UNION ALL
    SELECT
        'bench', 'banterhearts', CAST(cityHash64(r.run_id, r.model, r.quant, r.dataset) AS UInt64), r.ts, r.run_id,
        toStringCutToZero(r.commit_sha), r.model, '', r.quant, r.dataset, '', toFloat32(0),
        toFloat64(r.cost_per_1k), toFloat64(r.latency_p95_ms), toFloat64(r.tokens_per_sec), toUInt32(0), toUInt32(0),
        toUInt8(0),
        b.n >= b.min_n, if(b.n >= b.min_n, 'series', ''), b.n,
        toFloat32((toFloat64(r.cost_per_1k) - b.cost_center) / b.cost_scale),
        toFloat32((toFloat64(r.latency_p95_ms) - b.latency_center) / b.latency_scale),
        toFloat32((toFloat64(r.tokens_per_sec) - b.tokens_center) / b.tokens_scale),
        r.ingested_at, b.analytics_run_id, b.computed_at, toUInt8(2), b.key, b.baseline_at
    FROM bench_runs AS r FINAL
    INNER JOIN (SELECT * FROM analytics_baselines FINAL WHERE kind = 'bench') AS b
        ON b.key = cityHash64('bench', r.model, r.quant, r.dataset) AND b.baseline_at = r.ts
);
