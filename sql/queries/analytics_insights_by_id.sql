-- The current version of the insights with these ids.
SELECT * EXCEPT (schema_version)
FROM insights FINAL
WHERE insight_id IN {ids:Array(String)}
