-- The exact verdict on each line a packs run flagged ('' clears a false alarm). Temporary:
-- lives in this session only.
CREATE TEMPORARY TABLE IF NOT EXISTS muse_packs_reasons (
    file String,
    line_no UInt64,
    ts Nullable(DateTime64(3, 'UTC')),
    commit_sha String,
    raw String,
    reason String
) ENGINE = Memory
