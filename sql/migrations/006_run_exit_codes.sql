-- 006: every run is recorded with the exit code the process ended with (docs/operations.md):
-- 0 ok, 1 failed, 2 usage, 3 blocked, 4 skipped (another run held the agent's lock),
-- 5 store unavailable, 130/143 interrupted (SIGINT/SIGTERM). NULL while the run is
-- running, and for runs recorded before this migration. Runs that could not reach the
-- store (exit 4 and 5) are kept in <state dir>/runs/ledger.jsonl and folded in here by
-- the next run that reaches it.
ALTER TABLE agent_runs {on_cluster} ADD COLUMN IF NOT EXISTS exit_code Nullable(UInt8) AFTER status;
