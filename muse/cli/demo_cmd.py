"""`muse demo`: the whole pipeline on generated data, from nothing, in one command."""

from typing import Annotated

import typer

from muse.cli import common
from muse.cli.output import echo


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        days: Annotated[
            int, typer.Option("--days", min=1, max=60, help="Days of history when the demo is first created.")
        ] = 14,
    ) -> None:
        """Generate demo repos and telemetry under <state dir>/demo and run the pipeline on them.

        Safe to re-run: it appends only the hours and commits that are missing up to the
        current hour, never duplicates data, and refuses a store holding data it did not load.
        It writes <state dir>/demo/muse.yaml, which muse reads when you have no config of
        your own, so the other commands then work on the demo's store and repos.

        Example: muse demo

        Example: muse --state-dir /tmp/muse-demo demo
        """
        from muse.demo.runner import run_demo

        result = run_demo(common.settings(), echo, days=days)
        common.exit_with(result.exit_code)
