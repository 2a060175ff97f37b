-- Insights of the given types that are not resolved (open or acknowledged).
SELECT * EXCEPT (schema_version)
FROM insights FINAL
WHERE type IN {types:Array(String)} AND status != 'resolved'
