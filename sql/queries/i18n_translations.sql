-- Translations already recorded for these English episodes and languages.
SELECT
    episode,
    lang,
    path,
    status,
    published_commit
FROM episodes FINAL
WHERE translation_of IN {episodes:Array(UInt32)}
  AND lang IN {langs:Array(String)}
ORDER BY episode, lang
