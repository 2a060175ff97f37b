-- MergeTree tables of the store that lack the cleanup settings of an embedded store (see
-- store_cleanup_settings.sql and docs/operations.md "Store size"): tables made by a migration
-- before 006, or by one that did not say them.
SELECT name
FROM system.tables
WHERE database = currentDatabase()
  AND engine LIKE '%MergeTree'
  AND NOT is_temporary
  AND position(create_table_query, 'cleanup_delay_period = 1') = 0
ORDER BY name
