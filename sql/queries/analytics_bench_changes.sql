-- Candidate regressions: in each (model, quant, dataset) series ordered by time, the first run
-- whose value is worse than the series' own trailing baseline by at least z_thr scale units
-- (Conbench-style |z| >= 5 by default; z >= for latency p95 and cost per 1k, z <= -z_thr for
-- tokens/s) and by at least min_change (a fraction of the baseline median), after a run that
-- was not. The next run is scored against the same pre-change baseline: still worse by both
-- measures confirms it; otherwise it was a one-run blip. `before` are the baseline window's
-- values and `after` the series' values from the change point on: the regression's size is
-- the ratio of their medians.
SELECT
    model, quant, dataset, metric, ts, run_id, commit_sha, value, center, scale, n, badness,
    prev_commit, has_next, next_value, next_commit, next_run_id,
    if(has_next, dir * (next_value - center) / scale, NULL) AS next_badness,
    if(has_next, dir * (next_value - center) / abs(center), NULL) AS next_change,
    has_next AND next_badness >= {z_thr:Float64} AND next_change >= {min_change:Float64} AS next_confirms,
    dir * (value - center) / abs(center) AS change,
    before, after,
    arraySlice(arrayReverse(commits), 1, 10) AS baseline_commits
FROM (
    SELECT
        model, quant, dataset, metric, dir, ts, run_id, commit_sha, value, center, scale, n, badness, flagged,
        commits, before,
        lagInFrame(flagged, 1, 0) OVER s AS prev_flagged,
        lagInFrame(n, 1, 0) OVER s AS prev_n,
        lagInFrame(commit_sha, 1, '') OVER s AS prev_commit,
        leadInFrame(value, 1, nan) OVER s AS next_value,
        leadInFrame(commit_sha, 1, '') OVER s AS next_commit,
        leadInFrame(toString(run_id), 1, '') OVER s AS next_run_id,
        row_number() OVER s < count() OVER s AS has_next,
        groupArray(value) OVER (PARTITION BY key, metric ORDER BY ts, run_id
                                ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS after
    FROM (
        SELECT
            key, model, quant, dataset, ts, run_id, commit_sha, n, commits,
            arrayJoin([('latency', 1., latency, lc, ls, la),
                       ('throughput', -1., tput, tc, tsc, ta),
                       ('cost', 1., cost, cc, cs, ca)]) AS m,
            m.1 AS metric, m.2 AS dir, m.3 AS value, m.4 AS center, m.5 AS scale, m.6 AS before,
            if(n >= {min_n:UInt32}, dir * (value - center) / scale, NULL) AS badness,
            toUInt8(ifNull(badness >= {z_thr:Float64} AND dir * (value - center) / abs(center) >= {min_change:Float64}, 0)) AS flagged
        FROM _an_bench
    )
    WINDOW s AS (PARTITION BY key, metric ORDER BY ts, run_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
)
-- The previous run must have been scored too: a series that only reaches min_n runs after a
-- change would otherwise blame whichever commit happens to be its first scored run.
WHERE flagged = 1 AND prev_flagged = 0 AND prev_n >= {min_n:UInt32}
ORDER BY ts, model, quant, dataset, metric
