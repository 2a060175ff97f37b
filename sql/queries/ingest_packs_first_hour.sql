-- The first hour with stored telemetry (any commit): hours before it are not gaps, telemetry
-- had not begun. n = 0 when none is stored yet.
SELECT min(hour) AS first_hour, count() AS n
FROM session_stats
