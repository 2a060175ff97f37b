-- Files earlier packs runs read completely (migration 005), for the files of this run: a file
-- with the same identity, read for a range and window covering this run's, is not read again.
SELECT
    path,
    inode,
    size,
    mtime_ns,
    toString(since) AS since,
    toString(until) AS until,
    toString(window_since) AS window_since,
    toString(window_until) AS window_until
FROM ingest_files
WHERE source = {source:String} AND path IN {paths:Array(String)}
