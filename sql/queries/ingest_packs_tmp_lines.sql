-- Server store only: raw telemetry lines sent in batches from the client, because a server's
-- file() reads the server's disk, not ours. Temporary: lives in this connection only.
CREATE TEMPORARY TABLE IF NOT EXISTS muse_packs_lines (
    file String,
    line_no UInt64,
    line String
) ENGINE = Memory
