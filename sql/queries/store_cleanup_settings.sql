-- An embedded (chDB) process lives under a second; ClickHouse removes replaced (outdated)
-- parts only from a background cleanup thread that first runs `cleanup_delay_period`
-- (default 30 s, plus up to 10 s at random) after the table loads, and removes a part only
-- `old_parts_lifetime` after it was replaced. With these settings the thread runs one
-- second after the table loads and removes every replaced part at once, so a run that
-- lasts a second (or waits that long at its end, see EmbeddedStore.maintain) removes
-- everything earlier runs replaced. old_parts_lifetime protects a merge result that is not
-- yet on disk from a power cut; a merged part is fsynced instead
-- (min_compressed_bytes_to_fsync_after_merge = 1).
ALTER TABLE {table:Identifier} MODIFY SETTING
    old_parts_lifetime = 0,
    cleanup_delay_period = 1,
    cleanup_delay_period_random_add = 0,
    min_compressed_bytes_to_fsync_after_merge = 1
