-- The migration ledger, created before any migration runs. One row per applied file.
CREATE TABLE IF NOT EXISTS schema_migrations {on_cluster} (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(applied_at)
ORDER BY version
