-- A packs run clears its scratch rows when done (the table's TTL clears a crashed run's).
DELETE FROM ingest_packs_flagged WHERE agent_run_id = {agent_run_id:UUID}
