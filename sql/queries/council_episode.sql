-- One episode's latest row version.
SELECT episode, lang, toString(ts) AS ts, toString(run_id) AS run_id, hearts_commit, packs_commit, title, path,
       confidence_score, completeness, correlation_strength, recency, tokens_total, toFloat64(cost_total) AS cost_total,
       status, forced, approved_by
FROM episodes FINAL
WHERE episode = {episode:UInt32} AND lang = {lang:String}
