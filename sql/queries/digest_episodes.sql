-- Digest: episodes (latest version of each episode and language) written since a time.
SELECT
    episode,
    toString(lang) AS lang,
    toString(status) AS status,
    confidence_score,
    title,
    path,
    forced,
    toString(ts) AS at
FROM episodes FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')}
ORDER BY episode DESC, lang
LIMIT 200
