-- Every llm_events row (latest version) of the hours being analysed: a bucket's sums need
-- all of its rows, not only the new ones. is_cand marks the rows that get a record.
-- Input context: category from tokens_in bands; complexity = ln(1 + tokens_in) scaled so
-- that 4x the 'huge' threshold is 1. The three group keys hash their level's name with the
-- columns that define it (genus: the cluster plus a power-of-two tokens_in bucket, as the
-- events carry no prompt-template id), so keys of different levels never collide.
CREATE TEMPORARY TABLE _an_rows ENGINE = Memory AS
SELECT
    source, ts, event_id, run_id, toStringCutToZero(commit_sha) AS commit_sha, model, operation, tokens_in, tokens_out,
    toFloat64(cost_usd) AS cost,
    toFloat64(latency_ms) AS latency,
    toFloat64(tokens_in + tokens_out) AS tokens,
    toUInt8(CAST(status AS String) NOT IN ('ok', 'success')) AS is_error,
    ingested_at,
    toDateTime(toStartOfHour(ts), 'UTC') AS hour,
    multiIf(tokens_in < {t_small:UInt32}, 'tiny', tokens_in < {t_medium:UInt32}, 'small',
            tokens_in < {t_large:UInt32}, 'medium', tokens_in < {t_huge:UInt32}, 'large', 'huge') AS category,
    toFloat32(least(1., log(1 + tokens_in) / {cx_max:Float64})) AS complexity,
    CAST(cityHash64('global', source, operation) AS UInt64) AS global_key,
    CAST(cityHash64('cluster', source, operation, model, category) AS UInt64) AS cluster_key,
    CAST(cityHash64('genus', source, operation, model, category, toUInt8(floor(log2(tokens_in + 1)))) AS UInt64) AS genus_key,
    toUInt8({full:UInt8} = 1 OR (source, ts, event_id) IN (SELECT source, ts, event_id FROM _an_cand)) AS is_cand
FROM llm_events FINAL
WHERE ts >= {h_lo:DateTime64(3)} AND ts < {h_hi:DateTime64(3)}
  AND ({full:UInt8} = 1 OR toDateTime(toStartOfHour(ts), 'UTC') IN (
      SELECT DISTINCT toDateTime(toStartOfHour(ts), 'UTC') FROM _an_cand))
