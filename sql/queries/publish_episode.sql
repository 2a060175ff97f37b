-- The current version of one English episode row (a status change is a newer row version).
SELECT ts, episode, lang, translation_of, run_id, hearts_commit, packs_commit, title, path,
       confidence_score, completeness, correlation_strength, recency, tokens_total, cost_total,
       status, forced, approved_by, published_commit, schema_version
FROM episodes FINAL
WHERE episode = {episode:UInt32} AND lang = 'en'
ORDER BY ts DESC
LIMIT 1
