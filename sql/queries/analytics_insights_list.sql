-- Insights for `muse insights list`: open ones first, then by severity and recency.
SELECT * EXCEPT (schema_version)
FROM insights FINAL
WHERE ({severity:String} = '' OR severity = {severity:String})
  AND ({type:String} = '' OR type = {type:String})
  AND ({open_only:UInt8} = 0 OR status = 'open')
ORDER BY status = 'open' DESC, indexOf(['info', 'warning', 'critical'], severity) DESC, observed_at DESC, insight_id
LIMIT {limit:UInt32}
