-- Every report the ledger knows, for `ingest hearts --pending`.
SELECT
    toString(run_id) AS run_id,
    content_sha256,
    status,
    path
FROM ingest_reports FINAL
