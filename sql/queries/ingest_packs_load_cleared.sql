-- Flagged lines that the exact check cleared (a nested key of the same name set off a cheap
-- check) go back through the sink like any good line. Rare; the agent runs this only when
-- there are such lines.
-- Like the load, each table gets the event only when it lacks it, and once (LIMIT 1 BY).
INSERT INTO ingest_packs_sink (agent_run_id, ingested_at, file, line_no, raw, check, ts, session_id, commit_sha,
    event_type, latency_ms, user_agent, metadata, model, operation, tokens_in, tokens_out, cost_usd, status,
    error_msg, event_id, to_ui, to_llm)
SELECT
    f.agent_run_id, f.ingested_at, f.file, f.line_no, '' AS raw, 0 AS check, f.ts, f.session_id, f.commit_sha,
    f.event_type, f.latency_ms, f.user_agent, f.metadata, f.model, f.operation, f.tokens_in, f.tokens_out,
    f.cost_usd, f.status, f.error_msg, f.event_id,
    f.event_id NOT IN (SELECT event_id FROM ui_events
                       WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}) AS to_ui,
    f.event_type = 'llm_call'
        AND f.event_id NOT IN (SELECT event_id FROM llm_events
                               WHERE source = 'banterpacks'
                                 AND ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}) AS to_llm
FROM ingest_packs_flagged AS f
WHERE f.agent_run_id = {agent_run_id:UUID}
  AND (f.file, f.line_no) IN (SELECT file, line_no FROM muse_packs_reasons WHERE reason = '')
  AND f.ts >= {since:DateTime64(3, 'UTC')} AND f.ts < {until:DateTime64(3, 'UTC')}
  AND (to_ui OR to_llm)
LIMIT 1 BY f.event_id
