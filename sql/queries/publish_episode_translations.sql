-- The current versions of an episode's published translations (i18n writes one row per
-- language with translation_of = the English episode), for `muse publish rollback`.
SELECT ts, episode, lang, translation_of, run_id, hearts_commit, packs_commit, title, path,
       confidence_score, completeness, correlation_strength, recency, tokens_total, cost_total,
       status, forced, approved_by, published_commit, schema_version
FROM episodes FINAL
WHERE translation_of = {episode:UInt32} AND lang != 'en' AND status = 'published'
ORDER BY lang
