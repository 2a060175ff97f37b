-- Did muse's last change to production roll it back (so Vercel pins it) or promote a deployment?
SELECT status
FROM deployments FINAL
WHERE status IN ('rollback', 'promoted')
ORDER BY ts DESC
LIMIT 1
