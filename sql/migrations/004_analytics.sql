-- 004: the analytics worker (context-aware baselines, z-scores, insights).
-- Every table is a replacing engine keyed on its natural identity, so a re-run or a retried
-- write leaves one copy (defect 3); exact reads use FINAL (defect 4).

-- One row per analysed llm_events row (kind 'llm') and per analysed bench_runs row
-- (kind 'bench'). Keyed like llm_events (source, ts, event_id) so a re-ingested event that
-- is re-analysed replaces its record. Derived values that are pure functions of the stored
-- ones (temporal context, efficiency, outlier flags) are ALIAS columns: computed on read,
-- never written, so analysing a million rows writes only what cannot be derived.
CREATE TABLE IF NOT EXISTS run_analytics {on_cluster} (
    kind LowCardinality(String),
    source LowCardinality(String),
    row_key UInt64,
    ts DateTime64(3, 'UTC'),
    run_id UUID,
    commit_sha LowCardinality(String),
    model LowCardinality(String),
    operation LowCardinality(String),
    quant LowCardinality(String),
    dataset LowCardinality(String),
    -- Input context. llm: category from tokens_in bands, complexity 0-1 on a log scale of
    -- tokens_in. bench: category '' and complexity 0 (not applicable).
    input_category LowCardinality(String),
    input_complexity Float32,
    -- The analysed values, copied so the record keeps what was scored even if the source row
    -- is later replaced. llm: cost_usd, latency_ms, tokens_in + tokens_out. bench:
    -- cost_per_1k, latency_p95_ms, tokens_per_sec.
    cost Float64,
    latency_ms Float64,
    tokens Float64,
    tokens_in UInt32,
    tokens_out UInt32,
    is_error UInt8,
    -- The z-scores use the most specific of those with enough samples (baseline_level, its
    -- count baseline_n). '' = none had: every z is NULL (insufficient_baseline).
    baseline_level LowCardinality(String),
    baseline_n UInt32,
    -- The z-scores as written: 0 when baseline_level = ''; cost_z etc. below give NULL there.
    -- Plain Float32 instead of Nullable: no null map to build, compress and write per row.
    z_cost Float32,
    z_latency Float32,
    z_tokens Float32,
    source_ingested_at DateTime64(3, 'UTC'),
    analytics_run_id UUID,
    analysed_at DateTime64(3, 'UTC') DEFAULT now64(3),
    schema_version UInt8 DEFAULT 1,
    cost_z Nullable(Float32) ALIAS if(baseline_level = '', NULL, z_cost),
    latency_z Nullable(Float32) ALIAS if(baseline_level = '', NULL, z_latency),
    tokens_z Nullable(Float32) ALIAS if(baseline_level = '', NULL, z_tokens),
    -- Keys of the global, cluster and genus baselines in analytics_baselines (with kind and
    -- baseline_at); each holds the center (mean or median), scale and count of its window.
    -- Pure hashes of stored columns (the same expressions the analysis groups by), so they
    -- are computed on read instead of written: three UInt64 fewer per record.
    global_key UInt64 ALIAS if(kind = 'llm', cityHash64('global', source, operation),
                               cityHash64('bench-global', dataset)),
    cluster_key UInt64 ALIAS if(kind = 'llm', cityHash64('cluster', source, operation, model, input_category),
                                cityHash64('bench-cluster', dataset, model)),
    genus_key UInt64 ALIAS if(kind = 'llm', cityHash64('genus', source, operation, model, input_category,
                                                       toUInt8(floor(log2(tokens_in + 1)))),
                              cityHash64('bench-genus', model, quant, dataset)),
    baseline_state LowCardinality(String) ALIAS if(baseline_level = '', 'insufficient_baseline', 'ok'),
    -- llm baselines are per hour bucket; a bench row's baseline is the window right before it.
    baseline_at DateTime64(3, 'UTC') ALIAS if(kind = 'llm', toDateTime64(toStartOfHour(ts), 3, 'UTC'), ts),
    -- The genus key: for llm source, operation, model, category and a power-of-two tokens_in
    -- bucket (llm_events has no prompt-template id); for bench the (model, quant, dataset).
    input_fingerprint String ALIAS lower(hex(genus_key)),
    -- Flags: outlier at |z| > 2, extreme at |z| > 3 (NULL z is neither).
    is_cost_outlier Bool ALIAS ifNull(abs(cost_z) > 2, false),
    is_latency_outlier Bool ALIAS ifNull(abs(latency_z) > 2, false),
    is_tokens_outlier Bool ALIAS ifNull(abs(tokens_z) > 2, false),
    is_extreme Bool ALIAS ifNull(greatest(abs(cost_z), abs(latency_z), abs(tokens_z)) > 3, false),
    -- Efficiency. One llm_events row is one message.
    cost_per_message Nullable(Float64) ALIAS if(kind = 'llm', cost, NULL),
    cost_per_token Nullable(Float64) ALIAS if(kind = 'llm', if(tokens > 0, cost / tokens, NULL), cost / 1000),
    tokens_per_message Nullable(Float64) ALIAS if(kind = 'llm', tokens, NULL),
    tokens_per_sec Nullable(Float64) ALIAS if(kind = 'llm', if(latency_ms > 0, tokens_out * 1000 / latency_ms, NULL), tokens),
    -- Temporal context (UTC). day_of_week 0 = Monday.
    hour_of_day UInt8 ALIAS toHour(ts),
    day_of_week UInt8 ALIAS toDayOfWeek(ts) - 1,
    is_weekend Bool ALIAS toDayOfWeek(ts) >= 6
) ENGINE = {replacing}(analysed_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (kind, source, ts, row_key);

-- Baselines, one row per (kind, level, group key, baseline_at). llm: one row per group and
-- hour bucket; the baseline covers the group's rows of the trailing window that ended at the
-- start of that hour, and the bucket's own sums are kept so the next run extends the window
-- without re-reading raw rows. bench: one row per scored row, the exact window before it.
CREATE TABLE IF NOT EXISTS analytics_baselines {on_cluster} (
    kind LowCardinality(String),
    level LowCardinality(String),
    key UInt64,
    baseline_at DateTime64(3, 'UTC'),
    source LowCardinality(String),
    operation LowCardinality(String),
    model LowCardinality(String),
    input_category LowCardinality(String),
    quant LowCardinality(String),
    dataset LowCardinality(String),
    estimator LowCardinality(String),
    window_days UInt16,
    n UInt32,
    cost_center Float64,
    cost_scale Float64,
    latency_center Float64,
    latency_scale Float64,
    tokens_center Float64,
    tokens_scale Float64,
    -- llm hour buckets only: rows of the hour, their plain and winsorized sums (x, x^2).
    bucket_rows UInt32 DEFAULT 0,
    raw_cost_s1 Float64 DEFAULT 0,
    raw_cost_s2 Float64 DEFAULT 0,
    raw_latency_s1 Float64 DEFAULT 0,
    raw_latency_s2 Float64 DEFAULT 0,
    raw_tokens_s1 Float64 DEFAULT 0,
    raw_tokens_s2 Float64 DEFAULT 0,
    clip_cost_s1 Float64 DEFAULT 0,
    clip_cost_s2 Float64 DEFAULT 0,
    clip_latency_s1 Float64 DEFAULT 0,
    clip_latency_s2 Float64 DEFAULT 0,
    clip_tokens_s1 Float64 DEFAULT 0,
    clip_tokens_s2 Float64 DEFAULT 0,
    analytics_run_id UUID,
    computed_at DateTime64(3, 'UTC') DEFAULT now64(3),
    schema_version UInt8 DEFAULT 1
) ENGINE = {replacing}(computed_at)
PARTITION BY toYYYYMM(baseline_at)
ORDER BY (kind, level, key, baseline_at);

-- Insights: what a person should look at. A change of state (acknowledged, resolved,
-- escalated) is a new row version with a later updated_at, never an UPDATE mutation
-- (defect 5). insight_id is a stable hash of what the insight is about, so a re-run finds
-- the insight it already wrote instead of opening a duplicate.
CREATE TABLE IF NOT EXISTS insights {on_cluster} (
    insight_id String,
    type LowCardinality(String),
    severity LowCardinality(String),
    status LowCardinality(String),
    title String,
    description String,
    metrics String DEFAULT '{}',
    evidence String DEFAULT '{}',
    suggested_action String DEFAULT '',
    observed_at DateTime64(3, 'UTC'),
    source LowCardinality(String) DEFAULT '',
    model LowCardinality(String) DEFAULT '',
    quant LowCardinality(String) DEFAULT '',
    dataset LowCardinality(String) DEFAULT '',
    operation LowCardinality(String) DEFAULT '',
    commit_sha String DEFAULT '',
    metric LowCardinality(String) DEFAULT '',
    baseline_value Nullable(Float64),
    observed_value Nullable(Float64),
    z_score Nullable(Float64),
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    resolved_at Nullable(DateTime64(3, 'UTC')),
    acknowledged_at Nullable(DateTime64(3, 'UTC')),
    acknowledged_by String DEFAULT '',
    verdict LowCardinality(String) DEFAULT '',
    analytics_run_id UUID,
    schema_version UInt8 DEFAULT 1,
    is_open Bool ALIAS status = 'open'
) ENGINE = {replacing}(updated_at)
ORDER BY insight_id;

-- ingest_gaps, which the worker turns into insights, comes from migration 002.
