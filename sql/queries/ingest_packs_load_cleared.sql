-- Flagged lines that the exact check cleared (a nested key of the same name set off a cheap
-- check) go back through the sink like any good line. Rare; the agent runs this only when
-- there are such lines.
INSERT INTO ingest_packs_sink
SELECT
    f.agent_run_id, f.ingested_at, f.file, f.line_no, '' AS raw, 0 AS check, f.ts, f.session_id, f.commit_sha,
    f.event_type, f.latency_ms, f.user_agent, f.metadata, f.model, f.operation, f.tokens_in, f.tokens_out,
    f.cost_usd, f.status, f.error_msg, f.event_id
FROM ingest_packs_flagged AS f
WHERE f.agent_run_id = {agent_run_id:UUID}
  AND (f.file, f.line_no) IN (SELECT file, line_no FROM muse_packs_reasons WHERE reason = '')
  AND f.ts >= {since:DateTime64(3, 'UTC')} AND f.ts < {until:DateTime64(3, 'UTC')}
  AND f.event_id NOT IN (SELECT event_id FROM ui_events
                         WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')})
