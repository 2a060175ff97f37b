-- The newest English episode number.
SELECT episode
FROM episodes FINAL
WHERE lang = 'en'
ORDER BY episode DESC
LIMIT 1
