-- Open insights by severity (a gauge after each run).
SELECT severity, count() AS n
FROM insights FINAL
WHERE status = 'open'
GROUP BY severity
