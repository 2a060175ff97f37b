"""`muse db`: schema migrations."""

from typing import Annotated

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, print_table

app = typer.Typer(help="Schema migrations of the ClickHouse store.\n\nExample: muse db migrate", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("migrate")
def migrate_cmd(as_json: JsonOpt = False) -> None:
    """Apply pending migrations (idempotent: a second run changes nothing).

    Example: muse db migrate
    """
    from muse import migrations
    from muse.store import open_store

    s = common.settings()
    with open_store(s, on_wait=common.on_wait) as store:
        done = migrations.migrate(store, cluster=s["store.cluster"])
    if as_json:
        print_json({"applied": [f"{m.version:03d}_{m.name}" for m in done]})
    elif done:
        for m in done:
            echo(f"applied {m.version:03d}_{m.name}")
    else:
        echo("schema is current; nothing to apply")


@app.command("status")
def status_cmd(as_json: JsonOpt = False) -> None:
    """Show applied and pending migrations.

    Example: muse db status --json
    """
    from muse import migrations
    from muse.store import open_store

    s = common.settings()
    with open_store(s, on_wait=common.on_wait) as store:
        rows = migrations.status(store, cluster=s["store.cluster"])
    pending = [r for r in rows if not r.applied]
    if as_json:
        print_json({"current": not pending, "migrations": [
            {"version": r.migration.version, "name": r.migration.name, "applied": r.applied,
             "applied_at": r.applied_at, "checksum_matches": r.checksum_matches} for r in rows]})
    else:
        print_table(["version", "name", "state", "applied_at", "note"],
                    [(f"{r.migration.version:03d}", r.migration.name, "applied" if r.applied else "PENDING",
                      r.applied_at or "", "" if r.checksum_matches else "file changed since applied")
                     for r in rows])
        echo(f"{len(pending)} pending; run `muse db migrate`" if pending else "schema is current")
    if pending:
        raise typer.Exit(1)
