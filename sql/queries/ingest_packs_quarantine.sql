-- Bad lines of this chunk not quarantined before. A line whose ts is readable belongs to the
-- window holding that ts; one without a readable ts, or dated beyond the clock-skew tolerance
-- (no window holds it yet), to the first run that reads its file.
SELECT
    file,
    line_no,
    reason,
    raw,
    cityHash64(raw) AS raw_hash,
    commit_sha
FROM muse_packs_reasons
WHERE reason != ''
  AND (ts IS NULL OR (ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')})
       OR ts >= {future:DateTime64(3, 'UTC')})
  AND (file, line_no, cityHash64(raw)) NOT IN (
      SELECT file, line, raw_hash FROM ingest_quarantine WHERE source = 'banterpacks')
ORDER BY file, line_no
