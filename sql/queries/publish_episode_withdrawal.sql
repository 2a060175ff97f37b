-- The Vercel side of an episode's last rollback (git is recorded in episodes): its newest
-- withdrawal row. 'rollback_failed' means production may still serve it, so
-- `muse publish rollback` tries again.
SELECT status
FROM deployments FINAL
WHERE episode = {episode:UInt32}
  AND status IN ('rollback', 'rollback_clean', 'rollback_redeployed', 'rollback_failed', 'rollback_skipped')
ORDER BY ts DESC
LIMIT 1
