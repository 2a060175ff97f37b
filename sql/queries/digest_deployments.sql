-- Digest: deployments since a time, one line per deployment with its latest state.
SELECT
    episode,
    vercel_deployment_id,
    toString(argMax(status, ts)) AS status,
    max(build_time_ms) AS build_time_ms,
    argMax(url, ts) AS url,
    toString(max(ts)) AS last_at
FROM deployments FINAL
WHERE ts >= {since:DateTime64(3, 'UTC')}
GROUP BY episode, vercel_deployment_id
ORDER BY max(ts) DESC
LIMIT 100
