-- Commits first seen between {lo} and {hi}: banterhearts commits (their benchmark runs) and
-- the commits LLM events were made with (banterpacks deploys). Looked back {scan_lo} so a
-- commit already running before lo does not count as new.
SELECT repo, commit_sha, toString(first_ts) AS first_seen
FROM (
    SELECT 'banterhearts' AS repo, toStringCutToZero(commit_sha) AS commit_sha, min(ts) AS first_ts
    FROM bench_runs FINAL
    WHERE ts >= {scan_lo:DateTime64(3)} AND ts < {hi:DateTime64(3)}
    GROUP BY commit_sha
    UNION ALL
    SELECT toString(source), toStringCutToZero(commit_sha), min(ts)
    FROM llm_events
    WHERE ts >= {scan_lo:DateTime64(3)} AND ts < {hi:DateTime64(3)} AND toStringCutToZero(commit_sha) != ''
    GROUP BY source, commit_sha
)
WHERE first_ts >= {lo:DateTime64(3)}
ORDER BY first_ts, repo, commit_sha
LIMIT 20
