-- As ingest_hearts_forget_bench, for the LLM calls of those reports.
DELETE FROM llm_events WHERE source = {source:String} AND run_id IN {run_ids:Array(UUID)}
