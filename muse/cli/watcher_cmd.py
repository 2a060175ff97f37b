"""`muse watcher`: the freshness circuit breaker in front of the council."""

from typing import Annotated, Any

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, print_table
from muse.errors import ExitCode

app = typer.Typer(
    help="Freshness watcher: checks that the latest banterhearts and banterpacks commits have their data in "
    "the store, and blocks the council when they do not.\n\nExample: muse watcher check",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _ago(seconds: float | None) -> str:
    from muse.hours import humanize

    if seconds is None:
        return "-"
    return f"in {humanize(seconds)}" if seconds < 0 else f"{humanize(seconds)} ago"


@app.command("check")
def check_cmd(as_json: JsonOpt = False) -> None:
    """Check the latest commits' data now, record it, and open or close the council's gate.

    Statuses per repo: valid, valid_pending (no rows yet, commit younger than its threshold:
    not a failure), missing_hearts / missing_packs, lag_exceeded. Exits 0 for valid and
    valid_pending, 1 otherwise (alerted; pages after watcher.page_after_failures failed
    checks in a row), 4 when another check is running, 5 when the store is unavailable.

    Example: muse watcher check --json
    """
    from muse.agents import watcher
    from muse.runs import run_agent

    outcome = run_agent(common.settings(), watcher.AGENT, watcher.run, on_wait=common.on_wait)

    def council() -> None:
        gate = outcome.result.details.get("council")
        if gate:
            echo(gate["reason"])

    common.render_outcome(outcome, as_json=as_json, extra=council)


@app.command("status")
def status_cmd(
    as_json: JsonOpt = False,
    recent: Annotated[int, typer.Option("--recent", min=1, max=100, help="How many past checks to list.")] = 5,
) -> None:
    """Show whether the council is unblocked and why: the last check per repo, the status
    file's age and validity, and the consecutive failed checks. Read-only.

    Exits 0 when the council is unblocked, 3 when it is blocked.

    Example: muse watcher status --json
    """
    from muse import migrations
    from muse.agents import watcher
    from muse.store import open_store

    s = common.settings()
    with open_store(s, readonly=True, on_wait=common.on_wait) as store:
        migrations.require_current(store, cluster=s.store.cluster)
        info = watcher.describe(s, store, recent=recent)
    if as_json:
        print_json(info)
    else:
        _render_status(info)
    if not info["council"]["open"]:
        raise typer.Exit(int(ExitCode.BLOCKED))


def _render_status(info: dict[str, Any]) -> None:
    council = info["council"]
    echo(("UNBLOCKED. " if council["open"] else "BLOCKED. ") + info["headline"])
    if info["headline"] != council["reason"]:
        echo(f"Gate: {council['reason']}")
    last = info["last_check"]
    if last is None:
        echo("No watcher check has run yet: run `muse watcher check` (cron runs it every 15 minutes).")
        return
    echo(f"Last check: run {last['run_id'][:8]}, {_ago(last['age_seconds'])}: {last['status']}")
    thresholds = info["thresholds_minutes"]
    print_table(
        ["repo", "commit", "rows", "status", "lag", "threshold"],
        [
            (
                r["repo"],
                r["commit"][:12],
                r["rows"],
                r["status"],
                _ago(r["lag_seconds"]).replace(" ago", ""),
                f"{thresholds[r['repo']]:g} min",
            )
            for r in last["repos"]
        ],
    )
    sf = info["status_file"]
    if not sf["exists"]:
        echo(f"Status file: none at {sf['path']} (removed by a failed check, or no check has passed yet).")
    elif sf["problem"]:
        echo(f"Status file: {sf['path']} {sf['problem']}; ignored.")
    else:
        echo(
            f"Status file: {sf['path']}, names run {sf['run_id'][:8]}, written {_ago(sf['age_seconds'])} "
            f"(trusted for {info['status_max_age_minutes']:g} min)."
        )
    failures, page_after = info["consecutive_failures"], info["page_after_failures"]
    line = f"Failed checks in a row: {failures} (PagerDuty pages at {page_after})."
    if info["page_open"]:
        line += " A page is open; the next valid check resolves it."
    echo(line)
    last_valid = info["last_valid_ts"]
    if last_valid:
        from datetime import datetime, timezone

        from muse.hours import require_ts

        at = require_ts(last_valid)
        echo(
            f"Last valid check: {at:%Y-%m-%d %H:%M:%S} UTC ({_ago((datetime.now(timezone.utc) - at).total_seconds())})."
        )
    else:
        echo("Last valid check: never.")
    print_table(
        ["ts", "run", "status", "message"],
        [(r["ts"], r["run_id"][:8], r["status"], r["message"]) for r in info["recent"]],
        title="recent checks, newest first",
    )
