"""`muse db`: schema migrations and store maintenance."""

from typing import Annotated, Any

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, print_kv, print_table

app = typer.Typer(
    help="Schema migrations and maintenance of the ClickHouse store.\n\nExample: muse db migrate", no_args_is_help=True
)

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
        done = migrations.migrate(store, cluster=s.store.cluster)
        store.maintain(wait=0)  # gives new tables the embedded store's cleanup settings
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
        rows = migrations.status(store, cluster=s.store.cluster)
    pending = [r for r in rows if not r.applied]
    if as_json:
        print_json(
            {
                "current": not pending,
                "migrations": [
                    {
                        "version": r.migration.version,
                        "name": r.migration.name,
                        "applied": r.applied,
                        "applied_at": r.applied_at,
                        "checksum_matches": r.checksum_matches,
                    }
                    for r in rows
                ],
            }
        )
    else:
        print_table(
            ["version", "name", "state", "applied_at", "note"],
            [
                (
                    f"{r.migration.version:03d}",
                    r.migration.name,
                    "applied" if r.applied else "PENDING",
                    r.applied_at or "",
                    "" if r.checksum_matches else "file changed since applied",
                )
                for r in rows
            ],
        )
        echo(f"{len(pending)} pending; run `muse db migrate`" if pending else "schema is current")
    if pending:
        raise typer.Exit(1)


@app.command("maintain")
def maintain_cmd(
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to wait for ClickHouse to remove replaced parts.")
    ] = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Remove the embedded store's replaced parts now (cron-safe; agents do a bounded share of it).

    Every run already waits briefly at its end when replaced parts pile up
    (store.cleanup_wait_seconds); this waits longer and reports the store's size. A
    ClickHouse server removes replaced parts itself: there is nothing to do.

    Example: muse db maintain --json
    """
    from muse.store import open_store

    s = common.settings()
    with open_store(s, on_wait=common.on_wait) as store:
        before = store.parts() if hasattr(store, "parts") else None
        after = store.maintain(wait=wait, force=True)
    if after is None or before is None:
        doc: dict[str, Any] = {
            "backend": "server",
            "message": "a ClickHouse server removes replaced parts itself; nothing to do",
        }
        print_json(doc) if as_json else echo(doc["message"])
        return
    from muse.fsutil import disk_usage

    size, files = disk_usage(s.embedded_store_path)
    doc = {
        "active_parts": after.active_parts,
        "active_bytes": after.active_bytes,
        "outdated_parts_before": before.outdated_parts,
        "outdated_bytes_before": before.outdated_bytes,
        "outdated_parts": after.outdated_parts,
        "outdated_bytes": after.outdated_bytes,
        "tables_configured": after.tables_configured,
        "waited_s": round(after.waited_s, 2),
        "store_files": files,
        "store_bytes": size,
    }
    if as_json:
        print_json(doc)
    else:
        print_kv(list(doc.items()), title="embedded store")
    if after.outdated_parts:
        echo(f"{after.outdated_parts} replaced part(s) still on disk after {wait:g}s; the next run removes them")
