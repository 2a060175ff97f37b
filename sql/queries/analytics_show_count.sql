-- How many analysed rows a data run (or run_id prefix) has, and how many distinct run_ids match
-- (through the run_analytics view, which scores them on read).
SELECT count() AS rows, uniqExact(run_id) AS runs, toString(any(run_id)) AS first_run_id
FROM run_analytics
WHERE startsWith(toString(run_id), {run_id:String})
