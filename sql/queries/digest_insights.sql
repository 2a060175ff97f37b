-- Digest: the analytics insights, for the open ones (critical first). Read whole rows:
-- the digest picks severity, acknowledgement and text from the columns it finds.
SELECT *
FROM insights FINAL
LIMIT {limit:UInt32}
