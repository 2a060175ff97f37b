-- Parse banterpacks telemetry lines in ClickHouse (no Python loop per row) and insert them
-- into the Null table ingest_packs_sink, whose materialized views route every row in the
-- same pass (migration 002). __LINES__ is replaced by the agent with a fixed, trusted source
-- fragment with columns (file, line_no, line): file({glob:String}, 'LineAsString') filtered
-- on _path on the embedded store, or the temporary table muse_packs_lines on a server.
--
-- One JSON parse per line (JSONExtract of every field as text into a tuple), then cheap
-- checks on the text. Type rules (README, UI telemetry): a number field takes a JSON number
-- or a string holding one; a text field takes a string or a number, never an object or array;
-- booleans and null are not numbers. check = 1 sends a line to the exact check
-- (ingest_packs_check), which names the field; check = 0 is good.
-- short_circuit_function_evaluation is off because lazy evaluation recomputed the JSON parse
-- once per condition (measured: 10x slower on 1M lines); every check here is cheap. (chDB
-- 26.9 no longer recomputes it, but turning it on still gained nothing: re-measured.)
--
-- Why not ClickHouse's own JSONEachRow reader (file(..., JSONEachRow, schema)), as the
-- benchmark baseline does? Measured on 1M lines (chDB 26.9): reading these 15 fields as text
-- costs about the CPU of LineAsString + this JSONExtract (1.5-1.7 s against 1.4-1.5 s; the
-- baseline's parse is cheaper because it reads 7 fields), and this whole load rebuilt on it
-- (metadata re-serialised so event_id stays the same) took 25% more CPU for a wall time
-- within noise (-4%), before any of the guards it would need. It is not line-exact: it takes
-- several objects on one line, an object over several lines, commas between objects and a
-- file wrapped in [ ], and skips unknown fields without validating them (a raw tab, invalid
-- UTF-8, 01), so a line's number and verdict could not be trusted. LineAsString and one
-- parse per line are exact.
INSERT INTO ingest_packs_sink (agent_run_id, ingested_at, file, line_no, raw, check, ts, session_id, commit_sha,
    event_type, latency_ms, user_agent, metadata, model, operation, tokens_in, tokens_out, cost_usd, status,
    error_msg, event_id, to_ui, to_llm)
SELECT
    {agent_run_id:UUID} AS agent_run_id,
    {ingested_at:DateTime64(3, 'UTC')} AS ingested_at,
    file,
    line_no,
    if(check, line, '') AS raw,
    check,
    ts,
    session_id,
    commit_sha,
    event_type,
    latency_ms,
    user_agent,
    metadata,
    model,
    operation,
    tokens_in,
    tokens_out,
    cost_usd,
    status,
    error_msg,
    -- Deterministic: the same event re-read from any file gets the same id (dedup key).
    cityHash64(ts, session_id, commit_sha, event_type, latency_ms, user_agent, metadata,
               model, operation, tokens_in, tokens_out, cost_usd, status, error_msg) AS event_id,
    -- Each table gets the event only when it does not hold it yet: after a crash between the
    -- two views (or a full disk) a re-run completes the table that lacks it and writes
    -- nothing again into the other (migration 005).
    event_id NOT IN (SELECT event_id FROM ui_events
                     WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}) AS to_ui,
    event_type = 'llm_call'
        AND event_id NOT IN (SELECT event_id FROM llm_events
                             WHERE source = 'banterpacks'
                               AND ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}) AS to_llm
FROM
(
    SELECT
        file,
        line_no,
        line,
        parseDateTime64BestEffortOrNull(j.ts, 3, 'UTC') AS ts,
        toUUIDOrNull(j.session_id) AS session_id,
        lower(ifNull(j.commit_sha, '')) AS commit_sha,
        ifNull(j.event_type, '') AS event_type,
        toFloat64OrNull(j.latency_ms) AS latency_f,
        toFloat64OrNull(j.tokens_in) AS tokens_in_f,
        toFloat64OrNull(j.tokens_out) AS tokens_out_f,
        -- Costs are decimals parsed from the JSON text itself (never through a float, which
        -- stored 0.000251 as 0.00025), rounded half away from zero to the 6 places stored.
        round(toDecimal128OrNull(j.cost_usd, 12), 6) AS cost_d,
        toUInt32(round(greatest(least(ifNull(latency_f, 0), 86400000), 0))) AS latency_ms,
        ifNull(j.user_agent, '') AS user_agent,
        ifNull(j.metadata, '{}') AS metadata,
        ifNull(j.model, '') AS model,
        ifNull(j.operation, '') AS operation,
        toUInt32(greatest(least(ifNull(tokens_in_f, 0), 4294967295), 0)) AS tokens_in,
        toUInt32(greatest(least(ifNull(tokens_out_f, 0), 4294967295), 0)) AS tokens_out,
        toDecimal64(if(ifNull(cost_d >= 0 AND cost_d < 1000000, 0), cost_d, 0), 6) AS cost_usd,
        ifNull(j.status, '') AS status,
        ifNull(j.error_msg, '') AS error_msg,
        -- The cheap checks; a line failing any of them gets the exact check.
        NOT ifNull(
            left(line, 1) = '{'
            AND ts IS NOT NULL AND ts >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
            AND ts < {future:DateTime64(3, 'UTC')}
            AND match(j.ts, '^[0-9]{4}-[0-9]{2}-[0-9]{2}')
            AND (j.schema_version IS NULL OR toFloat64OrNull(j.schema_version) = 1)
            AND session_id IS NOT NULL
            AND match(commit_sha, '^[0-9a-f]{40}$')
            AND match(event_type, '^[a-z][a-z0-9_]{0,63}$')
            AND latency_f >= 0 AND latency_f <= 86400000
            AND left(user_agent, 1) NOT IN ('{', '[')
            -- metadata must be an object, and JSONExtract gives the same text for an object
            -- and for a string holding one ("{\"a\": 1}"): a line with any string that starts
            -- with '{' (written as '"{', or escaped as '"\u007b') goes to the exact check. Three
            -- substring searches cost no more than the isValidJSON(metadata) they replace
            -- (measured on 1M lines: 0.03-0.06 s against 0.07-0.09 s of CPU).
            AND left(metadata, 1) = '{'
            AND position(line, '"{') = 0 AND position(line, '"\\u007b') = 0 AND position(line, '"\\u007B') = 0
            AND (event_type != 'llm_call' OR (
                model != '' AND operation != '' AND status != ''
                AND left(model, 1) NOT IN ('{', '[') AND left(operation, 1) NOT IN ('{', '[')
                AND left(status, 1) NOT IN ('{', '[') AND left(error_msg, 1) NOT IN ('{', '[')
                AND tokens_in_f >= 0 AND tokens_in_f <= 4294967295 AND tokens_in_f = floor(tokens_in_f)
                AND tokens_out_f >= 0 AND tokens_out_f <= 4294967295 AND tokens_out_f = floor(tokens_out_f)
                AND cost_d >= 0 AND cost_d < 1000000)),
            0) AS check
    FROM
    (
        -- Every field as text: JSON strings unquoted, numbers and booleans as their literal,
        -- objects and arrays as raw JSON. One parse per line; a line that is not valid JSON
        -- gives NULLs everywhere and so fails the checks above.
        SELECT
            file,
            line_no,
            line,
            JSONExtract(line, 'Tuple(ts Nullable(String), session_id Nullable(String), commit_sha Nullable(String),
                event_type Nullable(String), latency_ms Nullable(String), user_agent Nullable(String),
                metadata Nullable(String), schema_version Nullable(String), model Nullable(String),
                operation Nullable(String), tokens_in Nullable(String), tokens_out Nullable(String),
                cost_usd Nullable(String), status Nullable(String), error_msg Nullable(String))') AS j
        FROM __LINES__
        WHERE trimBoth(line) != ''
    )
)
-- Flagged lines go on to the exact check whatever their time; good events only when they are
-- in the window and missing from a table they belong in (idempotent: a re-run writes nothing
-- again). A line repeated within the input (or in two files read together) is one event:
-- LIMIT 1 BY keeps its first copy, so raw counts without FINAL equal the FINAL ones; flagged
-- lines are each kept (keyed by file and line).
WHERE check = 1
   OR (ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')} AND (to_ui OR to_llm))
LIMIT 1 BY if(check = 1, cityHash64(file, line_no), event_id)
-- The three views run in parallel (measured: a third less time on 1M lines).
-- optimize_on_insert = 0: no replacing merge of each inserted block (measured: 0.4 s of CPU,
-- 12% of the load on 1M lines); LIMIT 1 BY above already keeps one copy of each event.
-- min_insert_block_size_rows: the default (about 1M rows) gathered the whole file into one
-- block before the views wrote anything, so the sorting and compression of ui_events and
-- llm_events ran after the parse instead of beside it, and memory held every parsed row.
-- storage_file_read_method = 'pread': file() maps the file by default (mmap), and every page
-- of it then counts in the RSS and costs a page fault; reading into buffers does neither.
-- Measured on 1M lines (one load in a fresh process): peak RSS 1.57 GiB, 300K page faults
-- before; 1.31 GiB, 173K with 128K-row blocks; 0.92 GiB, 160K with both. The benchmark's wall
-- ratio (benchmarks/ingest_packs.py, interleaved runs on a shared 2-core machine) fell from
-- 1.35-1.74 to 1.01-1.54 in the same runs; 64K, 192K and 256K-row blocks did worse than 128K.
-- 128K-row blocks make 9 to 12 parts instead of 2 to 4 (background merges fold them).
SETTINGS short_circuit_function_evaluation = 'disable', parallel_view_processing = 1, optimize_on_insert = 0,
    min_insert_block_size_rows = 131072, storage_file_read_method = 'pread'
