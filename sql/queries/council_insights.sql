-- Council: analytics insights about the window (regressions, outliers, cost anomalies, gaps),
-- critical first.
SELECT
    insight_id, type, severity, title, description, model, quant, dataset, commit_sha, metric,
    baseline_value, observed_value, z_score, toString(created_at) AS created_at
FROM insights FINAL
WHERE created_at >= {since:DateTime64(3, 'UTC')}
ORDER BY multiIf(severity = 'critical', 0, severity = 'warning', 1, 2), created_at DESC
LIMIT 50
