-- The store's parts: live (active) and replaced but not yet removed (outdated), with bytes.
SELECT
    countIf(active) AS active_parts,
    sumIf(bytes_on_disk, active) AS active_bytes,
    countIf(NOT active) AS outdated_parts,
    sumIf(bytes_on_disk, NOT active) AS outdated_bytes
FROM system.parts
WHERE database = currentDatabase()
