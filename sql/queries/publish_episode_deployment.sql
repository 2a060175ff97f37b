-- The deployment that made an episode live: its newest READY deployments row.
SELECT vercel_deployment_id, commit_sha
FROM deployments FINAL
WHERE episode = {episode:UInt32} AND status = 'ready' AND vercel_deployment_id != ''
ORDER BY ts DESC
LIMIT 1
