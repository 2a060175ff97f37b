-- 001: the seven tables of the source design, plus agent_runs.
-- Placeholders filled by muse/migrations.py, the one place engine clauses are decided:
--   {on_cluster}  ''  or  'ON CLUSTER <name>'
--   {replacing}   'ReplacingMergeTree'  or  'ReplicatedReplacingMergeTree'
-- Every table carries schema_version (the source design promised it, defect 6).
-- Every table is a replacing engine keyed on its natural identity so that a retried or
-- repeated write leaves one copy (defect 3); exact reads use FINAL (defect 4).

-- Performance spine (banterhearts): one row per (report run_id, model, quant, dataset).
CREATE TABLE IF NOT EXISTS bench_runs {on_cluster} (
    ts DateTime64(3, 'UTC'),
    run_id UUID,
    commit_sha FixedString(40),
    model LowCardinality(String),
    quant LowCardinality(String),
    dataset LowCardinality(String),
    latency_p50_ms UInt32,
    latency_p95_ms UInt32,
    latency_p99_ms UInt32,
    tokens_per_sec Float32,
    cost_per_1k Decimal(10, 6),
    memory_peak_mb UInt32,
    schema_version UInt8 DEFAULT 1,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (model, quant, dataset, run_id);

-- LLM operations of every source. event_id is deterministic (report run_id + call index,
-- or a hash of the telemetry event) so a re-ingest replaces instead of duplicating (defect 3).
CREATE TABLE IF NOT EXISTS llm_events {on_cluster} (
    ts DateTime64(3, 'UTC'),
    event_id UInt64,
    run_id UUID,
    source LowCardinality(String),
    commit_sha FixedString(40) DEFAULT '',
    model LowCardinality(String),
    operation LowCardinality(String),
    tokens_in UInt32,
    tokens_out UInt32,
    latency_ms UInt32,
    cost_usd Decimal(12, 6),
    status LowCardinality(String),
    error_msg String DEFAULT '',
    schema_version UInt8 DEFAULT 1,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (source, ts, event_id);

-- User interaction spine (banterpacks). Sorted by commit_sha first so the watcher's
-- per-commit count reads a key range, not the table; event_id dedups re-ingested hours (defect 3).
CREATE TABLE IF NOT EXISTS ui_events {on_cluster} (
    ts DateTime64(3, 'UTC'),
    event_id UInt64,
    session_id UUID,
    commit_sha FixedString(40),
    event_type LowCardinality(String),
    latency_ms UInt32,
    user_agent String,
    metadata String,
    schema_version UInt8 DEFAULT 1,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (commit_sha, ts, event_id);

-- Hourly rollup. Replacing, not Summing: re-running an hour must replace its averages and
-- rates, not add them up (defect 1).
CREATE TABLE IF NOT EXISTS session_stats {on_cluster} (
    hour DateTime('UTC'),
    commit_sha FixedString(40),
    total_sessions UInt32,
    total_events UInt32,
    avg_latency_ms Float32,
    p95_latency_ms UInt32,
    error_rate Float32,
    abandonment_rate Float32,
    schema_version UInt8 DEFAULT 1,
    computed_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(computed_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, commit_sha);

-- Watcher verification log, one row per check, per-repo detail beside the overall status.
CREATE TABLE IF NOT EXISTS watcher_runs {on_cluster} (
    ts DateTime64(3, 'UTC'),
    run_id UUID,
    hearts_commit FixedString(40),
    packs_commit FixedString(40),
    hearts_rows_found UInt32,
    packs_rows_found UInt32,
    hearts_status LowCardinality(String) DEFAULT '',
    packs_status LowCardinality(String) DEFAULT '',
    hearts_lag_seconds Int64 DEFAULT 0,
    packs_lag_seconds Int64 DEFAULT 0,
    lag_seconds Int64,
    status LowCardinality(String),
    message String DEFAULT '',
    alert_sent Bool DEFAULT false,
    schema_version UInt8 DEFAULT 1
) ENGINE = {replacing}(ts)
PARTITION BY toYYYYMM(ts)
ORDER BY run_id;

-- Council episodes, one row version per change: a status change is a new version with a
-- later ts, never an UPDATE mutation (defect 5). translation_of was missing (defect 6).
CREATE TABLE IF NOT EXISTS episodes {on_cluster} (
    ts DateTime64(3, 'UTC'),
    episode UInt32,
    lang LowCardinality(String) DEFAULT 'en',
    translation_of Nullable(UInt32),
    run_id UUID,
    hearts_commit FixedString(40),
    packs_commit FixedString(40),
    title String DEFAULT '',
    path String,
    confidence_score Float32,
    completeness Float32 DEFAULT 0,
    correlation_strength Float32,
    recency Float32 DEFAULT 0,
    tokens_total UInt64,
    cost_total Decimal(14, 6),
    status LowCardinality(String),
    forced Bool DEFAULT false,
    approved_by String DEFAULT '',
    published_commit String DEFAULT '',
    schema_version UInt8 DEFAULT 1
) ENGINE = {replacing}(ts)
PARTITION BY toYYYYMM(ts)
ORDER BY (episode, lang);

-- Publisher deployments: one row per (deployment, state); a retried write replaces.
CREATE TABLE IF NOT EXISTS deployments {on_cluster} (
    ts DateTime64(3, 'UTC'),
    episode UInt32,
    vercel_deployment_id String,
    commit_sha FixedString(40),
    status LowCardinality(String),
    build_time_ms UInt32,
    url String,
    message String DEFAULT '',
    schema_version UInt8 DEFAULT 1
) ENGINE = {replacing}(ts)
PARTITION BY toYYYYMM(ts)
ORDER BY (episode, vercel_deployment_id, status);

-- One row per agent run. Written as 'running' at start and replaced by the final version,
-- so a run killed outright still shows up (as running, with its start time).
CREATE TABLE IF NOT EXISTS agent_runs {on_cluster} (
    agent LowCardinality(String),
    run_id UUID,
    started DateTime64(3, 'UTC'),
    finished Nullable(DateTime64(3, 'UTC')),
    status LowCardinality(String),
    rows_written UInt64 DEFAULT 0,
    message String DEFAULT '',
    error String DEFAULT '',
    forced Bool DEFAULT false,
    details String DEFAULT '{}',
    schema_version UInt8 DEFAULT 1,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(updated_at)
PARTITION BY toYYYYMM(started)
ORDER BY (agent, run_id);
