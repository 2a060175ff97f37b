"""`muse demo`: the whole pipeline on generated data, from nothing, in one command."""

import typer

from muse.cli import common
from muse.cli.output import echo, print_table


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd() -> None:
        """Create the embedded store, migrate it, and show health (grows with each agent).

        Example: muse demo
        """
        from muse import migrations
        from muse.health import run_checks
        from muse.store import open_store

        s = common.settings()
        with open_store(s, on_wait=common.on_wait) as store:
            done = migrations.migrate(store, cluster=s["store.cluster"])
            echo(f"store: {store.describe()} ({len(done)} migration(s) applied)")
        checks, _ = run_checks(s)
        print_table(["check", "status", "detail"], [(c.name, c.level, c.detail) for c in checks])
