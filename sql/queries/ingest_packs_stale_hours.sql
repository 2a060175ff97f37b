-- Hours of a window whose rollup is missing or out of date: the stored events of the hour
-- (distinct event_id, all commits) differ from the events its session_stats rows counted.
-- A packs run rolls up only these, so a run that added nothing writes no rollup row, and an
-- hour a crashed run loaded but never rolled up is caught by the next run.
SELECT hour
FROM
(
    SELECT toDateTime(toStartOfHour(ts), 'UTC') AS hour, uniqExact(event_id) AS events
    FROM ui_events
    WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
    GROUP BY hour
) AS stored
FULL OUTER JOIN
(
    SELECT hour, sum(total_events) AS events
    FROM session_stats FINAL
    WHERE hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
    GROUP BY hour
) AS rolled USING (hour)
WHERE stored.events != rolled.events
ORDER BY hour
SETTINGS join_use_nulls = 0
