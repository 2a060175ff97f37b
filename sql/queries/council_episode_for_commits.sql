-- Council: the episode already written for this pair of commits (re-runs keep its number),
-- and the highest episode number so far.
SELECT
    (SELECT max(episode) FROM episodes FINAL WHERE lang = 'en'
        AND hearts_commit = {hearts:String} AND packs_commit = {packs:String}) AS existing,
    (SELECT countIf(lang = 'en' AND hearts_commit = {hearts:String} AND packs_commit = {packs:String})
        FROM episodes FINAL) AS existing_count,
    (SELECT max(episode) FROM episodes FINAL WHERE lang = 'en') AS highest
