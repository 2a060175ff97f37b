-- Insights whose id starts with the given prefix (at most a few, to report ambiguity).
SELECT * EXCEPT (schema_version)
FROM insights FINAL
WHERE startsWith(insight_id, {prefix:String})
ORDER BY insight_id
LIMIT 5
