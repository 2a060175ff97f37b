-- Whole files (line 0) already quarantined for a source, with the hash that names their
-- version: an unreadable telemetry file or a conflicting report is reported once, not every run.
SELECT file, raw_hash, reason
FROM ingest_quarantine
WHERE source = {source:String} AND line = 0
