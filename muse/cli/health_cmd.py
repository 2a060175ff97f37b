"""`muse health`: is everything muse needs in place?"""

from __future__ import annotations

from typing import Annotated

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, print_table


def register(app: typer.Typer) -> None:
    @app.command("health")
    def health_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
        """Check the store, the schema, the state dir, integrations and each agent's last run.

        Exits 1 when any check fails.

        Example: muse health --json
        """
        from muse.health import run_checks

        checks, extra = run_checks(common.settings())
        failed = [c for c in checks if c.level == "fail"]
        if as_json:
            print_json({"healthy": not failed, "checks": [vars(c) for c in checks], **extra})
        else:
            print_table(["check", "status", "detail"], [(c.name, c.level, c.detail) for c in checks])
            if extra["metrics"]:
                recent = sorted(extra["metrics"].items(), key=lambda kv: kv[1]["ts"], reverse=True)[:10]
                print_table(["metric", "last value", "at"], [(k, v["value"], v["ts"]) for k, v in recent],
                            title="last metrics (local record)")
            echo(f"{len(failed)} check(s) failing" if failed else "healthy")
        if failed:
            raise typer.Exit(1)
