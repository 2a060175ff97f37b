-- English episodes for `muse i18n sync`: with {episode:Int64} < 0, every episode whose
-- latest version is published and was published within the last {days:UInt32} days; else
-- that one episode whatever its status (the agent refuses unpublished ones, saying why).
-- FINAL picks each (episode, lang)'s latest row version before WHERE filters it.
SELECT
    episode,
    title,
    path,
    toString(ts) AS version_ts,
    status,
    hearts_commit,
    packs_commit,
    confidence_score,
    completeness,
    correlation_strength,
    recency,
    forced
FROM episodes FINAL
WHERE lang = 'en'
  AND if({episode:Int64} >= 0,
         episode = {episode:Int64},
         status = 'published' AND ts >= now64(3) - toIntervalDay({days:UInt32}))
ORDER BY episode
