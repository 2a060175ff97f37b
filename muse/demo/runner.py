"""`muse demo`: the pipeline on generated data, as a list of steps later agents extend.

:func:`run_demo` runs :data:`STEPS` in order; each step is a plain function of a
:class:`DemoContext` that returns one summary line (or raises a MuseError, which stops the
demo with that error's exit code). To add an agent to the demo, append a step::

    def _watcher(ctx: DemoContext) -> str:
        outcome = ctx.run_agent("watcher", watcher.run)
        return outcome.result.message

    STEPS.append(DemoStep("watcher check", _watcher))

Safety: the demo's data lives under ``<state dir>/demo`` (never the current directory); it
refuses a store that holds data it did not load (the store is marked in ``store_meta``); it
never sends alerts or metrics anywhere but the local state dir; and it writes its own config
``<state dir>/demo/muse.yaml`` (never the user's), which muse reads when the user has no
config file of their own, so after the demo every command works on the demo's store and repos.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from muse.demo import data as demodata
from muse.config import Settings
from muse.errors import ExitCode, MuseError, UsageError
from muse.hours import floor_hour, iso_hour, parse_ts
from muse.hours import utcnow
from muse.runs import RunOutcome
from muse.telemetry import Telemetry

log = logging.getLogger(__name__)

DEMO_MARKER_KEY = "demo"
DEMO_BENCH_MIN_RUNS = 10  # see step_generate
# Tables whose rows mean "this store holds data"; the demo will not mix its data into them.
DATA_TABLES = ("bench_runs", "llm_events", "ui_events", "session_stats", "episodes", "watcher_runs", "deployments")


@dataclass
class DemoContext:
    """What every demo step gets."""

    settings: Settings  # effective settings with the demo's repos and telemetry dir
    user_config: Path | None  # the user's own config file, if they have one (it wins after the demo)
    paths: demodata.DemoPaths
    echo: Callable[[str], None]
    telemetry: Telemetry  # local only: metrics.json and alerts.jsonl in the state dir
    now: datetime
    days: int = 14
    scale: float = 1.0
    manifest: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    pipeline: Any = None
    fresh_data: bool = True  # step_generate added commits or telemetry hours
    until: str | None = None  # stop the pipeline after this agent (tests with a fixed clock)

    def set_config(self, key: str, value: Any) -> None:
        """Set a key in the demo's settings and in <state dir>/demo/muse.yaml."""
        self.settings.values[key] = value
        self.settings.sources[key] = f"demo {self.paths.config}"
        self.config[key] = value
        _write_config(self.paths.config, self.config)

    def run_agent(
        self, agent: str, fn: Callable[..., Any], *, accept: tuple[ExitCode, ...] = (ExitCode.OK,), **options: Any
    ) -> RunOutcome:
        """Run an agent with the shared lifecycle and local telemetry; record its outcome.

        An exit code outside ``accept`` stops the demo with that code (pass e.g.
        ``accept=(ExitCode.OK, ExitCode.BLOCKED)`` for a step that shows the circuit breaker).
        """
        from muse.runs import run_agent

        outcome = run_agent(self.settings, agent, fn, telemetry=self.telemetry, **options)
        self.outcomes[agent] = outcome
        if outcome.exit_code not in accept:
            raise _StepFailed(outcome)
        return outcome


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[DemoContext], str]


@dataclass
class DemoResult:
    exit_code: ExitCode
    steps: list[tuple[str, str, str]]  # (name, status, summary)
    context: DemoContext


class _StepFailed(Exception):
    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__(outcome.result.message)
        self.outcome = outcome


# -- steps ---------------------------------------------------------------------------------


def step_store(ctx: DemoContext) -> str:
    """Migrate the store and make sure it is the demo's (marked) or empty (then mark it)."""
    from muse import migrations
    from muse.store import open_store

    with open_store(ctx.settings) as store:
        done = migrations.migrate(store, cluster=ctx.settings.store.cluster)
        marker = store.query(
            "SELECT value FROM store_meta FINAL WHERE key = {k:String}", {"k": DEMO_MARKER_KEY}
        ).scalar()
        if marker is None:
            held = []
            for table in DATA_TABLES:
                n = store.query(f"SELECT count() FROM {table}").scalar(0)
                if n:
                    held.append(f"{n} row(s) in {table}")
            if held:
                raise UsageError(
                    f"the store ({store.describe()}) holds data the demo did not load ({', '.join(held)}); "
                    "the demo will not mix its data into it",
                    hint="run the demo in a state dir of its own: muse --state-dir /tmp/muse-demo demo",
                )
            store.insert(
                "store_meta",
                [
                    {
                        "key": DEMO_MARKER_KEY,
                        "value": json.dumps(
                            {"created": iso_hour(ctx.now), "demo_dir": str(ctx.paths.root), "seed": demodata.SEED}
                        ),
                    }
                ],
            )
        where = store.describe()
    return f"{where}; {len(done)} migration(s) applied" + ("" if marker is None else "; demo store (marked)")


def step_generate(ctx: DemoContext) -> str:
    """Create or extend the repos and telemetry up to the current hour; write the demo config."""
    result = demodata.generate(ctx.paths.root, now=ctx.now, days=ctx.days, scale=ctx.scale)
    ctx.manifest = result.manifest
    ctx.set_config("repos.banterhearts.path", str(ctx.paths.hearts))
    ctx.set_config("repos.banterpacks.path", str(ctx.paths.packs))
    ctx.set_config("telemetry_dir", str(ctx.paths.telemetry))
    # A fortnight of demo holds about 17 benchmark runs per series before the planted
    # regression, under the 30 a benchmark z-score needs by default: the demo accepts 10.
    ctx.set_config("analytics.bench_min_baseline_runs", DEMO_BENCH_MIN_RUNS)
    span = f"{ctx.manifest['start']} .. {ctx.manifest['generated_until']}"
    ctx.fresh_data = bool(result.new_hearts_commits or result.new_packs_commits or result.new_hours)
    if not ctx.fresh_data:
        return f"{ctx.paths.root}: up to date ({span})"
    return (
        f"{ctx.paths.root}: +{result.new_hearts_commits} banterhearts commit(s), +{result.new_packs_commits} "
        f"banterpacks commit(s), +{result.new_hours} telemetry hour(s) ({result.new_events} events); {span}"
    )


def step_blog(ctx: DemoContext) -> str:
    """A local blog repo with a bare origin, standing in for GitHub + Vercel."""
    from muse.publishing.blogrepo import create_local_blog

    clone = create_local_blog(ctx.paths.root)
    ctx.set_config("repos.banterblogs.path", str(clone))
    return f"{clone} (origin {clone.parent / (clone.name + '.git')}; no Vercel token: deploys are skipped)"


PIPELINE_STAMP = "pipeline-done.json"


def _pipeline_stamp(ctx: DemoContext) -> dict[str, Any]:
    """What a finished pipeline ran on: the generated data's end, the effective settings and
    where it stopped."""
    from muse import __version__

    settings = json.dumps(ctx.settings.values, sort_keys=True, default=str)
    return {
        "generated_until": ctx.manifest.get("generated_until"),
        "settings_sha256": hashlib.sha256(settings.encode()).hexdigest(),
        "muse": __version__,
        "until": ctx.until,
    }


def step_pipeline(ctx: DemoContext) -> str:
    """`muse run` on the demo data: ingest, watcher, analytics, council, publish, i18n.

    Skipped when the pipeline already finished on exactly this data with these settings
    (same hour, nothing generated): a second `muse demo` then writes nothing at all, not
    even run-log rows."""
    from muse.fsutil import atomic_write_text
    from muse.pipeline import run_pipeline

    stamp_path = ctx.paths.root / PIPELINE_STAMP
    stamp = _pipeline_stamp(ctx)
    if not ctx.fresh_data:
        try:
            previous = json.loads(stamp_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous == stamp:
            return "up to date: the pipeline already ran on this data with these settings; nothing to do"

    start = parse_ts(ctx.manifest["start"])
    overrides = {"ingest-packs": {"since": start, "until": floor_hour(ctx.now), "now": ctx.now}}

    def show(outcome: RunOutcome) -> None:
        ctx.outcomes[outcome.agent] = outcome
        res = outcome.result
        ctx.echo(f"  {outcome.agent:<13} {res.status:<8} {outcome.duration_s:6.2f}s  {res.message}")
        summary = res.details.get("summary") if isinstance(res.details, dict) else None
        if outcome.agent == "analytics" and summary:
            for line in summary[:6]:
                ctx.echo(f"                found: {line}")

    stamp_path.unlink(missing_ok=True)
    result = run_pipeline(ctx.settings, overrides=overrides, on_step=show, telemetry=ctx.telemetry, until=ctx.until)
    ctx.pipeline = result
    if result.exit_code != ExitCode.OK:
        worst = max(result.outcomes, key=lambda o: int(o.exit_code))
        raise _StepFailed(worst)
    atomic_write_text(stamp_path, json.dumps(stamp, sort_keys=True) + "\n")
    return f"{len(result.outcomes)} agents ran; {result.reason}"


def step_summary(ctx: DemoContext) -> str:
    """What the store now holds, and where the planted events are."""
    from muse.store import open_store

    planted = ctx.manifest.get("planted", {})
    counts, p95 = _store_counts(ctx, planted.get("latency_regression", {}))
    lines = [f"  {k}: {v}" for k, v in counts.items()]
    ctx.echo("Store now holds:")
    for line in lines:
        ctx.echo(line)
    _echo_planted(ctx, planted, p95)
    _echo_next_steps(ctx)
    episode = _episode_line(ctx)
    from muse.ops.digest import build_digest, render_digest_text

    with open_store(ctx.settings, readonly=True) as store:
        ctx.echo("")
        ctx.echo(render_digest_text(build_digest(store, days=7, now=ctx.now)).rstrip("\n"))
    ctx.echo("")
    ctx.echo(episode)
    return f"{counts.get('bench_runs', 0)} bench rows, {counts.get('ui_events', 0)} UI events"


def _store_counts(ctx: DemoContext, reg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row counts of the main tables, and the planted regression's series p95 before and
    after its commit ({} when none was planted)."""
    from muse.store import open_store

    with open_store(ctx.settings, readonly=True) as store:
        counts = (
            store.query(
                "SELECT (SELECT count() FROM bench_runs FINAL) AS bench_runs, "
                "(SELECT uniqExact(commit_sha) FROM bench_runs FINAL) AS hearts_commits, "
                "(SELECT count() FROM ui_events FINAL) AS ui_events, "
                "(SELECT count() FROM llm_events FINAL) AS llm_events, "
                "(SELECT count() FROM session_stats FINAL) AS session_stats, "
                "(SELECT count() FROM ingest_gaps FINAL) AS gaps, "
                "(SELECT count() FROM ingest_quarantine FINAL) AS quarantined"
            ).first()
            or {}
        )
        p95 = {}
        if reg.get("commit"):
            p95 = (
                store.query(
                    "SELECT avgIf(latency_p95_ms, ts < {t:DateTime64(3, 'UTC')}) AS before, "
                    "avgIf(latency_p95_ms, ts >= {t:DateTime64(3, 'UTC')}) AS after "
                    "FROM bench_runs FINAL WHERE model = {m:String} AND quant = {q:String}",
                    {"t": reg["at"].replace("T", " ").rstrip("Z"), "m": reg["model"], "q": reg["quant"]},
                ).first()
                or {}
            )
    return counts, p95


def _echo_planted(ctx: DemoContext, planted: dict[str, Any], p95: dict[str, Any]) -> None:
    """Where the manifest's planted events are, those the demo's time window reached."""
    reg = planted.get("latency_regression", {})
    ctx.echo("Planted for the agents that follow (also in " + str(ctx.paths.manifest) + "):")
    if reg.get("commit"):
        change = (p95["after"] / p95["before"] - 1) * 100 if p95.get("before") else 0.0
        ctx.echo(
            f"  latency regression: banterhearts commit {reg['commit'][:12]} ({reg['commit_time']}), "
            f"{reg['model']}/{reg['quant']} p95 {p95.get('before', 0):.0f} -> {p95.get('after', 0):.0f} ms "
            f"({change:+.0f}%), on every later commit too"
        )
    if reg.get("commit"):
        thr = planted.get("throughput_drop", {})
        shift = planted.get("llm_latency_shift", {})
        ctx.echo(f"  throughput drop: same series tokens/s x{thr.get('factor', 0):.2f} from that commit on")
        ctx.echo(
            f"  LLM latency shift: every {shift.get('model')} call x{shift.get('factor', 0):g} from "
            f"{shift.get('start_hour')} (the app's calls: a level_shift insight)"
        )
        ctx.echo(
            f"  (the demo's history is short: benchmark z-scores from {DEMO_BENCH_MIN_RUNS} earlier runs, "
            f"not the default 30)"
        )
    if planted.get("cost_spike", {}).get("reached"):
        ctx.echo(
            f"  cost spike: banterpacks LLM cost x{planted['cost_spike']['factor']:g} "
            f"in the hour {planted['cost_spike']['hour']}"
        )
    if planted.get("telemetry_gap", {}).get("reached"):
        ctx.echo(f"  telemetry gap: no events in the hour {planted['telemetry_gap']['hour']} (see ingest_gaps)")
    if planted.get("quarantined_line", {}).get("reached"):
        q = planted["quarantined_line"]
        ctx.echo(f"  bad telemetry line: {q['file']}:{q['line']} ({q['reason']}), quarantined")


def _echo_next_steps(ctx: DemoContext) -> None:
    """Commands to try next, and which config they read."""
    ctx.echo("Try:")
    ctx.echo(
        '  muse query "SELECT model, quant, round(avg(latency_p95_ms)) AS p95 FROM bench_runs FINAL '
        'GROUP BY model, quant ORDER BY model, quant"'
    )
    ctx.echo("  muse insights list   |   muse watcher status   |   muse digest   |   muse run")
    if ctx.user_config is not None:
        ctx.echo(
            f"Note: your config {ctx.user_config} takes precedence over the demo's; "
            f"use `muse --config {ctx.paths.config} ...` to look at the demo data."
        )


def _episode_line(ctx: DemoContext) -> str:
    council = ctx.outcomes.get("council")
    if council is None and ctx.pipeline is None:  # the pipeline was up to date: say what is there
        return _stored_episode_line(ctx)
    if council is not None and council.result.status == "ok" and not council.result.details.get("path"):
        # Nothing new to write (the episode for these commits is already out): show the stored one.
        return f"{council.result.message}\n{_stored_episode_line(ctx)}"
    if council is None or not council.result.details.get("path"):
        return "No episode was written (see the pipeline lines above)."
    d = council.result.details
    publish = ctx.outcomes.get("publish")
    where = publish.result.message if publish is not None else "not published"
    return (
        f"Episode {d['episode']} ({d['status']}, confidence {d['confidence']:.2f}): {d['path']}\n"
        f"Publisher: {where}\n"
        f"Read it: muse council preview {d['episode']}  |  trace its numbers: muse council trace {d['episode']}"
    )


def _stored_episode_line(ctx: DemoContext) -> str:
    from muse.store import open_store

    with open_store(ctx.settings, readonly=True) as store:
        row = store.query(
            "SELECT episode, status, confidence_score, path FROM episodes FINAL WHERE lang = 'en' "
            "ORDER BY episode DESC LIMIT 1"
        ).first()
    if row is None:
        return "No episode in the store yet."
    blog = ctx.settings.repos.banterblogs.dir
    path = blog / row["path"] if blog is not None else Path(row["path"])  # stored relative to the blog repo
    return (
        f"Episode {row['episode']} ({row['status']}, confidence {float(row['confidence_score']):.2f}): {path}\n"
        f"Read it: muse council preview {row['episode']}  |  trace its numbers: muse council trace {row['episode']}"
    )


# The demo, in order: data, then the same pipeline as `muse run`.
STEPS: list[DemoStep] = [
    DemoStep("prepare store", step_store),
    DemoStep("generate demo data", step_generate),
    DemoStep("blog repo", step_blog),
    DemoStep("pipeline", step_pipeline),
]
# Runs last, after every step in STEPS.
SUMMARY = DemoStep("summary", step_summary)


def demo_settings(settings: Settings, paths: demodata.DemoPaths) -> Settings:
    """The user's effective settings with the demo's repos and telemetry dir on top (flag level,
    so an environment variable cannot point the demo at real data)."""
    values = dict(settings.values)
    sources = dict(settings.sources)
    overrides = {
        "repos.banterhearts.path": str(paths.hearts),
        "repos.banterpacks.path": str(paths.packs),
        "telemetry_dir": str(paths.telemetry),
    }
    for key, value in overrides.items():
        values[key] = value
        sources[key] = f"demo {paths.config}"
    return Settings(values=values, sources=sources, config_file=settings.config_file, problems=list(settings.problems))


def run_demo(
    settings: Settings,
    echo: Callable[[str], None],
    *,
    now: datetime | None = None,
    days: int = 14,
    scale: float = 1.0,
    steps: list[DemoStep] | None = None,
    until: str | None = None,
) -> DemoResult:
    """Run the demo steps (default :data:`STEPS`, then the summary); never raises for a step.

    ``now`` moves the generated data's clock. The agents after ingestion read the wall
    clock, so a ``now`` in the past goes with ``until="ingest-packs"``.
    """
    now = now or utcnow()
    settings.ensure_state_dir()
    paths = demodata.DemoPaths(settings.state_dir / "demo")
    user_config = settings.config_file if settings.config_file and settings.config_file != paths.config else None
    ctx = DemoContext(
        settings=demo_settings(settings, paths),
        user_config=user_config,
        paths=paths,
        echo=echo,
        telemetry=Telemetry(state_dir=settings.state_dir),
        now=now,
        days=days,
        scale=scale,
        until=until,
    )
    ctx.config = _read_config(paths.config)
    plan = list(steps if steps is not None else STEPS) + [SUMMARY]
    done: list[tuple[str, str, str]] = []
    code = ExitCode.OK
    for i, step in enumerate(plan, start=1):
        try:
            summary = step.run(ctx)
        except _StepFailed as exc:
            res = exc.outcome.result
            echo(f"[{i}/{len(plan)}] {step.name}: {res.status} - {res.message}")
            done.append((step.name, res.status, res.message))
            code = exc.outcome.exit_code
            break
        except MuseError as exc:
            echo(f"[{i}/{len(plan)}] {step.name}: failed - {exc.message}")
            if exc.hint:
                echo(f"  hint: {exc.hint}")
            done.append((step.name, "failed", exc.message))
            code = exc.exit_code
            break
        echo(f"[{i}/{len(plan)}] {step.name}: {summary}")
        done.append((step.name, "ok", summary))
    return DemoResult(code, done, ctx)


def _read_config(path: Path) -> dict[str, Any]:
    from muse.config import read_config_file

    try:
        return read_config_file(path) if path.is_file() else {}
    except MuseError:
        return {}


def _write_config(path: Path, flat: dict[str, Any]) -> None:
    """Write the demo config as nested YAML with a header saying what wrote it."""
    import yaml

    nested: dict[str, Any] = {}
    for key in sorted(flat):
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = flat[key]
    text = (
        "# Written by `muse demo`: the demo's repos and telemetry. muse reads this file when you have\n"
        "# no config of your own; delete the demo folder to forget the demo.\n"
        + yaml.safe_dump(nested, sort_keys=True, default_flow_style=False)
    )
    demodata._write_atomic(path, text)
