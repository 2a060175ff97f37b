-- Precision of each insight type: true positives / insights acknowledged with a verdict.
SELECT
    type,
    count() AS total,
    countIf(status = 'open') AS open,
    countIf(acknowledged_at IS NOT NULL) AS acknowledged,
    countIf(verdict = 'true-positive') AS true_positives,
    countIf(verdict = 'false-positive') AS false_positives,
    if(true_positives + false_positives > 0, true_positives / (true_positives + false_positives), NULL) AS precision
FROM insights FINAL
GROUP BY type
ORDER BY type
