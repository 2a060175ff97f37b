-- Whether the window's rollup can be out of date at all: the stored events of the window
-- (raw count(): ClickHouse answers it from part metadata, reading no column) against the
-- events its session_stats rows counted. Equal after every clean run (the load writes no
-- duplicate), so a run that added nothing skips the per-hour check (a distinct count of the
-- window's events, 0.3 s over 1M events). Anything else (new events, a run that died before
-- its rollup, raw duplicates of an older store) runs ingest_packs_stale_hours.sql.
SELECT
    (SELECT count() FROM ui_events
     WHERE ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}) AS stored,
    (SELECT sum(total_events) FROM session_stats FINAL
     WHERE hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}) AS rolled
