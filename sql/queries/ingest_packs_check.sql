-- The exact check for the lines this run's cheap checks flagged: one rule at a time, in
-- order, so the reason names the first problem and its field. Only flagged lines pay for it
-- (they are few). reason '' clears a false alarm. The same rules as ingest_packs_load, said
-- with JSONType: a number field takes a JSON number or a string holding one; a text field a
-- string or a number. Keep in step with config/schemas/ui_event.schema.json.
INSERT INTO muse_packs_reasons (file, line_no, ts, commit_sha, raw, reason)
SELECT
    file,
    line_no,
    -- The time decides which window quarantines the line; only a real ISO string counts
    -- (JSONExtract would read [1, 2] or a number as a time).
    if(isValidJSON(raw) AND JSONType(raw) = 'Object' AND JSONType(raw, 'ts') = 'String'
       AND match(JSONExtractString(raw, 'ts'), '^[0-9]{4}-[0-9]{2}-[0-9]{2}')
       AND ts >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC'), ts, NULL) AS ts_out,
    -- Output names differ from the columns: an alias would shadow the column below.
    if(match(commit_sha, '^[0-9a-f]{40}$'), commit_sha, '') AS sha_out,
    toValidUTF8(substring(raw, 1, 8192)) AS raw_out,
    multiIf(
        NOT isValidUTF8(raw), 'invalid UTF-8',
        NOT isValidJSON(raw), 'invalid JSON',
        JSONType(raw) != 'Object', 'not a JSON object',
        NOT JSONHas(raw, 'ts') OR JSONType(raw, 'ts') = 'Null', 'missing field ts',
        JSONType(raw, 'ts') != 'String', 'field ts: expected an ISO 8601 string',
        ts IS NULL OR ts < toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
            OR NOT match(JSONExtractString(raw, 'ts'), '^[0-9]{4}-[0-9]{2}-[0-9]{2}'),
            concat('field ts: not an ISO 8601 time after 2000: ', toValidUTF8(left(JSONExtractString(raw, 'ts'), 40))),
        ts >= {future:DateTime64(3, 'UTC')},
            concat('field ts: ', toValidUTF8(left(JSONExtractString(raw, 'ts'), 40)),
                   ' is in the future, beyond the clock-skew tolerance of ', {tolerance:String}),
        JSONHas(raw, 'schema_version') AND JSONType(raw, 'schema_version') != 'Null'
            AND ifNull(toFloat64OrNull(JSONExtract(raw, 'schema_version', 'Nullable(String)')), 0) != 1,
            'field schema_version: unsupported (supported: 1)',
        NOT JSONHas(raw, 'session_id') OR JSONType(raw, 'session_id') = 'Null', 'missing field session_id',
        session_id IS NULL, 'field session_id: expected a UUID string',
        NOT JSONHas(raw, 'commit_sha') OR JSONType(raw, 'commit_sha') = 'Null', 'missing field commit_sha',
        NOT match(lower(JSONExtract(raw, 'commit_sha', 'String')), '^[0-9a-f]{40}$'),
            'field commit_sha: expected 40 hex characters',
        NOT JSONHas(raw, 'event_type') OR JSONType(raw, 'event_type') = 'Null', 'missing field event_type',
        NOT match(JSONExtract(raw, 'event_type', 'String'), '^[a-z][a-z0-9_]{0,63}$'),
            'field event_type: expected a lower-case name such as query_submit',
        NOT JSONHas(raw, 'latency_ms') OR JSONType(raw, 'latency_ms') = 'Null', 'missing field latency_ms',
        toFloat64OrNull(JSONExtract(raw, 'latency_ms', 'Nullable(String)')) IS NULL
            OR JSONType(raw, 'latency_ms') NOT IN ('Int64', 'UInt64', 'Double', 'String'), 'field latency_ms: expected a number',
        toFloat64OrNull(JSONExtract(raw, 'latency_ms', 'Nullable(String)')) < 0, 'field latency_ms: negative',
        toFloat64OrNull(JSONExtract(raw, 'latency_ms', 'Nullable(String)')) > 86400000,
            'field latency_ms: above 86400000 (24 hours)',
        JSONType(raw, 'user_agent') IN ('Object', 'Array'), 'field user_agent: expected a string',
        JSONType(raw, 'metadata') NOT IN ('Object', 'Null'), 'field metadata: expected an object',
        event_type != 'llm_call', '',
        -- llm_call events also carry the llm_events fields.
        JSONType(raw, 'model') NOT IN ('String', 'Int64', 'UInt64', 'Double') OR JSONExtract(raw, 'model', 'String') = '',
            'llm_call: field model: expected a non-empty string',
        JSONType(raw, 'operation') NOT IN ('String', 'Int64', 'UInt64', 'Double') OR JSONExtract(raw, 'operation', 'String') = '',
            'llm_call: field operation: expected a non-empty string',
        toFloat64OrNull(JSONExtract(raw, 'tokens_in', 'Nullable(String)')) IS NULL
            OR JSONType(raw, 'tokens_in') NOT IN ('Int64', 'UInt64', 'Double', 'String'),
            'llm_call: field tokens_in: expected an integer',
        NOT (toFloat64OrNull(JSONExtract(raw, 'tokens_in', 'Nullable(String)')) BETWEEN 0 AND 4294967295)
            OR toFloat64OrNull(JSONExtract(raw, 'tokens_in', 'Nullable(String)'))
               != floor(toFloat64OrNull(JSONExtract(raw, 'tokens_in', 'Nullable(String)'))),
            'llm_call: field tokens_in: expected an integer in 0..4294967295',
        toFloat64OrNull(JSONExtract(raw, 'tokens_out', 'Nullable(String)')) IS NULL
            OR JSONType(raw, 'tokens_out') NOT IN ('Int64', 'UInt64', 'Double', 'String'),
            'llm_call: field tokens_out: expected an integer',
        NOT (toFloat64OrNull(JSONExtract(raw, 'tokens_out', 'Nullable(String)')) BETWEEN 0 AND 4294967295)
            OR toFloat64OrNull(JSONExtract(raw, 'tokens_out', 'Nullable(String)'))
               != floor(toFloat64OrNull(JSONExtract(raw, 'tokens_out', 'Nullable(String)'))),
            'llm_call: field tokens_out: expected an integer in 0..4294967295',
        -- The cost as the load reads it: a decimal from the text, rounded to 6 places.
        round(toDecimal128OrNull(JSONExtract(raw, 'cost_usd', 'Nullable(String)'), 12), 6) IS NULL
            OR JSONType(raw, 'cost_usd') NOT IN ('Int64', 'UInt64', 'Double', 'String'),
            'llm_call: field cost_usd: expected a number',
        NOT (round(toDecimal128OrNull(JSONExtract(raw, 'cost_usd', 'Nullable(String)'), 12), 6) >= 0
             AND round(toDecimal128OrNull(JSONExtract(raw, 'cost_usd', 'Nullable(String)'), 12), 6) < 1000000),
            'llm_call: field cost_usd: out of range 0..1000000 (1000000 and above is rejected)',
        JSONType(raw, 'status') NOT IN ('String', 'Int64', 'UInt64', 'Double') OR JSONExtract(raw, 'status', 'String') = '',
            'llm_call: field status: expected a non-empty string',
        JSONType(raw, 'error_msg') IN ('Object', 'Array'), 'llm_call: field error_msg: expected a string',
        '') AS reason
FROM ingest_packs_flagged
WHERE agent_run_id = {agent_run_id:UUID}
