"""`muse ingest`: banterhearts benchmark reports and banterpacks UI telemetry."""

from typing import Annotated, Optional

import typer

from muse.cli import common
from muse.errors import UsageError

app = typer.Typer(
    help="Load banterhearts reports and banterpacks telemetry into the store.\n\nExample: muse ingest packs --hours 24",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the run result as JSON.")]


@app.command("hearts")
def hearts_cmd(
    run_id: Annotated[
        Optional[str], typer.Option("--run-id", help="Ingest reports/benchmarks/RUN_ID.json (a UUID).")
    ] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Ingest every report not ingested yet (the cron path).")
    ] = False,
    repo: Annotated[
        Optional[str], typer.Option("--repo", help="banterhearts checkout; default repos.banterhearts.path.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate benchmark reports and write bench_runs and llm_events (idempotent).

    A report that breaks the format is rejected with one line naming the file, record and
    field, quarantined, and the others are still ingested (exit 1 when any was rejected).

    Example: muse ingest hearts --pending

    Example: muse ingest hearts --run-id 123e4567-e89b-42d3-a456-426614174000
    """
    from muse.agents import ingest_hearts
    from muse.runs import run_agent

    if bool(run_id) == pending:
        raise UsageError("pass exactly one of --run-id UUID or --pending")
    if run_id:
        run_id = ingest_hearts.parse_run_id(run_id)  # a usage error before anything runs
    outcome = run_agent(
        common.settings(),
        ingest_hearts.AGENT,
        ingest_hearts.run,
        on_wait=common.on_wait,
        run_id=run_id,
        pending=pending,
        repo=repo,
    )
    common.render_outcome(outcome, as_json=as_json)


@app.command("packs")
def packs_cmd(
    hours: Annotated[
        Optional[int],
        typer.Option("--hours", min=1, help="The last N complete hours (default 1; at most 70272, 8 years)."),
    ] = None,
    since: Annotated[
        Optional[str],
        typer.Option("--since", help="Window start, ISO 8601 (UTC if no zone); rounded down to the hour."),
    ] = None,
    until: Annotated[
        Optional[str],
        typer.Option("--until", help="Window end (exclusive), rounded up to the hour; default: the current hour."),
    ] = None,
    telemetry_dir: Annotated[
        Optional[str], typer.Option("--dir", help="Telemetry folder; default telemetry_dir.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Load UI telemetry, roll up the hours, detect gaps, quarantine bad lines.

    Re-running an hour never duplicates events and replaces that hour's rollup.

    Example: muse ingest packs

    Example: muse ingest packs --since 2026-05-01T00:00Z --until 2026-05-08T00:00Z
    """
    from muse.agents import ingest_packs
    from muse.cli.progress import progress_bar
    from muse.hours import parse_when, resolve_window
    from muse.runs import run_agent, utcnow

    if hours is not None and (since or until):
        raise UsageError("use either --hours or --since/--until, not both")
    if until and not since:
        raise UsageError("--until needs --since")
    # Parse here so a typo is a usage error (exit 2), not a failed run.
    since_dt = parse_when(since, option="--since") if since else None
    until_dt = parse_when(until, option="--until") if until else None
    # The window's bounds too (at most 8 years, not before 1970): one line, exit 2, before
    # the store is opened.
    resolve_window(hours=None if (since_dt or until_dt) else (hours or 1), since=since_dt, until=until_dt, now=utcnow())
    with progress_bar() as progress:
        outcome = run_agent(
            common.settings(),
            ingest_packs.AGENT,
            ingest_packs.run,
            on_wait=common.on_wait,
            progress=progress,
            hours=hours or 1,
            since=since_dt,
            until=until_dt,
            telemetry_dir=telemetry_dir,
        )
    common.render_outcome(outcome, as_json=as_json)
