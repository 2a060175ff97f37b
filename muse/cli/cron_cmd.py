"""`muse cron print`: the crontab lines for the schedule in the config."""

from typing import Annotated

import typer

from muse.cli import common
from muse.cli.output import echo

app = typer.Typer(
    help="Cron: the crontab that runs every agent on the configured schedule.\n\n"
    "Example: muse cron print | crontab -u muse -",
    no_args_is_help=True,
)


@app.command("print")
def print_cmd(
    log_dir: Annotated[str, typer.Option("--log-dir", help="Where each agent's log file goes.")] = "/var/log/muse",
    env_file: Annotated[
        str, typer.Option("--env-file", help="Settings and secrets sourced by every line.")
    ] = "/etc/muse/env",
    path: Annotated[
        str, typer.Option("--path", help="PATH for the cron lines (where `muse` is installed).")
    ] = "/opt/muse/.venv/bin:/usr/local/bin:/usr/bin:/bin",
) -> None:
    """Print the crontab for the schedule in the config (schedule.* keys) on stdout.

    `muse health` judges every agent against the same schedule, so change a schedule in the
    config and reinstall the crontab: one place. The lines set CRON_TZ=schedule.timezone;
    cronie honours it, Debian's and Ubuntu's default cron do not and use the host's time
    zone, so on such a host set schedule.timezone to the host's zone (a warning says when
    they differ).

    Example: muse cron print --log-dir /var/log/muse | crontab -u muse -
    """
    import logging

    from muse.schedule import crontab_text, host_zone_name

    s = common.settings()
    tz = s.schedule.timezone or "UTC"
    host = host_zone_name()
    text = crontab_text(s, log_dir=log_dir.rstrip("/"), env_file=env_file, path=path)
    if _same_zone(host, tz):
        echo(text.rstrip("\n"))
        return
    note = (
        f"this host's time zone is {host}, schedule.timezone is {tz}: cronie honours CRON_TZ={tz}, "
        f"but Debian's and Ubuntu's default cron ignore it and run these lines in {host}; there, set "
        f"schedule.timezone: {host} (and the hours in it), or run the host in {tz}"
    )
    logging.getLogger("muse.cron").warning(note)
    echo(f"# WARNING: {note}")
    echo(text.rstrip("\n"))


def _same_zone(a: str, b: str) -> bool:
    utc = {"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu", "UCT", "Etc/UCT", "GMT", "Etc/GMT"}
    return a == b or (a in utc and b in utc)
