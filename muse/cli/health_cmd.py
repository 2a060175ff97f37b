"""`muse health`: is everything muse needs in place, reachable, and running on schedule?"""

from typing import Annotated, Optional

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, print_table


def register(app: typer.Typer) -> None:
    @app.command("health")
    def health_cmd(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        offline: Annotated[
            bool,
            typer.Option("--offline", help="Skip the network probes of Datadog, DeepL, Vercel, Slack and PagerDuty."),
        ] = False,
        send_test: Annotated[
            bool,
            typer.Option(
                "--send-test", help="Also post a test message to Slack and trigger+resolve a test PagerDuty event."
            ),
        ] = False,
        timeout: Annotated[
            Optional[float],
            typer.Option(
                "--timeout", min=0.1, help="Seconds per probe request (default: health.probe_timeout_seconds)."
            ),
        ] = None,
    ) -> None:
        """Check the state dir, store, schema, repos, integrations (live) and every agent's schedule.

        Each agent's last run is compared with its cron schedule (muse/schedule.py): an agent
        that missed its slot by more than its grace period is reported late. Exits 1 when any
        check fails (late or failed agent, rejected credential, unreachable service, store down).

        Example: muse health --offline

        Example: muse health --send-test --json
        """
        from muse.errors import UsageError
        from muse.ops.health import run_checks

        if offline and send_test:
            raise UsageError("--send-test sends over the network; it cannot be combined with --offline")
        checks, extra = run_checks(common.settings(), offline=offline, send_test=send_test, timeout=timeout)
        failed = [c for c in checks if c.level == "fail"]
        if as_json:
            print_json({"healthy": not failed, "checks": [vars(c) for c in checks], **extra})
        else:
            print_table(["check", "status", "detail"], [(c.name, c.level, c.detail) for c in checks])
            if extra["metrics"]:
                recent = sorted(extra["metrics"].items(), key=lambda kv: kv[1]["ts"], reverse=True)[:10]
                print_table(
                    ["metric", "last value", "at"],
                    [(k, v["value"], v["ts"]) for k, v in recent],
                    title="last metrics (local record)",
                )
            echo(f"{len(failed)} check(s) failing: {', '.join(c.name for c in failed)}" if failed else "healthy")
        if failed:
            raise typer.Exit(1)
