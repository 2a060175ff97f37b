-- 005: ingest that writes nothing twice (issue 17).

-- Per-row routing flags for the packs sink: a line whose event is already in ui_events but
-- not yet in llm_events (or the reverse, after a crash between the two views) goes only to
-- the table that lacks it. Before, such a row went to both, so a re-run after a partial
-- failure wrote llm_events rows again and counted them as new.
ALTER TABLE ingest_packs_sink {on_cluster} ADD COLUMN IF NOT EXISTS to_ui UInt8 DEFAULT 1;

ALTER TABLE ingest_packs_sink {on_cluster} ADD COLUMN IF NOT EXISTS to_llm UInt8 DEFAULT 1;

DROP VIEW IF EXISTS ingest_packs_to_ui_events {on_cluster};

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
WHERE check = 0 AND to_ui = 1;

DROP VIEW IF EXISTS ingest_packs_to_llm_events {on_cluster};

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
WHERE check = 0 AND event_type = 'llm_call' AND to_llm = 1;

-- Telemetry files a packs run read completely, with the file's identity (inode, size,
-- modification time) and the windows the run covered: a later run whose windows lie inside
-- these, for a file that has not changed, skips the file (nothing in it can be new). One row
-- per (path, window); a changed file gets new rows and the old ones no longer match.
CREATE TABLE IF NOT EXISTS ingest_files {on_cluster} (
    source LowCardinality(String),
    path String,
    inode UInt64,
    size UInt64,
    mtime_ns Int64,
    since DateTime64(3, 'UTC'),
    until DateTime64(3, 'UTC'),
    window_since DateTime64(3, 'UTC'),
    window_until DateTime64(3, 'UTC'),
    agent_run_id UUID,
    schema_version UInt8 DEFAULT 1,
    loaded_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(loaded_at)
ORDER BY (source, path, inode, size, mtime_ns, since, until, window_since, window_until);
