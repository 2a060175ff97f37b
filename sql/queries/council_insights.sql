-- Council: analytics insights about the window (regressions, outliers, cost anomalies, gaps)
-- that are not resolved, critical first.
SELECT
    insight_id, type, severity, title, description, source, operation, model, quant, dataset, commit_sha, metric,
    baseline_value, observed_value, z_score, toString(i.observed_at) AS observed,
    formatDateTime(toStartOfHour(i.observed_at), '%Y-%m-%d %H:00') AS observed_hour, status
FROM insights AS i FINAL
WHERE i.observed_at >= {since:DateTime64(3, 'UTC')} AND status != 'resolved'
ORDER BY indexOf(['critical', 'warning', 'info'], severity), i.observed_at DESC
LIMIT 50
