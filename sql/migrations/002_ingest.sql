-- 002: what the ingestors need beside the spine tables of 001.
-- Placeholders as in 001: {on_cluster} and {replacing} are filled by muse/migrations.py.

-- Ledger of banterhearts reports, one row per report run_id (the newest version wins).
-- `muse ingest hearts --pending` ingests every report whose run_id is missing here or whose
-- content hash changed; a rejected report stays rejected until its file changes, so cron
-- does not re-alert on the same bad file every run.
CREATE TABLE IF NOT EXISTS ingest_reports {on_cluster} (
    run_id UUID,
    path String,
    content_sha256 FixedString(64),
    commit_sha String,
    report_ts Nullable(DateTime64(3, 'UTC')),
    status LowCardinality(String),
    message String DEFAULT '',
    results UInt32 DEFAULT 0,
    llm_calls UInt32 DEFAULT 0,
    agent_run_id UUID,
    schema_version UInt8 DEFAULT 1,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(ingested_at)
ORDER BY run_id;

-- Telemetry gaps, one row per (hour, kind): 'no_telemetry' (no event in the hour) or
-- 'drop' (events below ingest.gap_drop_factor x the same hour's trailing baseline).
-- The analytics worker turns these rows into insights and reads exactly these six columns,
-- so this table does not carry schema_version. A gap that later data fills is deleted.
CREATE TABLE IF NOT EXISTS ingest_gaps {on_cluster} (
    hour DateTime('UTC'),
    kind LowCardinality(String),
    events UInt64,
    baseline Float64,
    detected_at DateTime64(3, 'UTC'),
    run_id UUID
) ENGINE = {replacing}(detected_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, kind);

-- Quarantined input: bad telemetry lines and rejected reports, keyed by where they are and
-- what they said, so a line is reported once however many runs read its file.
CREATE TABLE IF NOT EXISTS ingest_quarantine {on_cluster} (
    source LowCardinality(String),
    file String,
    line UInt64,
    raw_hash UInt64,
    reason String,
    raw String,
    agent_run_id UUID,
    schema_version UInt8 DEFAULT 1,
    quarantined_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(quarantined_at)
ORDER BY (source, file, line, raw_hash);

-- Facts about the store itself, e.g. key 'demo': this store was filled by `muse demo`,
-- which refuses to load into a store holding data it did not create.
CREATE TABLE IF NOT EXISTS store_meta {on_cluster} (
    key String,
    value String,
    schema_version UInt8 DEFAULT 1,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(updated_at)
ORDER BY key;

-- Routing for `muse ingest packs`. The agent parses a telemetry file once (in SQL, see
-- sql/queries/ingest_packs_load.sql) into this Null table; the materialized views below send
-- each parsed row where it belongs in the same pass: good events to ui_events, good llm_call
-- events to llm_events, lines the cheap checks flagged to ingest_packs_flagged for the exact
-- check. One parse instead of three kept the 1M-event load near ClickHouse's own INSERT.
-- The validation rules live in the query files, not here: these views only route on `check`.
CREATE TABLE IF NOT EXISTS ingest_packs_sink {on_cluster} (
    agent_run_id UUID,
    ingested_at DateTime64(3, 'UTC'),
    file String,
    line_no UInt64,
    raw String,
    check UInt8,
    ts Nullable(DateTime64(3, 'UTC')),
    session_id Nullable(UUID),
    commit_sha String,
    event_type String,
    latency_ms UInt32,
    user_agent String,
    metadata String,
    model String,
    operation String,
    tokens_in UInt32,
    tokens_out UInt32,
    cost_usd Decimal(18, 6),
    status String,
    error_msg String,
    event_id UInt64
) ENGINE = Null;

-- Scratch for flagged lines, per agent run. Plain MergeTree (node-local, never replicated):
-- the run that wrote the rows reads and deletes them; the TTL clears what a crash left.
CREATE TABLE IF NOT EXISTS ingest_packs_flagged {on_cluster} (
    agent_run_id UUID,
    ingested_at DateTime64(3, 'UTC'),
    file String,
    line_no UInt64,
    raw String,
    ts Nullable(DateTime64(3, 'UTC')),
    session_id Nullable(UUID),
    commit_sha String,
    event_type String,
    latency_ms UInt32,
    user_agent String,
    metadata String,
    model String,
    operation String,
    tokens_in UInt32,
    tokens_out UInt32,
    cost_usd Decimal(18, 6),
    status String,
    error_msg String,
    event_id UInt64
) ENGINE = MergeTree
ORDER BY (agent_run_id, file, line_no)
TTL toDateTime(ingested_at) + INTERVAL 2 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_packs_to_ui_events {on_cluster} TO ui_events AS
SELECT
    assumeNotNull(ts) AS ts,
    event_id,
    assumeNotNull(session_id) AS session_id,
    toFixedString(commit_sha, 40) AS commit_sha,
    event_type,
    latency_ms,
    user_agent,
    metadata,
    toUInt8(1) AS schema_version,
    ingested_at
FROM ingest_packs_sink
WHERE check = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_packs_to_llm_events {on_cluster} TO llm_events AS
SELECT
    assumeNotNull(ts) AS ts,
    event_id,
    assumeNotNull(session_id) AS run_id,
    'banterpacks' AS source,
    toFixedString(commit_sha, 40) AS commit_sha,
    model,
    operation,
    tokens_in,
    tokens_out,
    latency_ms,
    toDecimal64(cost_usd, 6) AS cost_usd,
    status,
    error_msg,
    toUInt8(1) AS schema_version,
    ingested_at
FROM ingest_packs_sink
WHERE check = 0 AND event_type = 'llm_call';

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_packs_to_flagged {on_cluster} TO ingest_packs_flagged AS
SELECT
    agent_run_id, ingested_at, file, line_no, raw, ts, session_id, commit_sha, event_type, latency_ms,
    user_agent, metadata, model, operation, tokens_in, tokens_out, cost_usd, status, error_msg, event_id
FROM ingest_packs_sink
WHERE check = 1;

-- Insert deduplication for the tables written from Python batches: a retried batch with the
-- same insert_deduplication_token is dropped at insert time, so even raw counts (before any
-- merge) show one copy. Replicated engines deduplicate by default; this covers single nodes.
ALTER TABLE bench_runs {on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE llm_events {on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;
